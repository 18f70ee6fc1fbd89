"""The public transparency page, measured in the browser (Playwright + Debian chromium, live server) at a
1280 x 800 desktop and a 390 x 844 phone: nothing in the figures table overflows its container, nothing
scrolls the page sideways, chart text is drawn at 12 px or more, and refusals under the camera portal's own
rules are called portal rules."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from clock import ManualClock
from glasshouse.bench.live_server import LiveServer, live_server
from glasshouse.config import Settings
from glasshouse.governance.actor import Actor
from glasshouse.governance.gate import PolicyDenied, RequestContext
from glasshouse.governance.policy import Capability
from glasshouse.portal.rules import RequestRuleError
from glasshouse.portal.views import FootageRequestInput
from glasshouse.services import Services
from web_support import SETUP

VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path) -> Iterator[LiveServer]:
    """Three organisations with long names over two months: allowed calls of several capabilities, the
    moratorium's and the safeguards' denials, and a footage request the portal refused under its rules."""
    data = tmp_path_factory.mktemp("transparency-layout") / "var"
    clock = ManualClock(datetime(2026, 1, 10, tzinfo=UTC), tick=timedelta(seconds=1))
    svc = Services(Settings(data_dir=data, model_cache_dir=model_cache_dir), clock=clock)
    orgs = {
        name: svc.organisations.create(SETUP, name, sector=sector, flags=flags)
        for name, sector, flags in (
            ("metropolitan-police-department-east", "law_enforcement", []),
            ("child-protection-investigations-unit", "law_enforcement", ["child_protection"]),
            ("corner-shop-loss-prevention-services", "commercial", []),
        )
    }

    def actor(name: str) -> Actor:
        return Actor(org_id=orgs[name].id, org_name=name, surface="rest", person="someone")

    police = actor("metropolitan-police-department-east")
    unit = actor("child-protection-investigations-unit")
    shop = actor("corner-shop-loss-prevention-services")
    for month in (1, 2):
        clock.now = datetime(2026, month, 10, tzinfo=UTC)
        for who, capability, request, n in (
            (shop, Capability.FACE_DETECT, None, 3),
            (shop, Capability.FACE_COMPARE, None, 2),
            (shop, Capability.FACE_SEARCH, RequestContext("fraud_prevention"), 2),
            (unit, Capability.FACE_SEARCH, RequestContext("child_exploitation_investigation", "C-1"), 1),
            (police, Capability.FACE_DETECT, None, 1),
        ):
            for _ in range(n):
                with svc.gate.guard(who, capability, request):
                    pass
        for who, request in (
            (police, RequestContext("criminal_investigation", "C-2")),  # the moratorium
            (unit, RequestContext("child_exploitation_investigation")),  # no case number: safeguards
        ):
            with pytest.raises(PolicyDenied), svc.gate.guard(who, Capability.FACE_SEARCH, request):
                pass
    now = clock.now
    with pytest.raises(RequestRuleError):
        svc.portal.file_request(
            police,
            FootageRequestInput(
                incident_type="burglary",
                case_number="C-3",
                description="Break-in on the high street.",
                contact="desk@example.org",
                area={"type": "circle", "center": [43.25, -79.87], "radius_m": 300},
                window_start=now - timedelta(hours=2),
                window_end=now + timedelta(days=1),  # not over yet: a portal rule refuses it
                respond_by=now + timedelta(days=3),
                purpose="criminal_investigation",
            ),
        )
    svc.close()
    with live_server(data, model_cache_dir, throttle_rate="0") as server:
        yield server


#: Every element of the table that sticks out of the table's container, or whose content is wider than it.
OVERFLOWS = """() => {
  const wrap = document.querySelector('.report-table-wrap');
  const box = wrap.getBoundingClientRect();
  const out = [];
  if (wrap.scrollWidth > wrap.clientWidth) out.push(`wrap scrolls: ${wrap.scrollWidth} > ${wrap.clientWidth}`);
  for (const el of wrap.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.left < box.left - 0.5 || r.right > box.right + 0.5)
      out.push(`${el.tagName} ${el.textContent.trim().slice(0, 40)}: ${r.left}-${r.right} outside ${box.left}-${box.right}`);
    if (el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0)
      out.push(`${el.tagName} ${el.textContent.trim().slice(0, 40)}: content ${el.scrollWidth} > ${el.clientWidth}`);
  }
  return out;
}"""
#: Elements reaching past the page's right edge (for the failure message).
WIDER_THAN_PAGE = """(width) => Array.from(document.querySelectorAll('body *')).filter(
  e => e.getBoundingClientRect().right > width + 0.5).sort(
  (a, b) => b.getBoundingClientRect().right - a.getBoundingClientRect().right).slice(0, 8).map(
  e => `${e.tagName}.${e.className} ${e.textContent.trim().slice(0, 30)} ${e.getBoundingClientRect().right}`)"""
#: The smallest drawn size (CSS px) of any chart text: its font size times the SVG's scale on screen.
SMALLEST_CHART_TEXT = """() => Math.min(...Array.from(document.querySelectorAll('svg.chart text')).map(
  t => t.getScreenCTM().a * parseFloat(getComputedStyle(t).fontSize)))"""


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_the_report_fits_the_screen_and_its_charts_are_legible(
    site: LiveServer, chromium: Any, viewport: str, screenshot: Any
) -> None:
    width, height = VIEWPORTS[viewport]
    context = chromium.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        page.goto(site.url + "/transparency?period=month")
        rows = page.locator("table.report tbody tr")
        assert rows.count() >= 6  # three organisations in each of two months
        assert page.evaluate(OVERFLOWS) == []
        wide = page.evaluate(WIDER_THAN_PAGE, width)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width, (
            wide
        )  # no sideways scroll
        last = page.locator("table.report tbody tr").first.locator("td").last
        assert last.is_visible() and last.bounding_box()["x"] + last.bounding_box()["width"] <= width
        if viewport == "phone":  # one card per row, each figure named beside it
            named = last.evaluate("td => getComputedStyle(td, '::before').content")
            assert named == '"Policy changes"'
            assert rows.first.bounding_box()["height"] > 200
        assert page.locator("svg.chart text").count() > 10
        assert page.evaluate(SMALLEST_CHART_TEXT) >= 12
        text = page.locator("main").inner_text()
        assert "refused under the camera portal's rule window-" in text, page.locator("ul.rules").inner_text()
        assert "not part of the active policy" not in text
        screenshot(page, f"transparency-{viewport}")
    finally:
        context.close()
