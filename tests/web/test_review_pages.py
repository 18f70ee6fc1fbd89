"""The review queue in the browser: a lead from someone else's search, confirmed by two different reviewers,
never by the searcher; the case record only after review; nothing of another organisation's."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from glasshouse.config import Settings
from glasshouse.db import transaction
from glasshouse.governance.actor import Actor
from glasshouse.governance.gate import RequestContext
from glasshouse.governance.policy import Capability
from glasshouse.http.app import create_app
from glasshouse.people.service import PersonInfo
from glasshouse.services import Services
from web_support import PASSWORD, signed_in
from web_support import csrf as session_csrf

NOTICE = "INVESTIGATIVE LEAD - NOT AN IDENTIFICATION"


@dataclass
class World:
    app: FastAPI
    svc: Services
    people: dict[str, PersonInfo]
    org_ids: dict[str, str]

    def client(self, who: str) -> TestClient:
        """A browser signed in as ``who`` through the login form."""
        return signed_in(self.app, self.people[who].email)


def csrf(client: TestClient) -> str:
    return session_csrf(client, "/ui/")


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    app = create_app(settings)
    svc: Services = app.state.services
    setup = Actor(org_id="", org_name="test-setup", surface="cli")
    icac = svc.organisations.create(setup, "icac", sector="law_enforcement", flags=["child_protection"])
    shop = svc.organisations.create(setup, "shop", sector="commercial")
    roles = {
        "searcher": (icac.id, ["investigator"]),
        "searcher-reviewer": (icac.id, ["investigator", "reviewer"]),
        "rev1": (icac.id, ["reviewer"]),
        "rev2": (icac.id, ["reviewer"]),
        "auditor": (icac.id, ["auditor"]),
        "shop-rev": (shop.id, ["reviewer", "org-admin"]),
    }
    people = {
        who: svc.people.create(setup, org, f"{who}@example.test", who.title(), PASSWORD, r)
        for who, (org, r) in roles.items()
    }
    with TestClient(app):  # runs the lifespan once
        yield World(app, svc, people, {"icac": icac.id, "shop": shop.id})


def make_lead(world: World, by: str, reviewers: int, candidates: int = 1) -> str:
    """A lead as the gate's review obligation records it, for ``by``'s search."""
    actor = world.people[by].actor()
    with transaction(world.svc.sessions) as session:
        return world.svc.reviews.create(
            session,
            actor,
            capability="face.search",
            purpose="missing_person",
            case_number="CASE-2026-7",
            collection_id=None,
            probe_digest="sha256:" + "0" * 64,
            reviewers_required=reviewers,
            policy_version=1,
            candidates=[(f"face-{i}", f"person-{i}", 99.5 - i) for i in range(candidates)],
        )


def review(client: TestClient, lead_id: str, candidate_id: str, decision: str, reason: str) -> int:
    form = {"decision": decision, "reason": reason, "csrf_token": csrf(client)}
    url = f"/ui/review/leads/{lead_id}/candidates/{candidate_id}"
    return int(client.post(url, data=form, follow_redirects=False).status_code)


def candidate_of(world: World, lead_id: str) -> str:
    actor = world.people["rev1"].actor()
    return world.svc.reviews.get(actor, lead_id).candidates[0].id


def test_two_reviewers_confirm_a_console_search_and_the_record_says_lead(
    world: World, shared_data: Path
) -> None:
    ex = shared_data / "face_recognition/examples"
    enrol = Actor(org_id=world.org_ids["icac"], org_name="icac", surface="cli", is_operator=True)
    world.svc.collections.create(world.org_ids["icac"], "victims")
    obliged = RequestContext("child_exploitation_investigation", "CASE-2026-0042")
    with world.svc.gate.guard(enrol, Capability.FACE_INDEX, obliged):
        world.svc.collections.index_image(
            world.org_ids["icac"], "victims", (ex / "obama.jpg").read_bytes(), external_image_id="person-a"
        )
    searcher = world.client("searcher")
    form = {
        "csrf_token": csrf(searcher),
        "collection": "victims",
        "purpose": "child_exploitation_investigation",
        "case_number": "CASE-2026-0042",
        "threshold": "0",
    }
    image = {"image": ("probe.jpg", (ex / "obama.jpg").read_bytes(), "image/jpeg")}
    page = searcher.post("/ui/console/search", data=form, files=image)
    assert page.status_code == 200 and "Lead pending review" in page.text
    found = re.search(r"/ui/review/leads/([0-9a-f-]{36})", page.text)
    assert found is not None
    lead_id = found[1]

    rev1, rev2 = world.client("rev1"), world.client("rev2")
    queue = rev1.get("/ui/review")
    assert queue.status_code == 200 and lead_id in queue.text and "CASE-2026-0042" in queue.text
    assert 'src="data:image/jpeg;base64,' in queue.text  # the probe's face crop, kept for reviewers
    assert "person-a" in queue.text and NOTICE in queue.text
    assert f'name="csrf_token" value="{csrf(rev1)}"' in queue.text  # the review forms carry the token
    candidate = candidate_of(world, lead_id)

    assert searcher.get(f"/ui/review/leads/{lead_id}/record").status_code == 409  # nothing reviewed yet
    assert review(rev1, lead_id, candidate, "confirm", "same scar above the left eyebrow") == 303
    assert lead_id not in rev1.get("/ui/review").text  # reviewed by rev1: no longer offered to rev1
    assert review(rev1, lead_id, candidate, "confirm", "again") == 403  # the second reviewer must differ
    assert rev1.get(f"/ui/review/leads/{lead_id}/record.json").status_code == 409  # one of two
    assert lead_id in rev2.get("/ui/review").text
    assert review(rev2, lead_id, candidate, "confirm", "agree: ear shape and scar") == 303
    lead_page = rev2.get(f"/ui/review/leads/{lead_id}?reviewed=confirm")
    assert "Your review was recorded." in lead_page.text and "confirmed" in lead_page.text

    record = searcher.get(f"/ui/review/leads/{lead_id}/record")
    assert record.status_code == 200
    assert NOTICE in record.text and "same scar above the left eyebrow" in record.text
    # People by name and role, the id one hover away: never a bare person:<uuid>.
    searcher_id, rev1_id = world.people["searcher"].id, world.people["rev1"].id
    assert f'title="person:{searcher_id}">' in record.text and f'title="person:{rev1_id}">' in record.text
    assert f">person:{rev1_id}" not in record.text
    download = searcher.get(f"/ui/review/leads/{lead_id}/record.json")
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    data = json.loads(download.text)
    assert data["notice"].startswith(NOTICE) and data["status"] == "confirmed"
    assert len(data["confirmed_candidates"]) == 1 and data["case_number"] == "CASE-2026-0042"
    exports = [e for e in world.svc.audit.search() if e.action == "review.export"]
    assert len(exports) == 2  # the printable and the JSON record, each audited


def test_nobody_reviews_their_own_search(world: World) -> None:
    lead_id = make_lead(world, "searcher-reviewer", reviewers=1)
    own = world.client("searcher-reviewer")
    queue = own.get("/ui/review")
    assert queue.status_code == 200 and lead_id not in queue.text
    page = own.get(f"/ui/review/leads/{lead_id}")
    assert page.status_code == 200 and "someone else must review it" in page.text
    assert "Confirm candidate" not in page.text
    assert review(own, lead_id, candidate_of(world, lead_id), "confirm", "looks like them") == 403
    assert world.svc.reviews.get(world.people["rev1"].actor(), lead_id).status == "pending"


def test_one_reviewer_suffices_where_the_lead_asks_for_one(world: World) -> None:
    lead_id = make_lead(world, "searcher", reviewers=1)
    rev1 = world.client("rev1")
    assert review(rev1, lead_id, candidate_of(world, lead_id), "confirm", "match") == 303
    assert rev1.get(f"/ui/review/leads/{lead_id}/record").status_code == 200


def test_a_review_needs_a_reason_and_a_known_decision(world: World) -> None:
    lead_id = make_lead(world, "searcher", reviewers=1)
    rev1, candidate = world.client("rev1"), candidate_of(world, lead_id)
    assert review(rev1, lead_id, candidate, "confirm", "   ") == 400
    assert review(rev1, lead_id, candidate, "maybe", "unsure") == 400
    assert world.svc.reviews.get(world.people["rev1"].actor(), lead_id).status == "pending"


def test_a_rejected_lead_cannot_be_exported(world: World) -> None:
    lead_id = make_lead(world, "searcher", reviewers=2)
    actor = world.people["searcher"].actor()
    world.svc.reviews.keep_probe_image(actor, lead_id, b"\xff\xd8 jpeg", box={"left": 1}, width=9, height=9)
    rev1 = world.client("rev1")
    assert review(rev1, lead_id, candidate_of(world, lead_id), "reject", "different nose and chin") == 303
    assert world.svc.reviews.get(actor, lead_id).status == "rejected"
    assert world.svc.reviews.images(actor, lead_id).probe_jpeg is None  # the crop goes with the lead's use
    searcher = world.client("searcher")
    assert searcher.get(f"/ui/review/leads/{lead_id}/record").status_code == 409
    assert searcher.get(f"/ui/review/leads/{lead_id}/record.json").status_code == 409


def test_another_organisation_sees_nothing_of_a_lead(world: World) -> None:
    lead_id = make_lead(world, "searcher", reviewers=1)
    shop = world.client("shop-rev")
    assert lead_id not in shop.get("/ui/review").text
    assert shop.get(f"/ui/review/leads/{lead_id}").status_code == 404
    assert shop.get(f"/ui/review/leads/{lead_id}/record").status_code == 404
    assert review(shop, lead_id, candidate_of(world, lead_id), "confirm", "mine now") == 404


def test_review_pages_need_the_role(world: World) -> None:
    auditor = world.client("auditor")
    assert auditor.get("/ui/review").status_code == 403
    lead_id = make_lead(world, "searcher", reviewers=1)
    assert auditor.get(f"/ui/review/leads/{lead_id}").status_code == 403
    anonymous = TestClient(world.app)
    assert anonymous.get("/ui/review", follow_redirects=False).status_code == 303


def test_review_post_without_csrf_token_is_refused(world: World) -> None:
    lead_id = make_lead(world, "searcher", reviewers=1)
    rev1, candidate = world.client("rev1"), candidate_of(world, lead_id)
    url = f"/ui/review/leads/{lead_id}/candidates/{candidate}"
    assert rev1.post(url, data={"decision": "confirm", "reason": "x"}).status_code == 403
    forged = {"decision": "confirm", "reason": "x", "csrf_token": "forged"}
    assert rev1.post(url, data=forged).status_code == 403
    assert world.svc.reviews.get(world.people["rev1"].actor(), lead_id).candidates[0].reviews == []
