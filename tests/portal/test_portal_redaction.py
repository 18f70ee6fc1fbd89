"""Sharing footage with bystanders' faces redacted (issue 17, items 2 and 4), through the REST API on a real
clip (the first second of the shared Hamilton clip: real faces, little to redact):

the owner previews the redacted copy, then shares it or cancels; the agency then gets only the copy on every
path (REST download, the ``portal-shared`` bucket for Rekognition and video jobs), with both digests and the
copy's record; unredaction requests are filed by the agency and answered by the owner only; emergency
disclosure is redacted unless the approving operator says why not; the transparency report counts it all.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from glasshouse.config import Settings
from glasshouse.errors import NotFoundError
from glasshouse.governance import policy as pol
from glasshouse.governance.gate import RequestContext
from glasshouse.governance.policy import Capability
from glasshouse.jobs import InProcessRunner, JobExecutor, JobStatus
from glasshouse.portal.common import PORTAL_SHARED_BUCKET
from glasshouse.portal.models import Clip
from glasshouse.redaction.copies import RedactedCopy
from glasshouse.services import Services
from glasshouse.video.jobs import FACE_DETECTION
from glasshouse.video.submit import submit_video_job
from policy_support import add_rule
from portal.conftest import HOME, PortalWorld, emergency_body
from web_support import SETUP

LAT, LON = HOME
REASON = "The suspect's face is needed to identify him: he is the man at the door at 14:02."


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The app's own job runner waits (hourly): the test runs the jobs it submits on a second node."""
    return settings.model_copy(update={"job_poll_seconds": 3600.0})


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def owner_with_clip(world: PortalWorld, name: str, data: bytes) -> tuple[dict[str, str], str]:
    _, headers = world.owner(name)
    camera = world.camera(headers, LAT, LON)
    r = world.upload(headers, camera, data, world.clock.now - timedelta(hours=2), filename="door.mp4")
    assert r.status_code == 201, r.text
    return headers, str(r.json()["id"])


def preview(world: PortalWorld, headers: dict[str, str], rid: str, clip: str) -> dict[str, Any]:
    r = world.client.post(f"/v1/portal/inbox/{rid}/previews", json={"clip_id": clip}, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


def share_redacted(world: PortalWorld, headers: dict[str, str], rid: str, clip: str, copy: str) -> Any:
    return world.client.post(
        f"/v1/portal/inbox/{rid}/share", json={"redacted": {clip: copy}}, headers=headers
    )


def copies(world: PortalWorld) -> int:
    with world.svc.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(RedactedCopy)) or 0)


def redacted_share(
    world: PortalWorld, data: bytes, name: str = "alice"
) -> tuple[dict[str, str], str, str, dict[str, Any]]:
    """An owner's clip shared redacted into a new request: (owner headers, request id, clip id, copy)."""
    headers, clip = owner_with_clip(world, name, data)
    rid = world.file().json()["id"]
    copy = preview(world, headers, rid, clip)
    r = share_redacted(world, headers, rid, clip, copy["id"])
    assert r.status_code == 200, r.text
    [shared] = r.json()["shares"]
    assert shared["redacted"] is True and shared["unredacted_at"] is None
    return headers, rid, clip, copy


def test_owner_previews_the_redacted_clip_and_the_agency_gets_only_that_copy(
    world: PortalWorld, door_clip: bytes
) -> None:
    headers, rid, clip, copy = redacted_share(world, door_clip)
    original = sha(door_clip)
    assert copy["source_sha256"] == original != copy["sha256"]
    assert copy["summary"]["faces"]["frames_with_faces_covered"] > 0

    # The owner watched exactly this copy before sharing.
    watched = world.client.get(f"/v1/portal/previews/{copy['id']}", headers=headers)
    assert watched.status_code == 200 and sha(watched.content) == copy["sha256"]

    # The agency's listing: the original's digest (the evidence) and the copy's record, to redo it.
    listed = world.client.get(f"/v1/portal/requests/{rid}/clips", headers=world.agency_headers).json()
    [item] = listed["clips"]
    assert item["sha256"] == original and item["served"] == "redacted"
    record = item["redacted_copy"]
    assert record["sha256"] == copy["sha256"] and record["source_sha256"] == original
    assert record["settings"] == copy["settings"] and record["engine"] == copy["engine"]
    assert "made_by" not in record  # never who the owner is

    # REST download: the copy, never the original.
    got = world.client.get(f"/v1/portal/requests/{rid}/clips/{clip}/download", headers=world.agency_headers)
    assert got.status_code == 200 and sha(got.content) == copy["sha256"] == got.headers["x-sha256"]
    assert "-redacted.mp4" in got.headers["content-disposition"]
    [entry] = world.audit("footage.download")
    assert entry.details["served"] == "redacted" and entry.details["served_sha256"] == copy["sha256"]

    # The portal-shared bucket (Rekognition S3Object, video jobs): the copy.
    info = world.svc.media.resolve_s3_object(world.agency.org_id, PORTAL_SHARED_BUCKET, f"{rid}/{clip}")
    assert info.sha256 == copy["sha256"] and info.source == "redacted"
    node = Services(world.svc.settings, clock=world.clock)
    s3 = {"Bucket": PORTAL_SHARED_BUCKET, "Name": f"{rid}/{clip}"}
    context = RequestContext(purpose="criminal_investigation", case_number="HPS-2026-0412")
    with node.gate.guard(world.agency, Capability.VIDEO_FACE_DETECTION, context) as grant:
        job = submit_video_job(node, grant, FACE_DETECTION, info, s3_object=s3)
    assert InProcessRunner(JobExecutor.from_services(node)).run_pending() == 1
    node.close()
    done = world.svc.jobs.get(world.agency.org_id, job.id)
    assert done.status == JobStatus.SUCCEEDED, done.status_message
    [started] = [e for e in world.audit("video.face_detection") if e.decision == "allow"]
    assert original not in str(started.details)

    # The owner's own clip route, the owner's preview route: not the agency's.
    for path in (f"/v1/portal/clips/{clip}", f"/v1/portal/previews/{copy['id']}"):
        assert world.client.get(path, headers=world.agency_headers).status_code == 401, path

    # Another agency: nothing, on any path.
    other = world.other_agency_headers
    assert world.client.get(f"/v1/portal/requests/{rid}/clips", headers=other).status_code == 404
    assert (
        world.client.get(f"/v1/portal/requests/{rid}/clips/{clip}/download", headers=other).status_code == 404
    )
    with pytest.raises(NotFoundError):
        world.svc.media.resolve_s3_object(world.other_agency.org_id, PORTAL_SHARED_BUCKET, f"{rid}/{clip}")
    r = world.client.post(
        f"/v1/portal/requests/{rid}/clips/{clip}/unredaction",
        json={"reason": REASON, "case_number": "X-1"},
        headers=other,
    )
    assert r.status_code == 404

    report = world.client.get("/transparency.json").json()["totals"]
    assert report["redacted_shares"] == 1 and report["unredacted_shares"] == 0


def test_cancelling_a_preview_deletes_it_and_nobody_else_may_use_it(
    world: PortalWorld, door_clip: bytes
) -> None:
    headers, clip = owner_with_clip(world, "alice", door_clip)
    mallory, mallory_clip = owner_with_clip(world, "mallory", door_clip)
    rid = world.file().json()["id"]
    copy = preview(world, headers, rid, clip)
    assert copies(world) == 1
    files = len(world.stored_files())

    # Another owner can neither watch, share nor cancel it; nor share her own clip as this copy.
    assert world.client.get(f"/v1/portal/previews/{copy['id']}", headers=mallory).status_code == 404
    assert world.client.delete(f"/v1/portal/previews/{copy['id']}", headers=mallory).status_code == 404
    assert share_redacted(world, mallory, rid, mallory_clip, copy["id"]).status_code == 404
    assert share_redacted(world, mallory, rid, clip, copy["id"]).status_code == 404
    # Nor can an owner preview someone else's clip.
    r = world.client.post(f"/v1/portal/inbox/{rid}/previews", json={"clip_id": clip}, headers=mallory)
    assert r.status_code == 404 and copies(world) == 1

    assert world.client.delete(f"/v1/portal/previews/{copy['id']}", headers=headers).status_code == 204
    assert copies(world) == 0 and len(world.stored_files()) == files - 1
    assert world.client.get(f"/v1/portal/previews/{copy['id']}", headers=headers).status_code == 404
    # A cancelled preview cannot be shared: nothing reaches the agency.
    assert share_redacted(world, headers, rid, clip, copy["id"]).status_code == 404
    assert (
        world.client.get(f"/v1/portal/requests/{rid}/clips", headers=world.agency_headers).json()["clips"]
        == []
    )

    # Once shared, the preview stays while the share does.
    again = preview(world, headers, rid, clip)
    assert share_redacted(world, headers, rid, clip, again["id"]).status_code == 200
    assert world.client.delete(f"/v1/portal/previews/{again['id']}", headers=headers).status_code == 400


def test_making_a_preview_passes_the_gate(world: PortalWorld, door_clip: bytes) -> None:
    svc = world.svc
    deny = pol.Rule(
        id="no-redaction",
        description="test: no redaction for the residents",
        effect="deny",
        capabilities=["media.redact"],
        sectors=["nonprofit"],
        reason="test",
    )
    add_rule(svc, SETUP, deny)
    headers, clip = owner_with_clip(world, "alice", door_clip)
    rid = world.file().json()["id"]
    files = world.stored_files()
    r = world.client.post(f"/v1/portal/inbox/{rid}/previews", json={"clip_id": clip}, headers=headers)
    assert r.status_code == 403 and "no-redaction" in r.json()["error"]["message"]
    assert copies(world) == 0 and world.stored_files() == files
    assert [e.decision for e in world.audit("media.redact")] == ["deny"]


def test_unredaction_requests_are_reasoned_and_only_the_owner_answers(
    world: PortalWorld, door_clip: bytes
) -> None:
    headers, rid, clip, copy = redacted_share(world, door_clip)
    mallory, _ = owner_with_clip(world, "mallory", door_clip)
    url = f"/v1/portal/requests/{rid}/clips/{clip}/unredaction"
    ask = world.agency_headers
    for body in ({"reason": "need it", "case_number": "HPS-1"}, {"reason": REASON, "case_number": " "}):
        assert world.client.post(url, json=body, headers=ask).status_code == 400
    r = world.client.post(url, json={"reason": REASON, "case_number": "HPS-2026-0412"}, headers=ask)
    assert r.status_code == 201, r.text
    asked = r.json()
    assert asked["status"] == "pending" and asked["agency"] == "hamilton-police"
    assert (
        world.client.post(url, json={"reason": REASON, "case_number": "HPS-1"}, headers=ask).status_code
        == 409
    )

    # Another owner sees nothing and cannot answer it.
    assert world.client.get("/v1/portal/unredactions", headers=mallory).json()["requests"] == []
    for answer in ("accept", "refuse"):
        r = world.client.post(f"/v1/portal/unredactions/{asked['id']}/{answer}", headers=mallory)
        assert r.status_code == 404
    got = world.client.get(f"/v1/portal/requests/{rid}/clips/{clip}/download", headers=ask)
    assert sha(got.content) == copy["sha256"]  # still the copy

    [mine] = world.client.get("/v1/portal/unredactions", headers=headers).json()["requests"]
    assert mine["reason"] == REASON and mine["case_number"] == "HPS-2026-0412"
    r = world.client.post(f"/v1/portal/unredactions/{asked['id']}/accept", headers=headers)
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    assert (
        world.client.post(f"/v1/portal/unredactions/{asked['id']}/refuse", headers=headers).status_code == 400
    )

    got = world.client.get(f"/v1/portal/requests/{rid}/clips/{clip}/download", headers=ask)
    assert sha(got.content) == sha(door_clip) == got.headers["x-sha256"]
    info = world.svc.media.resolve_s3_object(world.agency.org_id, PORTAL_SHARED_BUCKET, f"{rid}/{clip}")
    assert info.sha256 == sha(door_clip)
    [item] = world.client.get(f"/v1/portal/requests/{rid}/clips", headers=ask).json()["clips"]
    assert item["served"] == "original" and item["unredaction"]["status"] == "accepted"

    # A second redacted share whose request is refused keeps serving the copy.
    headers_b, rid_b, clip_b, copy_b = redacted_share(world, door_clip, "bea")
    r = world.client.post(
        f"/v1/portal/requests/{rid_b}/clips/{clip_b}/unredaction",
        json={"reason": REASON, "case_number": "HPS-2"},
        headers=ask,
    )
    r = world.client.post(f"/v1/portal/unredactions/{r.json()['id']}/refuse", headers=headers_b)
    assert r.status_code == 200 and r.json()["status"] == "refused"
    got = world.client.get(f"/v1/portal/requests/{rid_b}/clips/{clip_b}/download", headers=ask)
    assert sha(got.content) == copy_b["sha256"]

    report = world.client.get("/transparency.json").json()["totals"]
    assert (report["redacted_shares"], report["unredaction_requests"]) == (2, 2)
    assert (report["unredactions_accepted"], report["unredactions_refused"]) == (1, 1)
    assert len(world.audit("footage.unredaction_accept")) == 1


def test_deleting_a_clip_shared_redacted_removes_the_copy_and_the_share(
    world: PortalWorld, door_clip: bytes
) -> None:
    _, rid, clip, copy = redacted_share(world, door_clip)
    world.svc.portal.close_request(world.agency, rid)
    world.clock.advance(days=world.svc.portal.access_days + 1)
    world.svc.portal.delete_clip(world.owners["alice@example.org"], clip)  # the session expired meanwhile
    assert copies(world) == 0
    with pytest.raises(NotFoundError):
        world.svc.media.get(world.svc.portal.residents().id, copy["name"])


def test_emergency_disclosure_is_redacted_unless_the_approver_says_why_not(
    world: PortalWorld, door_clip: bytes
) -> None:
    _, clip = owner_with_clip(world, "alice", door_clip)
    body = emergency_body(clip)

    def disclose(**approve: str) -> tuple[str, Any]:
        asked = world.client.post("/v1/portal/emergency", json=body, headers=world.operator_a_headers).json()
        url = f"/v1/portal/emergency/{asked['id']}/approve"
        return url, world.client.post(url, json=approve or None, headers=world.operator_b_headers)

    # The operator who asked cannot approve, and no copy is made for them.
    asked = world.client.post("/v1/portal/emergency", json=body, headers=world.operator_a_headers).json()
    same = world.client.post(f"/v1/portal/emergency/{asked['id']}/approve", headers=world.operator_a_headers)
    assert same.status_code == 403 and copies(world) == 0
    for org_key in world.operator_org_headers:  # an organisation-wide key is nobody: no approval, no copy
        keyed = world.client.post(f"/v1/portal/emergency/{asked['id']}/approve", headers=org_key)
        assert keyed.status_code == 403 and copies(world) == 0

    done = world.client.post(f"/v1/portal/emergency/{asked['id']}/approve", headers=world.operator_b_headers)
    assert done.status_code == 200, done.text
    assert done.json()["redacted"] is True and done.json()["unredacted_reason"] is None
    rid = done.json()["request_id"]
    got = world.client.get(f"/v1/portal/requests/{rid}/clips/{clip}/download", headers=world.agency_headers)
    assert got.status_code == 200 and sha(got.content) != sha(door_clip)
    [item] = world.client.get(f"/v1/portal/requests/{rid}/clips", headers=world.agency_headers).json()[
        "clips"
    ]
    assert item["redacted_copy"]["sha256"] == sha(got.content) and item["sha256"] == sha(door_clip)

    url, short = disclose(unredacted_reason="because")
    assert short.status_code == 400 and copies(world) == 1
    r = world.client.post(
        url,
        json={"unredacted_reason": "The kidnapper's face must be circulated now."},
        headers=world.operator_b_headers,
    )
    assert r.status_code == 200 and r.json()["redacted"] is False, r.text
    rid = r.json()["request_id"]
    got = world.client.get(f"/v1/portal/requests/{rid}/clips/{clip}/download", headers=world.agency_headers)
    assert sha(got.content) == sha(door_clip)
    disclosures = [e for e in world.audit("footage.emergency_disclosure") if e.decision == "record"]
    reasons = {e.details["unredacted_reason"] for e in disclosures}
    assert reasons == {None, "The kidnapper's face must be circulated now."}

    report = world.client.get("/transparency.json").json()["totals"]
    assert (report["redacted_shares"], report["unredacted_shares"], report["emergency_disclosures"]) == (
        1,
        1,
        2,
    )
    with world.svc.sessions() as session:
        assert session.get(Clip, clip) is not None
