"""Redacted sharing tried as an attacker, through the REST API and the pages on a real clip (the first second
of the shared Hamilton clip): the operator who asked for an emergency disclosure cannot approve it, with the
clips as recorded, through a second key or a browser session of their own; an agency given a redacted copy
reaches the original by no path (REST and UI downloads with and without a Range, the media and copy routes,
the residents' object name) and another agency reaches neither; owners cannot pass off, watch or delete
copies that are not their own previews; nobody but the clip's owner answers an unredaction request."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest
from sqlalchemy import func, select

from glasshouse.config import Settings
from glasshouse.portal.models import EmergencyDisclosure, Share, UnredactionRequest
from portal.conftest import PortalWorld, emergency_body
from portal.test_portal_redaction import (
    REASON,
    copies,
    owner_with_clip,
    preview,
    redacted_share,
    sha,
    share_redacted,
)
from web_support import PASSWORD, SETUP, cheap_hashes, csrf_of, signed_in

NOBODY = "00000000-0000-0000-0000-000000000000"
WHY = "The kidnapper's face must be circulated to every patrol now."


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The app's own job runner waits (hourly): nothing here needs it."""
    return settings.model_copy(update={"job_poll_seconds": 3600.0})


def _count(world: PortalWorld, model: Any) -> int:
    with world.svc.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_the_asker_cannot_approve_unredacted_through_another_key_or_session_of_their_own(
    world: PortalWorld, door_clip: bytes, monkeypatch: Any
) -> None:
    cheap_hashes(monkeypatch)
    _, clip = owner_with_clip(world, "alice", door_clip)
    body = emergency_body(clip)
    asked = world.client.post("/v1/portal/emergency", json=body, headers=world.operator_a_headers).json()
    url = f"/v1/portal/emergency/{asked['id']}/approve"
    # A second key issued to the same person is the same person.
    second = world.svc.keys.create(world.operator_a.org_id, person_id=world.operator_a.person)
    again = {"Authorization": f"Bearer {second.access_key_id}:{second.secret}"}
    refused = world.client.post(url, json={"unredacted_reason": WHY}, headers=again)
    assert refused.status_code == 403, refused.text
    # So is the same person signed in to the pages.
    browser = signed_in(world.client.app, "ola@ops.example")  # type: ignore[arg-type]
    token = csrf_of(browser.get("/ui/portal/emergency").text)
    form = {"csrf_token": token, "disclose": "unredacted", "unredacted_reason": WHY}
    page = browser.post(f"/ui/portal/emergency/{asked['id']}/approve", data=form)
    assert page.status_code == 403
    # An organisation-wide key is nobody.
    for org_key in world.operator_org_headers:
        assert world.client.post(url, json={"unredacted_reason": WHY}, headers=org_key).status_code == 403
    with world.svc.sessions() as session:
        row = session.get(EmergencyDisclosure, asked["id"])
        assert row is not None and row.status == "pending" and row.unredacted_reason is None
    assert _count(world, Share) == 0 and copies(world) == 0
    # The second operator may: proof the refusals were about the person, not the request.
    done = world.client.post(url, json={"unredacted_reason": WHY}, headers=world.operator_b_headers)
    assert done.status_code == 200 and done.json()["redacted"] is False


def test_an_agency_given_a_redacted_copy_reaches_the_original_by_no_path(
    world: PortalWorld, door_clip: bytes, monkeypatch: Any
) -> None:
    cheap_hashes(monkeypatch)
    _, rid, clip, copy = redacted_share(world, door_clip)
    agency, other = world.agency_headers, world.other_agency_headers
    client = world.client
    full = client.get(f"/v1/portal/requests/{rid}/clips/{clip}/download", headers=agency)
    assert full.status_code == 200 and sha(full.content) == copy["sha256"] != sha(door_clip)

    # The page's download, whole and by ranges (a <video> seeks with them): always the copy's bytes.
    svc = world.svc
    svc.people.create(SETUP, world.agency.org_id, "ivy@police.example", "Ivy", PASSWORD, ["investigator"])
    browser = signed_in(client.app, "ivy@police.example")  # type: ignore[arg-type]
    page_url = f"/ui/portal/requests/{rid}/clips/{clip}/download"
    assert browser.get(page_url).content == full.content
    for rng, part in (("bytes=0-99", full.content[:100]), ("bytes=-50", full.content[-50:])):
        got = browser.get(page_url, headers={"Range": rng})
        assert got.status_code == 206 and got.content == part, rng
    beyond = browser.get(page_url, headers={"Range": f"bytes={len(full.content)}-"})
    assert beyond.status_code == 416 and not beyond.content

    # The original by the residents' object name, the copy by its id on the release-copy routes, the
    # copy's own object name: the agency holds none of them.
    copy_name = f"redacted/{copy['id']}.mp4"
    for path in (
        f"/v1/media/portal/{clip}",
        f"/v1/media/{copy_name}",
        f"/v1/redaction/copies/{copy['id']}",
        f"/v1/redaction/copies/{copy['id']}/content",
        f"/v1/portal/previews/{copy['id']}",
    ):
        got = client.get(path, headers=agency)
        assert got.status_code in (401, 404), (path, got.status_code)
        assert door_clip[:4096] not in got.content
    # Another agency: the clip, the copy and an unredaction request all answer like made-up ids.
    for path in (f"/v1/portal/requests/{rid}/clips/{clip}/download", f"/v1/portal/requests/{rid}/clips"):
        theirs, missing = (
            client.get(path, headers=other),
            client.get(path.replace(clip, NOBODY), headers=other),
        )
        assert theirs.status_code == 404 and missing.status_code == 404, path
    body = {"reason": REASON, "case_number": "OPS-1"}
    url = f"/v1/portal/requests/{rid}/clips/{clip}/unredaction"
    theirs = client.post(url, json=body, headers=other)
    missing = client.post(url.replace(clip, NOBODY), json=body, headers=other)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["error"]["code"] == missing.json()["error"]["code"]
    assert _count(world, UnredactionRequest) == 0


def test_owners_cannot_use_watch_or_delete_copies_that_are_not_their_own_previews(
    world: PortalWorld, door_clip: bytes
) -> None:
    alice, clip = owner_with_clip(world, "alice", door_clip)
    bob, bob_clip = owner_with_clip(world, "bob", door_clip)
    rid = world.file().json()["id"]
    bobs = preview(world, bob, rid, bob_clip)
    # An emergency copy of alice's own clip (made by the approving operator): not her preview either.
    body = emergency_body(clip)
    asked = world.client.post("/v1/portal/emergency", json=body, headers=world.operator_a_headers).json()
    approved = world.client.post(
        f"/v1/portal/emergency/{asked['id']}/approve", headers=world.operator_b_headers
    )
    assert approved.status_code == 200, approved.text
    with world.svc.sessions() as session:
        emergency_copy = session.scalar(select(Share.redacted_copy_id).where(Share.clip_id == clip))
    assert emergency_copy is not None
    before = copies(world)
    for copy_id in (bobs["id"], emergency_copy, NOBODY):
        shared = share_redacted(world, alice, rid, clip, copy_id)
        assert shared.status_code == 404, (copy_id, shared.text)
        assert world.client.get(f"/v1/portal/previews/{copy_id}", headers=alice).status_code == 404
        assert world.client.delete(f"/v1/portal/previews/{copy_id}", headers=alice).status_code == 404
    # Bob's preview offered for bob's clip by alice, or for alice's clip by bob: refused too.
    assert share_redacted(world, alice, rid, bob_clip, bobs["id"]).status_code == 404
    assert share_redacted(world, bob, rid, clip, bobs["id"]).status_code == 404
    assert copies(world) == before
    assert _count(world, Share) == 1  # the emergency share only


def test_only_the_clips_owner_answers_an_unredaction_request(world: PortalWorld, door_clip: bytes) -> None:
    alice, rid, clip, _ = redacted_share(world, door_clip)
    bob, _ = owner_with_clip(world, "bob", door_clip)
    body = {"reason": REASON, "case_number": "HPS-2026-0042"}
    filed = world.client.post(
        f"/v1/portal/requests/{rid}/clips/{clip}/unredaction", json=body, headers=world.agency_headers
    )
    assert filed.status_code == 201, filed.text
    uid = filed.json()["id"]
    for answer in ("accept", "refuse"):
        theirs = world.client.post(f"/v1/portal/unredactions/{uid}/{answer}", headers=bob)
        missing = world.client.post(f"/v1/portal/unredactions/{NOBODY}/{answer}", headers=bob)
        assert theirs.status_code == missing.status_code == 404
        assert theirs.json()["error"]["code"] == missing.json()["error"]["code"]
        for key in (world.agency_headers, world.operator_b_headers):  # a key is no owner's session
            assert (
                world.client.post(f"/v1/portal/unredactions/{uid}/{answer}", headers=key).status_code == 401
            )
    assert world.client.get("/v1/portal/unredactions", headers=bob).json() == {"requests": []}
    # A second request while one waits is refused; nothing was answered by anyone but alice.
    again = world.client.post(
        f"/v1/portal/requests/{rid}/clips/{clip}/unredaction", json=body, headers=world.agency_headers
    )
    assert again.status_code == 409
    with world.svc.sessions() as session:
        assert session.scalar(select(UnredactionRequest.status)) == "pending"
    accepted = world.client.post(f"/v1/portal/unredactions/{uid}/accept", headers=alice)
    assert accepted.status_code == 200
    twice = world.client.post(f"/v1/portal/unredactions/{uid}/refuse", headers=alice)
    assert twice.status_code == 400 and twice.json()["error"]["code"] == "RequestClosed"
    got = world.client.get(f"/v1/portal/requests/{rid}/clips/{clip}/download", headers=world.agency_headers)
    assert sha(got.content) == sha(door_clip)  # now, and only now, the original


def _at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` on threads released together; each outcome is its result or the exception it raised."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait()
        try:
            return call()
        except Exception as exc:  # the outcome under test
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_one_person_approving_twice_at_once_discloses_once(world: PortalWorld, door_clip: bytes) -> None:
    """Two approvals of one disclosure racing (a double submit, two keys of the approver): one succeeds, the
    other is refused, and the agency gets one emergency request. Before, on PostgreSQL both passed the
    pending check and each created a request, shares and a disclosure entry (counted twice)."""
    _, clip = owner_with_clip(world, "alice", door_clip)
    svc = world.svc
    for attempt in range(3):
        asked = svc.portal.emergency_request(
            world.operator_a, "hamilton-police", [clip], "Child abducted at 10:40; the car passed.", "HPS-9"
        )
        outcomes = _at_once(
            [
                partial(svc.portal.emergency_approve, world.operator_b, asked.id, unredacted_reason=WHY),
                partial(svc.portal.emergency_approve, world.operator_b, asked.id, unredacted_reason=WHY),
            ]
        )
        approved = [o for o in outcomes if not isinstance(o, Exception)]
        assert len(approved) == 1, (attempt, outcomes)
        with svc.sessions() as session:
            requests = session.scalar(
                select(func.count(func.distinct(Share.request_id))).where(Share.clip_id == clip)
            )
        assert requests == attempt + 1
    disclosures = [e for e in world.audit("footage.emergency_disclosure") if e.decision == "record"]
    assert len(disclosures) == 3


def test_an_owner_answering_twice_at_once_gives_one_answer(world: PortalWorld, door_clip: bytes) -> None:
    """Accept and refuse racing (two tabs): one answer stands, and the agency gets the original only if
    that answer is the acceptance."""
    alice_headers, rid, clip, _ = redacted_share(world, door_clip)
    owner = world.svc.people.session_for(alice_headers["Authorization"].split(" ", 1)[1])
    assert owner is not None
    body = {"reason": REASON, "case_number": "HPS-2026-0042"}
    for attempt in range(3):
        filed = world.client.post(
            f"/v1/portal/requests/{rid}/clips/{clip}/unredaction", json=body, headers=world.agency_headers
        )
        assert filed.status_code == 201, filed.text
        uid = filed.json()["id"]
        answer = partial(world.svc.portal.answer_unredaction, owner.person.id, uid)
        outcomes = _at_once([partial(answer, False), partial(answer, True)])
        answered = [o for o in outcomes if not isinstance(o, Exception)]
        assert len(answered) == 1, (attempt, outcomes)
        with world.svc.sessions() as session:
            status = session.scalar(select(UnredactionRequest.status).where(UnredactionRequest.id == uid))
            unredacted = session.scalar(select(Share.unredacted_at).where(Share.clip_id == clip))
        assert status == answered[0].status
        if status == "accepted":
            assert unredacted is not None
            return
        assert unredacted is None, "refused, yet the agency was given the original"


def test_two_unredaction_requests_at_once_leave_one_pending(world: PortalWorld, door_clip: bytes) -> None:
    _, rid, clip, _ = redacted_share(world, door_clip)
    ask = partial(world.svc.portal.request_unredaction, world.agency, rid, clip, REASON, "HPS-2026-0042")
    outcomes = _at_once([ask, ask])
    assert sum(not isinstance(o, Exception) for o in outcomes) == 1, outcomes
    assert _count(world, UnredactionRequest) == 1
