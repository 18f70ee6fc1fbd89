"""Probe and candidate side by side: a collection that opted in to keeping enrolled faces' crops shows the
candidate's crop to the lead's reviewers through one gated, audited, never-cached route; a collection without
the opt-in says so plainly. Tried as an attacker: another organisation, a collection without the opt-in,
a role that may not review, the searcher, a deleted face, made-up ids: each a refusal that reveals nothing."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from glasshouse.audit.service import AuditFilter
from glasshouse.collections.models import FaceCrop
from glasshouse.db import transaction
from glasshouse.governance.actor import Actor
from glasshouse.governance.gate import RequestContext
from glasshouse.governance.policy import Capability
from glasshouse.review.service import NO_CROP
from web import test_review_pages
from web.test_review_pages import World

#: The review pages' world (two organisations, searchers, reviewers, an auditor), as a fixture here too.
world = test_review_pages.world

REASON = "Reviewers compare faces before a lead reaches the case team."
NO_CROPS_STATEMENT = "No enrolled image is kept for this collection"


def _enrol(world: World, collection: str, photo: Path, external_id: str) -> str:
    org = world.org_ids["icac"]
    operator = Actor(org_id=org, org_name="icac", surface="cli", is_operator=True)
    obliged = RequestContext("child_exploitation_investigation", "CASE-7")
    with world.svc.gate.guard(operator, Capability.FACE_INDEX, obliged):
        outcome = world.svc.collections.index_image(
            org, collection, photo.read_bytes(), external_image_id=external_id
        )
    [(record, _)] = outcome.indexed
    return record.id


def _lead(world: World, collection: str, face_id: str, by: str = "searcher") -> tuple[str, str]:
    """A lead naming ``face_id`` as its candidate, as the review obligation records a search's results."""
    actor = world.people[by].actor()
    found = world.svc.collections.get(world.org_ids["icac"], collection)
    with transaction(world.svc.sessions) as session:
        lead_id = world.svc.reviews.create(
            session,
            actor,
            capability="face.search",
            purpose="missing_person",
            case_number="CASE-7",
            collection_id=found.id,
            probe_digest="sha256:" + "1" * 64,
            reviewers_required=1,
            policy_version=None,
            candidates=[(face_id, "person-a", 97.5)],
        )
    return lead_id, world.svc.reviews.get(actor, lead_id).candidates[0].id


def _url(lead_id: str, candidate_id: str) -> str:
    return f"/ui/review/leads/{lead_id}/candidates/{candidate_id}/crop"


def _refused_quietly(response: httpx.Response, *secrets: str) -> None:
    assert response.status_code == 404
    text = response.text
    assert NO_CROP in text and "image/jpeg" not in response.headers["content-type"]
    for secret in secrets:
        assert secret not in text


def _setup(world: World, shared_data: Path) -> dict[str, str]:
    org = world.org_ids["icac"]
    rev = world.people["rev1"].actor()
    world.svc.collections.create(org, "kept", face_crops_reason=REASON, by=rev)
    world.svc.collections.create(org, "plain")
    photo = shared_data / "face_recognition/examples/obama.jpg"
    kept_face, plain_face = (
        _enrol(world, "kept", photo, "person-a"),
        _enrol(world, "plain", photo, "person-a"),
    )
    kept_lead, kept_cand = _lead(world, "kept", kept_face)
    plain_lead, plain_cand = _lead(world, "plain", plain_face)
    return {
        "kept_face": kept_face,
        "kept_lead": kept_lead,
        "kept_cand": kept_cand,
        "plain_lead": plain_lead,
        "plain_cand": plain_cand,
    }


def test_reviewers_see_both_faces_where_the_collection_keeps_crops(world: World, shared_data: Path) -> None:
    ids = _setup(world, shared_data)
    rev1 = world.client("rev1")
    page = rev1.get(f"/ui/review/leads/{ids['kept_lead']}")
    url = _url(ids["kept_lead"], ids["kept_cand"])
    assert page.status_code == 200 and f'src="{url}"' in page.text and NO_CROPS_STATEMENT not in page.text
    assert "side by side" in page.text

    crop = rev1.get(url)
    assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"
    assert crop.headers["cache-control"] == "no-store"
    with world.svc.sessions() as session:
        row = session.scalar(select(FaceCrop).where(FaceCrop.face_id == ids["kept_face"]))
    assert row is not None and crop.content == world.svc.collections.open_crop(row)
    assert crop.content.startswith(b"\xff\xd8") and crop.content not in row.sealed

    [view] = world.svc.audit.search(AuditFilter(action="review.crop_view"))
    assert view.details == {"lead_id": ids["kept_lead"], "candidate_id": ids["kept_cand"]}
    assert view.actor_person == world.people["rev1"].id
    assert "/9j/" not in json.dumps(view.details)


def test_without_the_opt_in_the_page_says_so_and_the_route_has_nothing(
    world: World, shared_data: Path
) -> None:
    ids = _setup(world, shared_data)
    rev1 = world.client("rev1")
    page = rev1.get(f"/ui/review/leads/{ids['plain_lead']}")
    assert page.status_code == 200 and NO_CROPS_STATEMENT in page.text
    assert "compare it against the case file" in page.text and "/crop" not in page.text
    _refused_quietly(rev1.get(_url(ids["plain_lead"], ids["plain_cand"])))


def test_the_crop_route_refuses_attackers_and_reveals_nothing(world: World, shared_data: Path) -> None:
    ids = _setup(world, shared_data)
    url = _url(ids["kept_lead"], ids["kept_cand"])
    # Another organisation's reviewer and admin: the same answer as for ids that do not exist.
    _refused_quietly(world.client("shop-rev").get(url), ids["kept_face"], "person-a")
    rev1 = world.client("rev1")
    _refused_quietly(rev1.get(_url(str(uuid.uuid4()), ids["kept_cand"])))
    _refused_quietly(rev1.get(_url(ids["kept_lead"], str(uuid.uuid4()))))
    _refused_quietly(rev1.get(_url(ids["kept_lead"], ids["plain_cand"])))  # a candidate of another lead
    # Roles that may not review: refused before anything is looked up.
    assert world.client("searcher").get(url).status_code == 403  # the investigator who searched
    assert world.client("auditor").get(url).status_code == 403
    assert TestClient(world.app).get(url, follow_redirects=False).status_code == 303  # to the login page
    # A reviewer who made the search: separation of duties, recorded as a denial.
    own_lead, own_cand = _lead(world, "kept", ids["kept_face"], by="searcher-reviewer")
    own = world.client("searcher-reviewer")
    assert own.get(_url(own_lead, own_cand)).status_code == 403
    assert _url(own_lead, own_cand) not in own.get(f"/ui/review/leads/{own_lead}").text
    denials = [
        e for e in world.svc.audit.search(AuditFilter(action="review.crop_view")) if e.decision == "deny"
    ]
    assert [d.details["lead_id"] for d in denials] == [own_lead]
    assert [
        e for e in world.svc.audit.search(AuditFilter(action="review.crop_view")) if e.decision == "record"
    ] == []

    # A deleted face: its crop went with it.
    deleted, _ = world.svc.collections.delete_faces(world.org_ids["icac"], "kept", [ids["kept_face"]])
    assert deleted == [ids["kept_face"]]
    _refused_quietly(rev1.get(url))
    page = rev1.get(f"/ui/review/leads/{ids['kept_lead']}")
    assert "No longer enrolled" in page.text and url not in page.text
