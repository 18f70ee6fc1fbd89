"""Human review a reviewer can do, in the browser (Playwright + Debian chromium, live server): an investigator
creates a collection that keeps enrolled faces' crops (with a reason), enrols a face and searches; the reviewer
sees the probe and the candidate side by side. A collection without the opt-in says plainly that no enrolled
image is kept. The crop's URL is refused to another organisation and once the face is deleted."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser.conftest import sign_in
from glasshouse.bench.live_server import LiveServer, live_server
from glasshouse.config import Settings
from glasshouse.services import Services
from web_support import PASSWORD, SETUP

PURPOSE = "child_exploitation_investigation"
CASE = "CASE-2026-31"
NO_CROPS = "No enrolled image is kept for this collection"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("review-crops") / "var"
    svc = Services(Settings(data_dir=data, model_cache_dir=model_cache_dir))
    icac = svc.organisations.create(SETUP, "icac-unit", sector="law_enforcement", flags=["child_protection"])
    other = svc.organisations.create(
        SETUP, "other-unit", sector="law_enforcement", flags=["child_protection"]
    )
    for org, email, name, roles in (
        (icac, "ivy@icac.example", "Ivy Investigator", ["investigator"]),
        (icac, "rex@icac.example", "Rex Reviewer", ["reviewer"]),
        (other, "oz@other.example", "Oz Reviewer", ["reviewer", "org-admin"]),
    ):
        svc.people.create(SETUP, org, email, name, PASSWORD, roles)
    svc.close()
    with live_server(data, model_cache_dir, throttle_rate="0") as server:
        yield server


def _create_collection(page: Any, site: LiveServer, name: str, reason: str | None) -> None:
    page.goto(site.url + "/ui/collections/")
    page.get_by_label(re.compile("^Name")).fill(name)
    if reason is not None:
        page.get_by_label("Keep each enrolled face's crop for reviewers").check()
        page.get_by_label(re.compile("^Reason for keeping crops")).fill(reason)
    page.get_by_role("button", name="Create collection").click()
    page.wait_for_url(re.compile(rf".*/ui/collections/{name}\?done=.*"))


def _enrol(page: Any, photo: Path) -> None:
    page.get_by_label(re.compile("^Images")).set_input_files(str(photo))
    page.get_by_label(re.compile("^ExternalImageId")).fill("person-a")
    form = page.locator("form[action$='/faces']")
    form.get_by_label("Purpose").select_option(PURPOSE)
    form.get_by_label("Case number").fill(CASE)
    page.get_by_role("button", name="Enrol", exact=True).click()
    page.wait_for_load_state()
    assert page.locator("tr.enrol-report").count() == 1


def _search(page: Any, site: LiveServer, collection: str, photo: Path) -> str:
    """A console search that becomes a lead awaiting review; returns the lead page's URL."""
    page.goto(site.url + "/ui/console/")
    form = page.locator("form[action='/ui/console/search']")
    form.get_by_label("Collection").select_option(collection)
    form.get_by_label("Image (its largest face is searched)").set_input_files(str(photo))
    form.get_by_label("Purpose").select_option(PURPOSE)
    form.get_by_label("Case number").fill(CASE)
    form.get_by_label("Similarity threshold (%)").fill("50")
    form.get_by_role("button", name="Search", exact=True).click()
    page.wait_for_load_state()
    link = page.locator("a[href*='/ui/review/leads/']").first
    assert link.count() == 1, page.locator("main").inner_text()
    return site.url + str(link.get_attribute("href"))


def _loaded(img: Any) -> bool:
    return bool(img.evaluate("i => i.complete && i.naturalWidth > 0"))


def test_a_reviewer_compares_the_faces_side_by_side_only_where_crops_are_kept(
    site: LiveServer, page_factory: Any, shared_data: Path, screenshot: Any
) -> None:
    photos = shared_data / "face_recognition/examples"
    ivy = page_factory()
    sign_in(ivy, site, "ivy@icac.example")
    _create_collection(ivy, site, "kept", "Reviewers compare faces before a lead reaches the case team.")
    assert "each enrolled face's crop is kept" in ivy.locator("main").inner_text()
    _enrol(ivy, photos / "obama.jpg")
    _create_collection(ivy, site, "plain", None)
    assert "none kept" in ivy.locator("main").inner_text()
    _enrol(ivy, photos / "obama.jpg")
    kept_lead = _search(ivy, site, "kept", photos / "obama.jpg")  # the policy floor here is 99%
    plain_lead = _search(ivy, site, "plain", photos / "obama.jpg")

    rex = page_factory()
    sign_in(rex, site, "rex@icac.example")
    rex.goto(kept_lead)
    probe = rex.get_by_role("img", name=re.compile("^The searched face"))
    candidate = rex.get_by_role("img", name=re.compile("^Enrolled face of candidate 1"))
    candidate.wait_for()
    assert _loaded(probe) and _loaded(candidate)  # both faces, side by side
    top = [probe.bounding_box()["y"], candidate.bounding_box()["y"]]
    assert abs(top[0] - top[1]) < 2  # on one line
    assert NO_CROPS not in rex.locator("main").inner_text()
    crop_url = site.url + str(candidate.get_attribute("src"))
    fetched = rex.request.get(crop_url)
    assert fetched.status == 200 and fetched.headers["cache-control"] == "no-store"
    screenshot(rex, "review-side-by-side")

    rex.goto(plain_lead)
    main = rex.locator("main").inner_text()
    assert NO_CROPS in main and "compare it against the case file" in main
    assert rex.locator("img[src*='/crop']").count() == 0
    screenshot(rex, "review-no-enrolled-image")

    oz = page_factory()  # another organisation's reviewer and admin
    sign_in(oz, site, "oz@other.example")
    refused = oz.request.get(crop_url)
    assert refused.status == 404 and "person-a" not in refused.text()

    ivy.goto(site.url + "/ui/collections/kept")
    ivy.locator("input[name='face_id']").first.check()
    ivy.get_by_role("button", name="Delete the selected faces").click()
    ivy.wait_for_load_state()
    assert rex.request.get(crop_url).status == 404  # the crop went with the face
    rex.goto(kept_lead)
    assert "No longer enrolled" in rex.locator("main").inner_text()
