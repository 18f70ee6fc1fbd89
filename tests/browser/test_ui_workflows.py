"""Workflows finished in the browser without the CLI or the API (Playwright + Debian chromium, live server):
an investigator uploads a video from the video page (streamed, with a progress bar) and starts a face detection
job on it; creates a collection and enrols several images from the collections page."""

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


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("ui-workflows") / "var"
    svc = Services(Settings(data_dir=data, model_cache_dir=model_cache_dir))
    studio = svc.organisations.create(SETUP, "studio", sector="commercial")
    svc.people.create(SETUP, studio, "inv@studio.example", "Ines Investigator", PASSWORD, ["investigator"])
    svc.close()
    with live_server(data, model_cache_dir, throttle_rate="0") as server:
        yield server


def test_upload_a_video_and_start_a_job_from_the_page(
    site: LiveServer, page_factory: Any, shared_data: Path, screenshot: Any
) -> None:
    page = page_factory()
    sign_in(page, site, "inv@studio.example")
    page.goto(site.url + "/ui/video/")
    assert "no stored video yet: upload one above" in page.locator("main").inner_text()
    page.get_by_label(re.compile("^Video file")).set_input_files(
        str(shared_data / "video/hamilton/short_hamilton_clip.mp4")
    )
    page.get_by_label(re.compile("^Name")).fill("hamilton.mp4")
    with page.expect_request(lambda r: r.method == "PUT" and "/ui/video/uploads/hamilton.mp4" in r.url):
        page.get_by_role("button", name="Upload").click()
    page.wait_for_url(re.compile(r".*/ui/video/\?uploaded=hamilton\.mp4$"))
    assert "Stored hamilton.mp4." in page.locator(".flash.notice").inner_text()
    screenshot(page, "video-uploaded")

    page.get_by_label("Purpose").last.select_option("research_evaluation")
    page.get_by_role("button", name="Start face detection").click()
    page.wait_for_url(re.compile(r".*/ui/video/jobs/[0-9a-f-]+$"))
    page.get_by_text("SUCCEEDED").first.wait_for(timeout=120_000)  # the job page refreshes itself


def test_create_a_collection_and_enrol_several_images(
    site: LiveServer, page_factory: Any, shared_data: Path, screenshot: Any
) -> None:
    page = page_factory()
    sign_in(page, site, "inv@studio.example")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Collections").click()
    page.get_by_label(re.compile("^Name")).fill("cast")
    page.get_by_role("button", name="Create collection").click()
    page.wait_for_url(re.compile(r".*/ui/collections/cast\?done=.*"))
    examples = shared_data / "face_recognition/examples"
    page.get_by_label(re.compile("^Images")).set_input_files(
        [str(examples / "biden.jpg"), str(examples / "obama.jpg")]
    )
    page.get_by_role("button", name="Enrol", exact=True).click()
    page.wait_for_load_state()
    report = page.locator("tr.enrol-report")
    assert report.count() == 2
    assert "biden" in report.nth(0).inner_text() and "obama" in report.nth(1).inner_text()
    page.goto(site.url + "/ui/collections/cast")
    assert page.locator('input[name="face_id"]').count() == 2
    screenshot(page, "collection-enrolled")
