"""Playwright driving Debian's chromium (installed by `make test`), against a live server. Screenshots of
the main pages are kept under test-artifacts/screenshots/ (not committed)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from glasshouse.bench.live_server import LiveServer
from web_support import PASSWORD

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        pytest.skip("Debian's chromium is not installed (`make test` installs it: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page_factory(chromium: Any) -> Iterator[Any]:
    """New isolated browser contexts (one per person, optionally in a time zone), closed after the test."""
    contexts: list[Any] = []

    def new_page(timezone_id: str | None = None) -> Any:
        context = chromium.new_context(viewport={"width": 1280, "height": 900}, timezone_id=timezone_id)
        contexts.append(context)
        return context.new_page()

    yield new_page
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot() -> Any:
    """``screenshot(page, name)`` keeps a full-page PNG as a test artefact."""

    def take(page: Any, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    return take


def sign_in(page: Any, site: LiveServer, email: str) -> None:
    """Sign ``email`` in through the login form (every test person's password is ``PASSWORD``)."""
    page.goto(site.url + "/ui/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/ui/.*"))
