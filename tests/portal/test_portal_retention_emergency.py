"""Retention with an injected clock, emergency disclosure by two operators, the transparency report, and the
migration."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from glasshouse import db
from glasshouse.governance.duties import DutyRefused
from glasshouse.schema import metadata
from portal.conftest import HOME, PortalWorld

LAT, LON = HOME


def _store_keys(world: PortalWorld) -> set[str]:
    root = world.svc.settings.media_path
    return {p.name for p in root.rglob("*") if p.is_file()}


def test_retention_sweep_deletes_expired_clips_and_keeps_evidence(world: PortalWorld) -> None:
    portal = world.svc.portal
    _, alice = world.owner("alice")
    _, bob = world.owner("bob")
    cam_a = world.camera(alice, LAT, LON)
    cam_b = world.camera(bob, LAT, LON + 0.001)
    evidence = world.clip(alice, cam_a, world.clock.now - timedelta(hours=2))
    shared_plain = world.clip(bob, cam_b, world.clock.now - timedelta(hours=2))
    private = world.clip(alice, cam_a, world.clock.now - timedelta(days=2))
    short_lived_owner, carol = world.owner("carol")
    cam_c = world.camera(carol, LAT - 0.001, LON)
    brief = world.clip(carol, cam_c, world.clock.now - timedelta(days=1))
    world.client.put("/v1/portal/settings", json={"retention_days": 7}, headers=carol)
    assert len(_store_keys(world)) == 4

    rid = world.file().json()["id"]
    for headers, clip in ((alice, evidence), (bob, shared_plain)):
        r = world.client.post(f"/v1/portal/inbox/{rid}/share", json={"clip_ids": [clip]}, headers=headers)
        assert r.status_code == 200, r.text
    r = world.client.post(
        f"/v1/portal/requests/{rid}/clips/{evidence}/evidence", headers=world.agency_headers
    )
    assert r.status_code == 200 and r.json()["evidence"] is True

    # Day 8: only carol's 7-day clip is due.
    world.clock.advance(days=8)
    result = portal.sweep_retention()
    assert (result.clips_deleted, result.clips_kept_for_cases) == (1, 0)
    assert [c.id for c in portal.list_clips(short_lived_owner)] == []
    assert brief not in {c.id for o in world.owners.values() for c in portal.list_clips(o)}

    # Day 61: the private clip goes; both shared clips are held while the request is open.
    world.clock.advance(days=53)
    result = portal.sweep_retention()
    assert (result.clips_deleted, result.clips_kept_for_cases) == (1, 2)
    owner_a = world.owners["alice@example.org"]
    assert {c.id for c in portal.list_clips(owner_a)} == {evidence}

    # The request closes; after its access period the plain share goes, the evidence stays.
    world.client.post(f"/v1/portal/requests/{rid}/close", headers=world.agency_headers)
    world.clock.advance(days=world.svc.settings.portal_access_days + 1)
    result = portal.sweep_retention()
    assert (result.clips_deleted, result.clips_kept_for_cases) == (1, 1)
    assert world.clip_rows() == 1 and world.media_rows() == 1 and len(_store_keys(world)) == 1
    download = world.client.get(
        f"/v1/portal/requests/{rid}/clips/{evidence}/download", headers=world.agency_headers
    )
    assert download.status_code == 200
    gone = world.client.get(
        f"/v1/portal/requests/{rid}/clips/{shared_plain}/download", headers=world.agency_headers
    )
    assert gone.status_code == 404
    reasons = [e.details["reason"] for e in world.audit("portal.clip_delete")]
    assert reasons == ["retention (7 days)", "retention (60 days)", "retention (60 days)"]
    assert private not in {c.id for c in portal.list_clips(owner_a)}


def test_emergency_disclosure_needs_two_operators_and_notifies_the_owner(world: PortalWorld) -> None:
    owner, alice = world.owner("alice")
    clip = world.clip(alice, world.camera(alice, LAT, LON), world.clock.now - timedelta(hours=5))
    body = {
        "agency": "hamilton-police",
        "clip_ids": [clip],
        "reason": "Child abducted from the street at 10:40; the car passed this camera. Imminent danger.",
        "case_number": "HPS-2026-9001",
    }
    # Not an operator: refused.
    assert (
        world.client.post("/v1/portal/emergency", json=body, headers=world.agency_headers).status_code == 403
    )
    short = {**body, "reason": "urgent"}
    assert (
        world.client.post("/v1/portal/emergency", json=short, headers=world.operator_a_headers).status_code
        == 400
    )
    r = world.client.post("/v1/portal/emergency", json=body, headers=world.operator_a_headers)
    assert r.status_code == 201, r.text
    disclosure = r.json()
    assert disclosure["status"] == "pending"
    # Before approval the agency has nothing.
    assert (
        world.client.get("/v1/portal/agency/requests", headers=world.agency_headers).json()["requests"] == []
    )

    same = world.client.post(
        f"/v1/portal/emergency/{disclosure['id']}/approve", headers=world.operator_a_headers
    )
    assert same.status_code == 403 and "different person" in same.json()["error"]["message"]
    with pytest.raises(DutyRefused):
        world.svc.portal.emergency_approve(world.operator_a, disclosure["id"])
    r = world.client.post(
        f"/v1/portal/emergency/{disclosure['id']}/approve", headers=world.operator_b_headers
    )
    assert r.status_code == 200, r.text
    approved = r.json()
    assert approved["status"] == "approved" and approved["approved_by"] != approved["requested_by"]

    # The owner is told, in their inbox, why and when.
    [item] = world.client.get("/v1/portal/inbox", headers=alice).json()["items"]
    assert item["request"]["kind"] == "emergency" and item["notified_at"]
    assert item["status"] == "disclosed" and item["shared_clip_ids"] == [clip]
    assert (
        item["disclosure"]["reason"] == body["reason"]
        and item["disclosure"]["case_number"] == "HPS-2026-9001"
    )
    # The agency downloads through the emergency request; it is public like every request.
    rid = approved["request_id"]
    listed = world.client.get(f"/v1/portal/requests/{rid}/clips", headers=world.agency_headers).json()[
        "clips"
    ]
    assert [(c["id"], c["share"]["kind"]) for c in listed] == [(clip, "emergency")]
    assert (
        world.client.get(
            f"/v1/portal/requests/{rid}/clips/{clip}/download", headers=world.agency_headers
        ).status_code
        == 200
    )
    feed = world.client.get("/v1/portal/requests").json()["requests"]
    assert [(f["kind"], f["shared_owner_count"], f["disclosed_owner_count"]) for f in feed] == [
        ("emergency", 0, 1)
    ]

    denied, also_denied, entry = world.audit("footage.emergency_disclosure")  # the asker, twice; then B
    assert denied.decision == also_denied.decision == "deny" and denied.rule == "separation-of-duties"
    assert (
        entry.decision == "record" and entry.details["owners"] == 1 and entry.case_number == "HPS-2026-9001"
    )
    assert entry.details["requested_by"] == world.operator_a.principal
    assert entry.actor_key == world.operator_b.key_id != world.operator_a.key_id
    assert world.audit("footage.emergency_request")[0].details["disclosure_id"] == disclosure["id"]
    again = world.client.post(
        f"/v1/portal/emergency/{disclosure['id']}/approve", headers=world.operator_b_headers
    )
    assert again.status_code == 400
    assert owner == world.owners["alice@example.org"]


def test_operator_organisation_keys_never_ask_for_or_approve_a_disclosure(world: PortalWorld) -> None:
    """Four-eyes, path 3 of issue 12: an emergency disclosure requested with the operators' organisation
    key #1 and approved with key #2 disclosed an unshared clip with no second human. Neither key is a
    person: both steps are refused and audited; a person's request still needs another person."""
    _, alice = world.owner("alice")
    clip = world.clip(alice, world.camera(alice, LAT, LON), world.clock.now - timedelta(hours=5))
    body = {
        "agency": "hamilton-police",
        "clip_ids": [clip],
        "reason": "Child abducted from the street at 10:40; the car passed this camera. Imminent danger.",
        "case_number": "HPS-2026-9002",
    }
    key_1, key_2 = world.operator_org_headers
    asked = world.client.post("/v1/portal/emergency", json=body, headers=key_1)
    assert asked.status_code == 403 and asked.json()["error"]["code"] == "SeparationOfDuties"
    assert "not issued to a person" in asked.json()["error"]["message"]
    assert world.svc.portal.emergency_disclosures(world.operator_a) == []
    [denied] = [e for e in world.audit("footage.emergency_request") if e.decision == "deny"]
    assert (
        denied.rule == "separation-of-duties" and denied.details["reason"] == asked.json()["error"]["message"]
    )

    # A person asks; the organisation's key #2 cannot be the second pair of eyes.
    pending = world.client.post("/v1/portal/emergency", json=body, headers=world.operator_a_headers).json()
    approve = f"/v1/portal/emergency/{pending['id']}/approve"
    refused = world.client.post(approve, headers=key_2)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "SeparationOfDuties"
    [denied] = [e for e in world.audit("footage.emergency_disclosure") if e.decision == "deny"]
    assert denied.rule == "separation-of-duties" and denied.details["disclosure_id"] == pending["id"]
    assert world.svc.portal.emergency_disclosures(world.operator_a)[0].status == "pending"
    items = world.client.get("/v1/portal/inbox", headers=alice).json()["items"]
    assert items == []  # nothing was disclosed
    done = world.client.post(approve, headers=world.operator_b_headers)
    assert done.status_code == 200 and done.json()["status"] == "approved"


def test_transparency_report_counts_requests_shares_and_emergency_disclosures(world: PortalWorld) -> None:
    _, alice = world.owner("alice")
    clip = world.clip(alice, world.camera(alice, LAT, LON), world.clock.now - timedelta(hours=2))
    assert world.file(case_number="").status_code == 400  # refused: a denial, not a request
    rid = world.file().json()["id"]
    world.client.post(f"/v1/portal/inbox/{rid}/share", json={"clip_ids": [clip]}, headers=alice)
    body = {"agency": "hamilton-police", "clip_ids": [clip], "reason": "Imminent danger to a missing child seen here.",
            "case_number": "HPS-1"}  # fmt: skip
    disclosure = world.client.post("/v1/portal/emergency", json=body, headers=world.operator_a_headers).json()
    world.client.post(f"/v1/portal/emergency/{disclosure['id']}/approve", headers=world.operator_b_headers)

    report = world.svc.transparency.report(period="year")
    totals = {"requests": 0, "shares": 0, "emergency": 0, "denials": {}}
    for bucket in report.periods:
        for org in bucket.organisations:
            totals["requests"] += org.figures.footage_requests
            totals["shares"] += org.figures.footage_shares
            totals["emergency"] += org.figures.emergency_disclosures
            for rule, n in org.figures.denials.items():
                totals["denials"][rule] = totals["denials"].get(rule, 0) + n
    assert (totals["requests"], totals["shares"], totals["emergency"]) == (1, 1, 1)
    assert totals["denials"] == {"case-number-required": 1}


def test_portal_migration_matches_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    db.upgrade(url)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert [d for d in diff if "portal_" in repr(d)] == []
