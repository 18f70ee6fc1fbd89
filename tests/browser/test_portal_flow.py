"""The community camera portal in a real browser (Playwright + Debian chromium) against a live server, with
no map tiles configured (the maps still draw areas and cameras):

an owner signs up, places a camera by clicking the map and uploads the real Hamilton clip with its start time;
an investigator of a verified police agency draws a polygon around the camera with clicks on the Leaflet map
and files a request; the owner finds it in the inbox and shares the clip; the investigator downloads the clip,
whose SHA-256 equals the original file's; the public feed, without signing in, shows the request and that one
owner shared.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from browser.conftest import sign_in
from glasshouse.bench.live_server import LiveServer, live_server
from glasshouse.config import Settings
from glasshouse.services import Services
from web_support import PASSWORD, SETUP

CLIP = "video/hamilton/short_hamilton_clip.mp4"
#: Where the owner's camera goes (the map is centred here through the page's ?lat=&lon=).
HERE = (43.2557, -79.8711)
CASE = "HPS-2026-0415"
#: The people's browsers run in Hamilton's time zone: forms and pages speak local time, storage is UTC.
ZONE = "America/Toronto"


@pytest.fixture(scope="module")
def portal_site(tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("portal-browser") / "var"
    svc = Services(Settings(data_dir=data, model_cache_dir=model_cache_dir))
    police = svc.organisations.create(SETUP, "hamilton-police", sector="law_enforcement")
    svc.organisations.update(SETUP, police.name, verified=True, reason="checked by the operator (test)")
    svc.people.create(SETUP, police, "ida@police.example", "Ida Investigator", PASSWORD, ["investigator"])
    svc.close()
    with live_server(data, model_cache_dir, throttle_rate="0", map_tile_url="") as server:
        yield server


def map_ready(page: Any, selector: str) -> Any:
    """The Leaflet map element, once Leaflet has taken it over."""
    page.wait_for_selector(f"{selector}.leaflet-container")
    return page.locator(selector)


def local(moment: datetime) -> str:
    """A ``datetime-local`` value in the browsers' time zone (the forms read it in the browser's zone)."""
    return moment.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%dT%H:%M")


def test_owner_shares_a_clip_with_a_verified_agency_and_the_public_sees_the_count(
    portal_site: LiveServer, page_factory: Any, shared_data: Path, screenshot: Any, tmp_path: Path
) -> None:
    site, now = portal_site, datetime.now(UTC)
    original = shared_data / CLIP
    original_sha = hashlib.sha256(original.read_bytes()).hexdigest()

    # -- the owner signs up, places a camera with a click on the map, uploads the clip ---------------------
    owner = page_factory(timezone_id=ZONE)
    owner.goto(site.url + "/ui/portal/signup")
    owner.get_by_label("Name").fill("Olu Owner")
    owner.get_by_label("Email").fill("olu@home.example")
    owner.get_by_label("Password").fill(PASSWORD)
    owner.get_by_role("button", name="Sign up").click()
    owner.wait_for_url(re.compile(r".*/ui/portal/cameras$"))
    owner.goto(site.url + f"/ui/portal/cameras?lat={HERE[0]}&lon={HERE[1]}")
    picker = map_ready(owner, "#camera-picker")
    owner.get_by_label("Name").fill("Porch camera")
    picker.click()  # the centre of the map: HERE
    lat, lon = (
        float(owner.get_by_label("Latitude").input_value()),
        float(owner.get_by_label("Longitude").input_value()),
    )
    assert abs(lat - HERE[0]) < 1e-4 and abs(lon - HERE[1]) < 1e-4, (lat, lon)
    assert owner.locator("#camera-picker path.leaflet-interactive").count() == 1  # the placed marker
    owner.get_by_label("What it sees").fill("The porch and the pavement")
    owner.get_by_role("button", name="Register camera").click()
    owner.wait_for_load_state()
    assert "Porch camera" in owner.locator("main table").inner_text()
    map_ready(owner, "#cameras-map")
    screenshot(owner, "portal-owner-cameras")

    owner.goto(site.url + "/ui/portal/clips")
    owner.get_by_label("Video file").set_input_files(str(original))
    assert owner.locator("[data-tz-name]").first.inner_text() == ZONE
    started = (now - timedelta(hours=2)).replace(second=0, microsecond=0)
    owner.get_by_label(re.compile("Recording started")).fill(local(started))
    owner.get_by_role("button", name="Upload clip").click()
    owner.wait_for_load_state()
    notice = owner.locator(".flash.notice").inner_text()
    assert original_sha in notice, notice
    # Stored in UTC (the <time> element's datetime), shown in the owner's zone (EST or EDT).
    recorded = owner.locator("time[data-local]").first
    assert recorded.get_attribute("datetime") == started.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert re.search(r"E[SD]T|GMT-[45]", recorded.inner_text()), recorded.inner_text()
    assert owner.locator("video").count() == 1

    # -- the investigator draws a polygon around the camera and files a request ----------------------------
    officer = page_factory(timezone_id=ZONE)
    sign_in(officer, site, "ida@police.example")
    officer.goto(site.url + f"/ui/portal/requests/new?lat={lat}&lon={lon}&zoom=16")
    area_map = map_ready(officer, "#area-map")
    officer.get_by_label("Polygon: click the map once per corner").check()
    box = area_map.bounding_box()
    cx, cy = box["width"] / 2, box["height"] / 2
    for dx, dy in ((-120, -120), (120, -120), (120, 120), (-120, 120)):
        area_map.click(position={"x": cx + dx, "y": cy + dy})
    readout = officer.locator("#area-readout").inner_text()
    assert re.search(r"Area drawn: 0\.0[5-9]\d sq mi \(4 points\)", readout), readout
    drawn = officer.locator("#req-area").input_value()
    assert '"type":"polygon"' in drawn and drawn.count("[") == 5, drawn  # the hidden field carries it
    officer.get_by_label("Incident type").select_option("burglary")
    officer.get_by_label("Purpose").select_option("criminal_investigation")
    officer.get_by_label("Case number").fill(CASE)
    officer.get_by_label("Description").fill("Parcels taken from porches; the suspect wore a red hoodie.")
    officer.get_by_label("Contact for owners").fill("Detective Ida, 555-0100")
    officer.get_by_label("Window start").fill(local(now - timedelta(hours=3)))
    officer.get_by_label("Window end").fill(local(now - timedelta(hours=1)))
    officer.get_by_label("Respond by").fill(local(now + timedelta(days=7)))
    screenshot(officer, "portal-new-request")
    officer.get_by_role("button", name="File request").click()
    officer.wait_for_url(re.compile(r".*/ui/portal/requests/[0-9a-f-]+$"))
    request_url = officer.url
    request_id = request_url.rsplit("/", 1)[1]
    assert CASE in officer.locator("h1").inner_text()
    assert "No owner has shared a clip yet" in officer.locator("main").inner_text()

    # -- the owner sees it in the inbox and shares the clip -------------------------------------------------
    owner.goto(site.url + "/ui/portal/inbox")
    item = owner.locator(f"article[aria-labelledby='inbox-{request_id}']")
    assert CASE in item.inner_text() and "hamilton-police" in item.inner_text()
    map_ready(owner, f"#inbox-map-{request_id}")
    assert owner.locator(f"#inbox-map-{request_id} path.leaflet-interactive").count() == 2  # area + camera
    screenshot(owner, "portal-owner-inbox")
    item.get_by_label(re.compile(r"short_hamilton_clip\.mp4")).check()
    assert item.get_by_label("faces redacted (you see it first)").is_checked()  # the default offered
    item.get_by_label("as recorded").check()  # this owner shares the clip as recorded
    item.get_by_role("button", name="Continue").click()
    owner.wait_for_load_state()
    assert (
        "Shared: short_hamilton_clip.mp4"
        in owner.locator(f"article[aria-labelledby='inbox-{request_id}']").inner_text()
    )

    # -- the investigator downloads it: same bytes as the original ------------------------------------------
    officer.goto(request_url)
    received = officer.locator("table.shared-clips").inner_text()
    assert original_sha in received and "shared by the owner" in received
    # Only what the owner chose to share: neither the camera's name nor the owner's file name.
    assert "Porch camera" not in officer.content() and "short_hamilton_clip" not in officer.content()
    with officer.expect_download() as info:
        officer.get_by_role("link", name=re.compile(r"^Download [0-9a-f-]{36}\.mp4$")).click()
    assert re.fullmatch(r"[0-9a-f-]{36}\.mp4", info.value.suggested_filename)
    saved = tmp_path / "downloaded.mp4"
    info.value.save_as(saved)
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == original_sha
    screenshot(officer, "portal-request-received")

    # -- the public feed, signed out: the request and how many owners shared --------------------------------
    public = page_factory()
    public.goto(site.url + "/portal")
    assert public.get_by_role("link", name="Sign in").count() == 1
    article = public.locator(f"article[aria-labelledby='req-{request_id}']")
    assert "Burglary" in article.inner_text() and "hamilton-police" in article.inner_text()
    assert article.locator(".share-count").inner_text().strip() == "1"
    assert "Olu" not in public.locator("main").inner_text()  # never who shared
    map_ready(public, f"#map-{request_id}")
    assert public.locator(f"#map-{request_id} path.leaflet-interactive").count() == 1  # the area, no cameras
    screenshot(public, "portal-public-feed")
    public.goto(site.url + "/portal/agencies/hamilton-police")
    assert (
        public.locator(f"article[aria-labelledby='req-{request_id}'] .share-count").inner_text().strip()
        == "1"
    )
