"""Real browser flows (Playwright + Debian chromium) against a live server:

- an operator signs in, lifts and re-imposes the moratorium; a law-enforcement investigator's console
  search is refused, then allowed (under obligations), then refused again;
- a reviewer confirms a lead produced by another person and is never offered their own;
- the public transparency page shows the denial counts without signing in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser.conftest import sign_in
from glasshouse.bench.live_server import LiveServer, live_server
from glasshouse.config import Settings
from glasshouse.governance.actor import Actor
from glasshouse.governance.gate import RequestContext
from glasshouse.governance.policy import Capability
from glasshouse.services import Services
from web_support import PASSWORD, SETUP

MORATORIUM = "police-moratorium-2020"


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path, shared_data: Path
) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("browser") / "var"
    svc = Services(Settings(data_dir=data, model_cache_dir=model_cache_dir))
    ops = svc.organisations.create(SETUP, "operators", sector="other_government", is_operator=True)
    police = svc.organisations.create(SETUP, "metro-police", sector="law_enforcement")
    icac = svc.organisations.create(SETUP, "icac-unit", sector="law_enforcement", flags=["child_protection"])
    people = [
        (ops, "olive@ops.example", "Olive Operator", ["operator"]),
        (police, "pat@police.example", "Pat Investigator", ["investigator"]),
        (icac, "ivy@icac.example", "Ivy Investigator", ["investigator", "reviewer"]),
        (icac, "rex@icac.example", "Rex Reviewer", ["reviewer"]),
        (icac, "ria@icac.example", "Ria Reviewer", ["reviewer"]),
    ]
    for org, email, name, roles in people:
        svc.people.create(SETUP, org, email, name, PASSWORD, roles)
    photos = shared_data / "face_recognition/examples"
    for org in (police, icac):
        svc.collections.create(org.id, "gallery")
    icac_actor = Actor(org_id=icac.id, org_name=icac.name, surface="cli")
    request = RequestContext(purpose="child_exploitation_investigation", case_number="CASE-7")
    with svc.gate.guard(icac_actor, Capability.FACE_INDEX, request):
        svc.collections.index_image(
            icac.id, "gallery", (photos / "obama.jpg").read_bytes(), external_image_id="person-a"
        )
    svc.close()
    with live_server(data, model_cache_dir, throttle_rate="0") as server:
        yield server


def console_search(page: Any, site: LiveServer, photo: Path, purpose: str, case: str) -> None:
    page.goto(site.url + "/ui/console/")
    form = page.locator("form[action='/ui/console/search']")
    form.get_by_label("Image (its largest face is searched)").set_input_files(str(photo))
    form.get_by_label("Purpose").select_option(purpose)
    form.get_by_label("Case number").fill(case)
    form.get_by_role("button", name="Search", exact=True).click()
    page.wait_for_load_state()


def test_moratorium_lifted_and_reimposed_by_an_operator_changes_what_police_see(
    site: LiveServer, page_factory: Any, shared_data: Path, screenshot: Any
) -> None:
    photo = shared_data / "face_recognition/examples/obama2.jpg"
    officer = page_factory()
    sign_in(officer, site, "pat@police.example")
    console_search(officer, site, photo, "criminal_investigation", "CR-2026-1")
    notice = officer.locator(".denial, .policy-notice").first
    assert MORATORIUM in notice.inner_text() and "until further notice" in notice.inner_text()
    screenshot(officer, "console-moratorium-notice")

    operator = page_factory()
    sign_in(operator, site, "olive@ops.example")
    operator.goto(site.url + "/ui/operator/policy")
    screenshot(operator, "operator-policy")
    lift = operator.locator(f"form[action='/ui/operator/policy/rules/{MORATORIUM}/lift']")
    lift.get_by_label("Reason").fill("Council resolution 2026-14 (test)")
    lift.get_by_role("button", name="Lift the moratorium").click()
    operator.wait_for_load_state()
    assert "version" in operator.content().lower()

    console_search(officer, site, photo, "criminal_investigation", "CR-2026-1")
    assert MORATORIUM not in officer.locator("main").inner_text()
    assert officer.locator("img").count() >= 1  # the image with boxes drawn
    screenshot(officer, "console-search-allowed")

    operator.goto(site.url + "/ui/operator/policy")
    again = operator.locator(f"form[action='/ui/operator/policy/rules/{MORATORIUM}/reimpose']")
    again.get_by_label("Reason").fill("Audit findings (test)")
    again.get_by_role("button", name="Re-impose the moratorium").click()
    operator.wait_for_load_state()

    console_search(officer, site, photo, "criminal_investigation", "CR-2026-1")
    assert MORATORIUM in officer.locator(".denial, .policy-notice").first.inner_text()


def test_reviewer_confirms_a_lead_by_another_person_never_their_own(
    site: LiveServer, page_factory: Any, shared_data: Path, screenshot: Any
) -> None:
    photo = shared_data / "face_recognition/examples/obama.jpg"
    ivy = page_factory()
    sign_in(ivy, site, "ivy@icac.example")
    console_search(ivy, site, photo, "child_exploitation_investigation", "CASE-7")
    assert "pending review" in ivy.locator("main").inner_text().lower()
    screenshot(ivy, "console-lead-pending")
    ivy.goto(site.url + "/ui/review/")
    assert ivy.locator("form textarea[name='reason']").count() == 0  # her own search is not offered to her
    assert "CASE-7" not in ivy.locator("main").inner_text()

    for email in ("rex@icac.example", "ria@icac.example"):
        reviewer = page_factory()
        sign_in(reviewer, site, email)
        reviewer.goto(site.url + "/ui/review/")
        assert "CASE-7" in reviewer.locator("main").inner_text()
        screenshot(reviewer, f"review-queue-{email.split('@')[0]}")
        reviewer.locator("textarea[name='reason']").first.fill(f"Same ear shape and scar ({email})")
        reviewer.get_by_role("button", name=re.compile(r"^Confirm candidate")).first.click()
        reviewer.wait_for_load_state()
    rex = page_factory()
    sign_in(rex, site, "rex@icac.example")
    rex.goto(site.url + "/ui/review/")
    assert "CASE-7" not in rex.locator("main").inner_text()  # done: nothing left for him


def test_public_transparency_page_shows_denials_without_signing_in(
    site: LiveServer, page_factory: Any, screenshot: Any
) -> None:
    page = page_factory()
    page.goto(site.url + "/transparency")
    text = page.locator("main").inner_text()
    assert "Transparency report" in text
    match = re.search(rf"Denied by rule {MORATORIUM}: (\d+)", text)
    assert match and int(match.group(1)) >= 2, text
    assert page.get_by_role("link", name="Sign in").count() == 1  # nobody is signed in
    screenshot(page, "transparency")
