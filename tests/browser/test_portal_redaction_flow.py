"""Sharing with bystanders' faces redacted, in a real browser (Playwright + Debian chromium) against a live
server (issue 17's must-show):

an owner answers a request with a real clip (the first 1.5 s of the shared Hamilton clip, cut by the test):
"faces redacted" is preselected, the owner watches the redacted clip in the page, then shares it; the
investigator downloads the redacted copy (its SHA-256 is the copy's, not the original's) and sees both
digests and the copy's record; the original is served to the agency on no URL; the public transparency
report counts the redacted share and another owner's share as recorded.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from browser.conftest import sign_in
from clip_cuts import cut
from glasshouse.bench.live_server import LiveServer, live_server
from glasshouse.config import Settings
from glasshouse.services import Services
from web_support import PASSWORD, SETUP

HERE = (43.2557, -79.8711)
CASE = "HPS-2026-0417"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path) -> Iterator[tuple[LiveServer, str]]:
    """A live server with a verified police agency (an investigator and an organisation key)."""
    data = tmp_path_factory.mktemp("redaction-browser") / "var"
    svc = Services(Settings(data_dir=data, model_cache_dir=model_cache_dir))
    police = svc.organisations.create(SETUP, "hamilton-police", sector="law_enforcement")
    svc.organisations.update(SETUP, police.name, verified=True, reason="checked by the operator (test)")
    svc.people.create(SETUP, police, "ida@police.example", "Ida Investigator", PASSWORD, ["investigator"])
    key = svc.keys.create(police.id)
    svc.close()
    with live_server(data, model_cache_dir, throttle_rate="0", map_tile_url="") as server:
        yield server, f"Bearer {key.access_key_id}:{key.secret}"


def owner_with_clip(api: httpx.Client, name: str, clip: bytes, started: datetime) -> tuple[str, str]:
    """An owner (signed up through the API) with a camera at HERE and one clip: (session header, clip id)."""
    email = f"{name}@home.example"
    assert (
        api.post("/v1/portal/signup", json={"email": email, "name": name, "password": PASSWORD}).status_code
        == 201
    )
    token = api.post("/v1/portal/session", json={"email": email, "password": PASSWORD}).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    camera = api.post(
        "/v1/portal/cameras",
        json={"name": "Porch camera", "latitude": HERE[0], "longitude": HERE[1]},
        headers=auth,
    ).json()["id"]
    r = api.post(
        "/v1/portal/clips",
        params={"camera_id": camera, "started_at": started.isoformat(), "filename": "porch.mp4"},
        content=clip,
        headers={**auth, "Content-Type": "video/mp4"},
    )
    assert r.status_code == 201, r.text
    return auth["Authorization"], r.json()["id"]


def test_owner_shares_a_clip_redacted_and_the_agency_never_gets_the_original(
    site: tuple[LiveServer, str], page_factory: Any, shared_data: Path, screenshot: Any, tmp_path: Path
) -> None:
    server, agency_key = site
    now = datetime.now(UTC)
    clip_file = cut(shared_data / "video/hamilton/short_hamilton_clip.mp4", tmp_path / "door.mp4", 1.5)
    original = clip_file.read_bytes()
    original_sha = hashlib.sha256(original).hexdigest()
    api = httpx.Client(base_url=server.url, timeout=120)
    _, clip_id = owner_with_clip(api, "olu", original, now - timedelta(hours=2))
    other_owner, other_clip = owner_with_clip(api, "bea", original, now - timedelta(hours=2))
    request = api.post(
        "/v1/portal/requests",
        headers={"Authorization": agency_key},
        json={
            "incident_type": "burglary",
            "case_number": CASE,
            "description": "Parcels taken from porches; the suspect wore a red hoodie.",
            "contact": "Detective Ida, 555-0100",
            "area": {"type": "circle", "center": list(HERE), "radius_m": 300.0},
            "window_start": (now - timedelta(hours=3)).isoformat(),
            "window_end": (now - timedelta(hours=1)).isoformat(),
            "respond_by": (now + timedelta(days=7)).isoformat(),
            "purpose": "criminal_investigation",
        },
    )
    assert request.status_code == 201, request.text
    request_id = request.json()["id"]
    # The other owner shares as recorded (through the API): the report counts both kinds.
    r = api.post(
        f"/v1/portal/inbox/{request_id}/share",
        json={"clip_ids": [other_clip]},
        headers={"Authorization": other_owner},
    )
    assert r.status_code == 200, r.text

    # -- the owner: "faces redacted" is the default offered; the redacted clip is shown before sharing ---------
    owner = page_factory()
    sign_in(owner, server, "olu@home.example")
    owner.goto(server.url + "/ui/portal/inbox")
    item = owner.locator(f"article[aria-labelledby='inbox-{request_id}']")
    assert item.get_by_label("faces redacted (you see it first)").is_checked()
    assert not item.get_by_label("as recorded").is_checked()
    item.get_by_role("button", name="Continue").click()
    owner.wait_for_selector("video.preview-video", timeout=120_000)
    assert "Nothing is shared yet" in owner.locator("main").inner_text()
    copy_sha = owner.locator("code.copy-sha256").inner_text().strip()
    assert owner.locator("code.source-sha256").inner_text().strip() == original_sha != copy_sha
    # The page's player loads the redacted clip (the owner can play it).
    owner.wait_for_function("document.querySelector('video.preview-video').readyState >= 1", timeout=30_000)
    duration = owner.evaluate("document.querySelector('video.preview-video').duration")
    assert 1.0 < duration < 2.5, duration
    screenshot(owner, "portal-redacted-preview")
    owner.get_by_role("button", name="Share the redacted clips").click()
    owner.wait_for_url(re.compile(r".*/ui/portal/inbox$"))
    assert "Shared: porch.mp4" in owner.locator(f"article[aria-labelledby='inbox-{request_id}']").inner_text()

    # -- the investigator downloads the redacted copy -----------------------------------------------------------
    officer = page_factory()
    sign_in(officer, server, "ida@police.example")
    request_url = f"{server.url}/ui/portal/requests/{request_id}"
    officer.goto(request_url)
    row = officer.locator(f"#shared-{clip_id}")
    text = row.inner_text()
    assert "faces redacted" in text and original_sha in text and copy_sha in text
    row.locator("details.copy-record summary").click()
    assert "CenterFace" in row.locator(".copy-engine").inner_text()
    screenshot(officer, "portal-redacted-received")
    with officer.expect_download() as info:
        row.get_by_role("link", name=re.compile(r"^Download [0-9a-f-]{36}-redacted\.mp4$")).click()
    saved = tmp_path / "downloaded.mp4"
    info.value.save_as(saved)
    received = hashlib.sha256(saved.read_bytes()).hexdigest()
    assert received == copy_sha != original_sha

    # -- the original is served to the agency on no URL --------------------------------------------------------
    agency_urls = [
        f"/ui/portal/requests/{request_id}/clips/{clip_id}/download",  # the copy, again
        f"/ui/portal/clips/{clip_id}/video",  # the owner's player
        f"/v1/portal/clips/{clip_id}",  # the owner's API
        f"/v1/portal/requests/{request_id}/clips/{clip_id}/download",  # with the officer's session cookies
        f"/v1/media/portal/{clip_id}",  # the media store under the residents' name
    ]
    for path in agency_urls:
        response = officer.request.get(server.url + path, max_redirects=0)
        assert hashlib.sha256(response.body()).hexdigest() != original_sha, path
        assert response.status in (200, 302, 303, 401, 403, 404), (path, response.status)
    keyed = {"Authorization": agency_key}
    got = api.get(f"/v1/portal/requests/{request_id}/clips/{clip_id}/download", headers=keyed)
    assert (
        got.status_code == 200
        and hashlib.sha256(got.content).hexdigest() == copy_sha == got.headers["x-sha256"]
    )
    assert api.get(f"/v1/media/portal/{clip_id}", headers=keyed).status_code == 404
    assert api.get(f"/v1/portal/clips/{clip_id}", headers=keyed).status_code == 401

    # -- the public transparency report counts both kinds of share ---------------------------------------------
    public = page_factory()
    public.goto(server.url + "/transparency")
    assert public.locator("#total-redacted-shares").inner_text().strip() == "1"
    assert public.locator("#total-unredacted-shares").inner_text().strip() == "1"
    screenshot(public, "transparency-redacted-shares")
