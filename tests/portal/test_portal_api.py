"""The portal over real HTTP (TestClient on the app), a real database and media store, real PyAV decoding:
request rules, matching, consent, isolation, chain of custody, audit and the public feed."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest

from glasshouse.governance import policy as pol
from glasshouse.governance.actor import Actor
from glasshouse.portal.models import Clip
from policy_support import add_rule
from portal.conftest import HOME, PortalWorld

LAT, LON = HOME
#: About 111 m of latitude.
DEG_111M = 0.001


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


def _owner_with_clip(
    world: PortalWorld, name: str, lat: float, lon: float, hours_ago: float = 2
) -> tuple[str, dict[str, str], str]:
    """An owner with a camera at (lat, lon) and a clip recorded ``hours_ago`` (inside the default window)."""
    owner_id, headers = world.owner(name)
    camera = world.camera(headers, lat, lon)
    clip = world.clip(headers, camera, world.clock.now - timedelta(hours=hours_ago))
    return owner_id, headers, clip


# -- the rules ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("declaration", ["purpose", "case_number"])
def test_no_declaration_is_assumed_over_rest(world: PortalWorld, declaration: str) -> None:
    """Issue 12, item 6: a request without a purpose (or case number) is refused, never filed under a
    default one."""
    body = world.request_body()
    del body[declaration]
    response = world.client.post("/v1/portal/requests", json=body, headers=world.agency_headers)
    assert response.status_code == 422 and declaration in response.text
    assert world.client.get("/v1/portal/requests").json()["requests"] == []
    assert [e for e in world.audit("footage.request") if e.decision == "allow"] == []


@pytest.mark.parametrize(
    ("overrides", "rule"),
    [
        ({"area": {"type": "circle", "center": list(HOME), "radius_m": 100.0}}, "area-too-small"),
        ({"area": {"type": "circle", "center": list(HOME), "radius_m": 900.0}}, "area-too-large"),
        ({"case_number": ""}, "case-number-required"),
        ({"purpose": ""}, "purpose-required"),
        ({"purpose": "  "}, "purpose-required"),
        ({"incident_type": "loitering"}, "incident-type-unknown"),
        ({"description": "Looking for a black male."}, "race-only-description"),
        ({"description": "Footage of the protest at city hall."}, "protest-activity"),
    ],
)
def test_request_rules_refuse_with_the_rule_named(
    world: PortalWorld, overrides: dict[str, Any], rule: str
) -> None:
    error = _error(world.file(**overrides), 400, "RequestRuleViolation")
    assert f"(rule: {rule})" in error["message"]
    refusals = world.audit("footage.request")
    assert [(e.decision, e.rule) for e in refusals] == [("deny", rule)]
    assert world.client.get("/v1/portal/requests").json()["requests"] == []


def test_window_rules_over_http(world: PortalWorld) -> None:
    now = world.clock.now
    cases = {
        "window-too-short": (now - timedelta(hours=1, minutes=10), now - timedelta(hours=1)),
        "window-too-long": (now - timedelta(hours=14), now - timedelta(hours=1)),
        "window-too-old": (now - timedelta(days=31, hours=2), now - timedelta(days=31)),
        "window-not-ended": (now - timedelta(hours=1), now + timedelta(hours=1)),
    }
    for rule, (start, end) in cases.items():
        response = world.file(window_start=start.isoformat(), window_end=end.isoformat())
        assert f"(rule: {rule})" in _error(response, 400, "RequestRuleViolation")["message"]
    too_far = (now + timedelta(days=31)).isoformat()
    assert (
        "respond-by-too-far" in _error(world.file(respond_by=too_far), 400, "RequestRuleViolation")["message"]
    )


def test_polygon_area_is_accepted_and_measured(world: PortalWorld) -> None:
    points = [
        [LAT - 0.002, LON - 0.003],
        [LAT + 0.002, LON - 0.003],
        [LAT + 0.002, LON + 0.003],
        [LAT - 0.002, LON + 0.003],
    ]
    response = world.file(area={"type": "polygon", "points": points})
    assert response.status_code == 201, response.text
    # 444.8 m x 486.3 m = 0.0835 sq mi
    assert response.json()["area_sq_mi"] == pytest.approx(0.0835, abs=0.001)


def test_only_verified_law_enforcement_may_request(world: PortalWorld) -> None:
    commercial = _error(world.file(world.commercial_headers), 403, "AccessDenied")
    assert "footage.request" in commercial["message"] or "no rule" in commercial["message"].lower()
    unverified = _error(world.file(world.unverified_headers), 403, "NotAnAgency")
    assert "not a verified agency" in unverified["message"]
    assert _error(world.client.post("/v1/portal/requests", json=world.request_body()), 401, "Unauthenticated")
    denials = [(e.actor_org_name, e.decision, e.rule) for e in world.audit("footage.request")]
    assert any(org == "acme-security" and decision == "deny" for org, decision, _ in denials)
    assert ("unverified-police", "deny", "agency-not-verified") in denials
    assert world.svc.portal.public_feed() == []


def test_agency_under_a_policy_denial_is_refused(world: PortalWorld) -> None:
    setup = Actor(org_id="", org_name="test-setup", surface="cli", is_operator=True)
    deny = pol.Rule(
        id="suspend-footage-requests",
        description="test: the council suspended footage requests",
        effect="deny",
        capabilities=[pol.Capability.FOOTAGE_REQUEST],
        sectors=["law_enforcement"],
        reason="suspended by the city council pending review",
    )
    add_rule(world.svc, setup, deny, "council vote")
    error = _error(world.file(), 403, "AccessDenied")
    assert "suspend-footage-requests" in error["message"]
    [entry] = world.audit("footage.request")
    assert (entry.decision, entry.rule) == ("deny", "suspend-footage-requests")
    assert world.svc.portal.public_feed() == []


def test_the_gate_requires_an_investigative_purpose(world: PortalWorld) -> None:
    error = _error(world.file(purpose="protest_monitoring"), 403, "AccessDenied")
    assert "protest_monitoring" in error["message"] or "prohibited" in error["message"].lower()


# -- matching, consent, access --------------------------------------------------------------------------------


def test_only_matching_owners_are_asked(world: PortalWorld) -> None:
    inside_id, inside, _ = _owner_with_clip(world, "inside", LAT + DEG_111M, LON)
    _, outside, _ = _owner_with_clip(world, "outside", LAT + 5 * DEG_111M, LON)  # ~555 m away: outside 300 m
    _, no_overlap, _ = _owner_with_clip(world, "stale", LAT, LON + DEG_111M, hours_ago=8)  # before the window
    _, no_clips = world.owner("noclips")
    world.camera(no_clips, LAT, LON)
    _, opted_out, _ = _owner_with_clip(world, "private", LAT - DEG_111M, LON)
    r = world.client.put("/v1/portal/settings", json={"opted_out": True}, headers=opted_out)
    assert r.status_code == 200 and r.json()["opted_out"] is True

    filed = world.file()
    assert filed.status_code == 201, filed.text
    request = filed.json()
    assert "recipient_count" not in request and request["status"] == "open"

    inbox = world.client.get("/v1/portal/inbox", headers=inside).json()["items"]
    assert [i["request"]["id"] for i in inbox] == [request["id"]] and inbox[0]["status"] == "pending"
    assert len(inbox[0]["clips"]) == 1
    for headers in (outside, no_overlap, no_clips, opted_out):
        assert world.client.get("/v1/portal/inbox", headers=headers).json()["items"] == []
    [entry] = world.audit("footage.request")
    assert entry.decision == "allow" and entry.case_number == "HPS-2026-0412"
    # How many owners were asked is recorded out of the agency's view (its auditors see its entries only).
    assert "recipients" not in entry.details
    [match] = world.audit("footage.request_match")
    assert match.details == {"request_id": request["id"], "recipients": 1}
    assert match.actor_org_id != world.agency.org_id
    assert world.owners["inside@example.org"] == inside_id


def test_share_download_and_chain_of_custody(world: PortalWorld, hamilton_clip: Any) -> None:
    owner_id, headers = world.owner("alice")
    world.client.put(
        "/v1/portal/settings", json={"share_contact": True, "contact": "alice, 555-0101"}, headers=headers
    )
    camera = world.camera(headers, LAT, LON)
    original = hamilton_clip.read_bytes()
    up = world.upload(
        headers, camera, original, world.clock.now - timedelta(hours=2), filename="hamilton.mp4"
    )
    assert up.status_code == 201, up.text
    clip = up.json()
    assert clip["sha256"] == hashlib.sha256(original).hexdigest()
    assert clip["duration_seconds"] == pytest.approx(9.18, abs=0.05)  # the video track, not the container
    kept = world.clip(
        headers, camera, world.clock.now - timedelta(hours=2, minutes=30)
    )  # matches, not shared

    request = world.file().json()
    rid = request["id"]
    r = world.client.post(f"/v1/portal/inbox/{rid}/share", json={"clip_ids": [clip["id"]]}, headers=headers)
    assert r.status_code == 200, r.text

    listed = world.client.get(f"/v1/portal/requests/{rid}/clips", headers=world.agency_headers).json()
    assert [c["id"] for c in listed["clips"]] == [clip["id"]]
    share = listed["clips"][0]["share"]
    assert share["kind"] == "consent" and share["contact"] == "alice, 555-0101" and share["shared_at"]
    assert listed["request"]["shared_owner_count"] == 1

    download = world.client.get(
        f"/v1/portal/requests/{rid}/clips/{clip['id']}/download", headers=world.agency_headers
    )
    assert download.status_code == 200
    assert download.content == original
    assert download.headers["x-sha256"] == hashlib.sha256(download.content).hexdigest() == clip["sha256"]

    # The unshared clip, another owner's clip, a missing clip: one and the same 404.
    _, _, foreign = _owner_with_clip(world, "bob", LAT, LON + DEG_111M)
    bodies = []
    for clip_id in (kept, foreign, "00000000-0000-0000-0000-000000000000"):
        r = world.client.get(
            f"/v1/portal/requests/{rid}/clips/{clip_id}/download", headers=world.agency_headers
        )
        assert r.status_code == 404
        bodies.append(r.json()["error"]["message"].replace(clip_id, "<id>"))
        r = world.client.post(
            f"/v1/portal/requests/{rid}/clips/{clip_id}/evidence", headers=world.agency_headers
        )
        assert r.status_code == 404
    assert len(set(bodies)) == 1, bodies
    # Another agency cannot reach this request's clips, nor see the request as theirs.
    r = world.client.get(
        f"/v1/portal/requests/{rid}/clips/{clip['id']}/download", headers=world.other_agency_headers
    )
    assert r.status_code == 404 and r.json()["error"]["message"].replace(clip["id"], "<id>") == bodies[0]
    assert (
        world.client.get(f"/v1/portal/requests/{rid}/clips", headers=world.other_agency_headers).status_code
        == 404
    )
    # An owner's session is not an agency key.
    r = world.client.get(f"/v1/portal/requests/{rid}/clips/{clip['id']}/download", headers=headers)
    assert r.status_code == 401

    # Audit: request, share (through the gate), download, each once, never the bytes.
    [shared] = world.audit("footage.share")
    assert shared.decision == "allow" and shared.actor_person == owner_id and shared.details["clips"] == 1
    [downloaded] = world.audit("footage.download")
    assert downloaded.details["sha256"] == clip["sha256"] and downloaded.actor_org_name == "hamilton-police"

    # The public sees the request and how many shared, never who.
    feed = world.client.get("/v1/portal/requests").json()["requests"]
    assert [(f["id"], f["shared_owner_count"], f["agency"]) for f in feed] == [(rid, 1, "hamilton-police")]
    assert "alice" not in str(feed) and "case_number" not in feed[0] and "recipient_count" not in feed[0]
    profile = world.client.get("/v1/portal/agencies/hamilton-police").json()
    assert profile["verified"] is True and [r["id"] for r in profile["requests"]] == [rid]
    assert world.client.get("/v1/portal/agencies/acme-security").status_code == 404


def test_sharing_only_the_owners_matching_clips(world: PortalWorld) -> None:
    _, alice, alice_clip = _owner_with_clip(world, "alice", LAT, LON)
    _, bob, bob_clip = _owner_with_clip(world, "bob", LAT + DEG_111M, LON)
    stale = world.clip(alice, world.camera(alice, LAT, LON, "garage"), world.clock.now - timedelta(hours=9))
    rid = world.file().json()["id"]
    for clip_id in (bob_clip, stale, "nope"):
        r = world.client.post(f"/v1/portal/inbox/{rid}/share", json={"clip_ids": [clip_id]}, headers=alice)
        assert r.status_code == 404, clip_id
    assert world.audit("footage.share") == []
    # Declining is invisible to the agency as an individual act.
    assert world.client.post(f"/v1/portal/inbox/{rid}/decline", headers=bob).status_code == 204
    view = world.client.get("/v1/portal/agency/requests", headers=world.agency_headers).json()["requests"][0]
    assert view["shared_owner_count"] == 0 and "declined" not in str(view)
    assert (
        world.client.post(
            f"/v1/portal/inbox/{rid}/share", json={"clip_ids": [alice_clip]}, headers=alice
        ).status_code
        == 200
    )
    # A closed request takes no more answers, and its clips stay reachable only for the access period.
    assert (
        world.client.post(f"/v1/portal/requests/{rid}/close", headers=world.agency_headers).status_code == 200
    )
    r = world.client.post(f"/v1/portal/inbox/{rid}/share", json={"clip_ids": [alice_clip]}, headers=alice)
    _error(r, 400, "RequestClosed")
    url = f"/v1/portal/requests/{rid}/clips/{alice_clip}/download"
    assert world.client.get(url, headers=world.agency_headers).status_code == 200
    world.clock.advance(days=world.svc.settings.portal_access_days + 1)
    assert world.client.get(url, headers=world.agency_headers).status_code == 404


def test_owner_endpoints_need_an_owners_session(world: PortalWorld) -> None:
    assert world.client.get("/v1/portal/inbox").status_code == 401
    assert world.client.get("/v1/portal/clips", headers=world.agency_headers).status_code == 401
    assert (
        world.client.get("/v1/portal/clips", headers={"Authorization": "Bearer not-a-token"}).status_code
        == 401
    )
    r = world.client.post(
        "/v1/portal/session", json={"email": "nobody@example.org", "password": "whatever-123"}
    )
    assert r.status_code == 401
    _, alice, clip = _owner_with_clip(world, "alice", LAT, LON)
    _, bob = world.owner("bob")
    # Another owner's clip and camera answer like missing ones.
    assert world.client.get(f"/v1/portal/clips/{clip}", headers=bob).status_code == 404
    assert world.client.delete(f"/v1/portal/clips/{clip}", headers=bob).status_code == 404
    assert world.client.get(f"/v1/portal/clips/{clip}", headers=alice).status_code == 200
    with world.svc.sessions() as session:
        assert session.get(Clip, clip) is not None
