"""Report counts checked exactly against an audit log of real gate decisions, reviews and policy changes."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from glasshouse.errors import InvalidParameterError
from glasshouse.governance.actor import Actor
from glasshouse.governance.audit_events import event
from glasshouse.governance.policy import default_policy
from glasshouse.transparency.report import CSV_HEADER, MAX_BUCKETS, NO_RULE, Report, buckets, explain_rule
from transparency.world import MORATORIUM, PRIVATE, SAFEGUARDS, World


def _org(period: dict[str, Any], name: str) -> dict[str, Any]:
    return next(o for o in period["organisations"] if o["organisation"] == name)


def _scalars(**nonzero: int) -> dict[str, int]:
    names = ("reviews_confirmed", "reviews_rejected", "footage_requests", "footage_shares")
    redaction = ("redacted_shares", "unredacted_shares", "unredaction_requests")
    answers = ("unredactions_accepted", "unredactions_refused")
    out = dict.fromkeys((*names, "emergency_disclosures", "policy_changes", *redaction, *answers), 0)
    out.update(nonzero)
    return out


def test_monthly_report_counts_every_figure_exactly(world: World) -> None:
    data = world.svc.transparency.report("month").to_json()
    assert [p["label"] for p in data["periods"]] == ["2026-01", "2026-02", "2026-03", "2026-04"]
    jan, feb, mar, apr = data["periods"]
    assert [o["organisation"] for o in jan["organisations"]] == ["glasshouse", "icac", "police", "shop"]
    assert _org(jan, "police") == {
        "organisation": "police",
        "sector": "law_enforcement",
        "calls": {"face.detect": 1},
        "denials": {MORATORIUM: 4},
        "denied_calls": {"face.search": 4},
        **_scalars(),
    }
    assert _org(jan, "icac") == {
        "organisation": "icac",
        "sector": "law_enforcement",
        "calls": {"face.search": 1},
        "denials": {SAFEGUARDS: 1},
        "denied_calls": {"face.search": 1},
        **_scalars(),
    }
    assert _org(jan, "shop")["calls"] == {"face.detect": 3, "face.search": 2}
    assert _org(jan, "shop")["sector"] == "commercial"
    assert _org(jan, "glasshouse") | {"calls": None} == {
        "organisation": "glasshouse",  # the default policy loaded by the system: no organisation row
        "sector": "unknown",
        "calls": None,
        "denials": {},
        "denied_calls": {},
        **_scalars(policy_changes=1),
    }
    assert [o["organisation"] for o in feb["organisations"]] == ["icac", "police", "shop"]
    assert _org(feb, "police")["denials"] == {MORATORIUM: 2}
    assert _org(feb, "icac") | {"organisation": None} == {
        "organisation": None,
        "sector": "law_enforcement",
        "calls": {},
        "denials": {},
        "denied_calls": {},
        **_scalars(reviews_confirmed=2, reviews_rejected=1),
    }
    assert mar["organisations"] == [] and mar["totals"]["calls"] == {}  # an empty month stays visible
    assert _org(apr, "operators") == {
        "organisation": "operators",
        "sector": "other_government",
        "calls": {},
        "denials": {},
        "denied_calls": {},
        **_scalars(policy_changes=1),
    }
    assert _org(apr, "police") == {
        "organisation": "police",
        "sector": "law_enforcement",
        "calls": {"face.search": 1, "footage.request": 1},
        "denials": {},
        "denied_calls": {},
        **_scalars(footage_requests=1, emergency_disclosures=1),
    }
    assert data["totals"] == {
        "calls": {"face.compare": 1, "face.detect": 4, "face.search": 4, "footage.request": 1},
        "denials": {MORATORIUM: 6, SAFEGUARDS: 1},
        "denied_calls": {"face.search": 7},
        **_scalars(
            reviews_confirmed=2,
            reviews_rejected=1,
            footage_requests=1,
            emergency_disclosures=1,
            policy_changes=2,
        ),
    }
    assert "moratorium stopped" in data["rules"][MORATORIUM]
    assert "law-enforcement" in data["rules"][MORATORIUM]
    assert "safeguard" in data["rules"][SAFEGUARDS]


def test_quarter_and_year_buckets(world: World) -> None:
    report = world.svc.transparency.report("quarter").to_json()
    quarters = report["periods"]
    assert [p["label"] for p in quarters] == ["2026-Q1", "2026-Q2"]
    assert quarters[0]["totals"]["denials"] == {MORATORIUM: 6, SAFEGUARDS: 1}
    assert quarters[1]["totals"]["denials"] == {}
    assert quarters[0]["start"] == "2026-01-01T00:00:00+00:00"  # the first entry's quarter
    assert quarters[1]["end"] == report["generated_at"]  # the open end: now
    years = world.svc.transparency.report("year").to_json()["periods"]
    assert [p["label"] for p in years] == ["2026"]
    assert years[0]["totals"]["calls"]["face.search"] == 4


def test_filters_by_sector_organisation_and_range(world: World) -> None:
    service = world.svc.transparency
    police = service.report("quarter", sector="law_enforcement").to_json()
    assert {o["organisation"] for p in police["periods"] for o in p["organisations"]} == {"police", "icac"}
    assert police["totals"]["calls"] == {"face.detect": 1, "face.search": 2, "footage.request": 1}
    shop = service.report("month", org="shop").to_json()
    assert shop["totals"]["calls"] == {"face.compare": 1, "face.detect": 3, "face.search": 2}
    assert shop["totals"]["denials"] == {}
    unknown = service.report("year", sector="unknown").to_json()
    assert unknown["totals"]["policy_changes"] == 1
    feb = service.report(
        "month", since=datetime(2026, 2, 1, tzinfo=UTC), until=datetime(2026, 3, 1, tzinfo=UTC)
    ).to_json()
    assert [p["label"] for p in feb["periods"]] == ["2026-02"]
    assert feb["totals"]["denials"] == {MORATORIUM: 2}
    assert feb["since"] == "2026-02-01T00:00:00+00:00"
    none = service.report("month", org="nobody").to_json()
    assert none["periods"] == [] and none["totals"]["calls"] == {}


def test_empty_range_keeps_its_buckets(world: World) -> None:
    report = world.svc.transparency.report(
        "month", since=datetime(2025, 11, 15, tzinfo=UTC), until=datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert [(b.bucket.label, b.bucket.start.day) for b in report.periods] == [("2025-11", 15), ("2025-12", 1)]
    assert report.totals.total_calls == 0


def test_bad_parameters_are_refused(world: World) -> None:
    service = world.svc.transparency
    with pytest.raises(InvalidParameterError, match="period"):
        service.report("week")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="sector"):
        service.report("month", sector="police")
    with pytest.raises(InvalidParameterError, match="before"):
        service.report(
            "month", since=datetime(2026, 3, 1, tzinfo=UTC), until=datetime(2026, 2, 1, tzinfo=UTC)
        )
    with pytest.raises(InvalidParameterError, match=str(MAX_BUCKETS)):
        service.report(
            "month", since=datetime(1900, 1, 1, tzinfo=UTC), until=datetime(2026, 1, 1, tzinfo=UTC)
        )


def test_buckets_follow_the_calendar() -> None:
    since, until = datetime(2025, 11, 20, tzinfo=UTC), datetime(2026, 7, 2, tzinfo=UTC)
    assert [b.label for b in buckets("quarter", since, until)] == ["2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3"]
    months = buckets("month", since, until)
    assert [b.label for b in months][:3] == ["2025-11", "2025-12", "2026-01"]
    assert months[1].start == datetime(2025, 12, 1, tzinfo=UTC) and months[1].end == datetime(
        2026, 1, 1, tzinfo=UTC
    )
    assert months[-1].end == until


def _csv_rows(report: Report) -> list[dict[str, str]]:
    text = report.to_csv()
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames or ()) == CSV_HEADER
    return list(reader)


def test_csv_has_one_row_per_bucket_org_and_metric(world: World) -> None:
    rows = _csv_rows(world.svc.transparency.report("month"))
    denials = [r for r in rows if r["metric"] == "denials" and r["key"] == MORATORIUM]
    assert [(r["bucket"], r["organisation"], r["sector"], r["count"]) for r in denials] == [
        ("2026-01", "police", "law_enforcement", "4"),
        ("2026-02", "police", "law_enforcement", "2"),
    ]
    police_april = [r for r in rows if r["bucket"] == "2026-04" and r["organisation"] == "police"]
    assert {(r["metric"], r["key"]): r["count"] for r in police_april} == {
        ("calls", "face.search"): "1",
        ("calls", "footage.request"): "1",
        ("reviews_confirmed", ""): "0",
        ("reviews_rejected", ""): "0",
        ("footage_requests", ""): "1",
        ("footage_shares", ""): "0",
        ("emergency_disclosures", ""): "1",
        ("policy_changes", ""): "0",
        ("redacted_shares", ""): "0",
        ("unredacted_shares", ""): "0",
        ("unredaction_requests", ""): "0",
        ("unredactions_accepted", ""): "0",
        ("unredactions_refused", ""): "0",
    }
    keys = [(r["bucket"], r["organisation"], r["metric"], r["key"]) for r in rows]
    assert len(keys) == len(set(keys))
    assert all(r["period"] == "month" for r in rows)


def test_nothing_private_in_json_or_csv(world: World) -> None:
    for period in ("month", "quarter", "year"):
        report = world.svc.transparency.report(period)
        for text in (json.dumps(report.to_json()), report.to_csv()):
            for secret in PRIVATE:
                assert secret not in text, (period, secret)
            assert "os:root" not in text and "face-a" not in text


def test_empty_log_gives_an_empty_report(world: World) -> None:
    report = world.svc.transparency.report("month", sector="research")
    assert report.periods == [] and report.to_csv().strip() == ",".join(CSV_HEADER)


def test_entries_of_an_organisation_without_a_row_count_as_unknown_sector(world: World) -> None:
    gone = Actor(org_id="00000000-dead-4000-8000-000000000000", org_name="gone-org", surface="rest")
    world.clock.set(datetime(2026, 4, 21, tzinfo=UTC))
    world.svc.audit.record(event(gone, "face.detect", "allow", rule="baseline-allow"))
    world.svc.audit.record(event(gone, "face.search", "deny", rule=None))
    data = world.svc.transparency.report("year", sector="unknown").to_json()
    org = _org(data["periods"][0], "gone-org")
    assert (org["sector"], org["calls"], org["denials"]) == ("unknown", {"face.detect": 1}, {NO_RULE: 1})
    assert "no rule" in data["rules"][NO_RULE]


def test_rule_explanations() -> None:
    document = default_policy()
    assert (
        explain_rule(MORATORIUM, document)
        == "calls by law-enforcement organisations that the moratorium stopped"
    )
    assert "safeguard" in explain_rule("law-enforcement-search-safeguards", document)
    assert "not part of the active policy" in explain_rule("retired-rule", document)
    assert "not part of the active policy" in explain_rule(MORATORIUM, None)


def test_portal_rule_refusals_are_called_portal_rules(world: World) -> None:
    """A footage request the camera portal refuses under its own rule (here: a window that has not ended) is
    explained as a portal rule, not as a rule missing from the active policy."""
    from datetime import timedelta

    from glasshouse.portal.rules import RequestRuleError
    from glasshouse.portal.views import FootageRequestInput

    svc = world.svc
    police = svc.organisations.get_by_id(svc.org_id("police"))
    actor = Actor(org_id=police.id, org_name=police.name, surface="rest", person="alice-private@example.org")
    now = world.clock.now
    request = FootageRequestInput(
        incident_type="burglary",
        case_number="C-1",
        description="Break-in; footage of the street could show the van.",
        contact="desk@example.org",
        area={"type": "circle", "center": [43.25, -79.87], "radius_m": 300},
        window_start=now - timedelta(hours=1),
        window_end=now + timedelta(days=1),  # not over yet: the portal refuses it
        respond_by=now + timedelta(days=3),
        purpose="criminal_investigation",
    )
    with pytest.raises(RequestRuleError) as refused:
        svc.portal.file_request(actor, request)
    rule = refused.value.rule
    report = svc.transparency.report(period="year")
    meaning = report.rules[rule]
    assert "portal" in meaning and "not part of the active policy" not in meaning
    assert "not part of the active policy" in explain_rule(rule, default_policy())  # without the portal flag
