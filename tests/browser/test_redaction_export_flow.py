"""A release export in a real browser (Playwright + Debian chromium) against a live server: an investigator
picks a stored clip (the first second of the shared Hamilton clip), solid boxes, leaves person 0 visible with
the reason why, follows the export until it is done, reads the copy's chain-of-custody record and downloads
the copy, whose SHA-256 is the record's (not the original's)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
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


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path) -> Iterator[tuple[LiveServer, str]]:
    data = tmp_path_factory.mktemp("export-browser") / "var"
    svc = Services(Settings(data_dir=data, model_cache_dir=model_cache_dir))
    city = svc.organisations.create(SETUP, "city-records", sector="other_government")
    svc.people.create(SETUP, city, "rui@city.example", "Rui Records", PASSWORD, ["investigator"])
    key = svc.keys.create(city.id)
    svc.close()
    with live_server(data, model_cache_dir, throttle_rate="0", map_tile_url="") as server:
        yield server, f"Bearer {key.access_key_id}:{key.secret}"


def test_an_investigator_exports_a_clip_redacted_and_downloads_it(
    site: tuple[LiveServer, str], page_factory: Any, shared_data: Path, screenshot: Any, tmp_path: Path
) -> None:
    server, key = site
    original = cut(
        shared_data / "video/hamilton/short_hamilton_clip.mp4", tmp_path / "door.mp4", 1.0
    ).read_bytes()
    put = httpx.put(f"{server.url}/v1/media/cams/door.mp4", content=original, headers={"Authorization": key})
    assert put.status_code == 200, put.text

    page = page_factory()
    sign_in(page, server, "rui@city.example")
    page.goto(server.url + "/ui/redaction/")
    page.get_by_label("Video", exact=True).select_option("cams/door.mp4")
    page.get_by_label("Solid box").check()
    page.get_by_label("Persons left visible").fill("0")
    page.get_by_label("Why they are left visible").fill("The man at the door: a public appeal to name him.")
    page.get_by_role("button", name="Start the export").click()
    page.wait_for_url(re.compile(r".*/ui/redaction/jobs/.+"))
    page.get_by_role("link", name="The redacted copy and its record").wait_for(
        timeout=180_000
    )  # page refreshes
    screenshot(page, "redaction-export-done")
    page.get_by_role("link", name="The redacted copy and its record").click()
    page.wait_for_url(re.compile(r".*/ui/redaction/copies/.+"))
    copy_sha = page.locator("code.sha256.copy").inner_text().strip()
    assert page.locator("code.sha256.original").inner_text().strip() == hashlib.sha256(original).hexdigest()
    assert page.locator("dd.kept").inner_text().strip() == "0"
    assert "public appeal" in page.locator("dd.reason").inner_text()
    screenshot(page, "redaction-copy-record")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the redacted copy").click()
    body = Path(info.value.path()).read_bytes()
    assert hashlib.sha256(body).hexdigest() == copy_sha != hashlib.sha256(original).hexdigest()
