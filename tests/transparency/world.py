"""An audit log built from real gate decisions, reviews and policy changes over four months of 2026."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from glasshouse import db
from glasshouse.config import Settings
from glasshouse.governance.actor import Actor
from glasshouse.governance.audit_events import change_event
from glasshouse.governance.gate import PolicyDenied, RequestContext
from glasshouse.governance.policy import Capability
from glasshouse.services import Services

MORATORIUM = "police-moratorium-2020"
#: An unmet obligation is recorded under the rule that imposed it.
SAFEGUARDS = "law-enforcement-search-safeguards"
#: Strings that must never appear in any public output.
PRIVATE = (
    "CASE-SECRET-7731",
    "CASE-SECRET-9001",
    "alice-private@example.org",
    "bob-private@example.org",
    "reviewer-one-private",
    "reviewer-two-private",
    "GHKEYPRIVATE00000001",
    "GHKEYPRIVATE00000002",
    "criminal_investigation",
    "child_exploitation_investigation",
    "reason-private-text",
)


class Clock:
    """Set by the test; each reading moves one second on, so entries keep a strict order."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def set(self, moment: datetime) -> None:
        self.now = moment

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@dataclass
class World:
    svc: Services
    clock: Clock
    settings: Settings


def _allow(
    svc: Services, actor: Actor, capability: Capability, n: int = 1, request: RequestContext | None = None
) -> None:
    for _ in range(n):
        with svc.gate.guard(actor, capability, request):
            pass


def _deny(
    svc: Services, actor: Actor, capability: Capability, n: int = 1, request: RequestContext | None = None
) -> None:
    for _ in range(n):
        with pytest.raises(PolicyDenied), svc.gate.guard(actor, capability, request):
            pass


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    """January: shop searches, police are stopped by the moratorium, icac (exempt) searches once and is
    refused once for a missing case number. February: more moratorium denials, a review. April: the
    moratorium is lifted, police search, request footage and record an emergency disclosure."""
    clock = Clock()
    svc = Services(settings, clock=clock)
    setup = Actor(org_id="", org_name="test-setup", surface="cli")
    svc.policies.active()  # seeds the default policy: one policy change by the system
    orgs = {
        "operators": svc.organisations.create(
            setup, "operators", sector="other_government", is_operator=True
        ),
        "police": svc.organisations.create(setup, "police", sector="law_enforcement"),
        "icac": svc.organisations.create(setup, "icac", sector="law_enforcement", flags=["child_protection"]),
        "shop": svc.organisations.create(setup, "shop", sector="commercial"),
    }

    def actor(name: str, person: str | None = None, key: str | None = None) -> Actor:
        org = orgs[name]
        return Actor(org_id=org.id, org_name=org.name, surface="rest", person=person, key_id=key)

    shop = actor("shop", key="GHKEYPRIVATE00000001")
    police = actor("police", person="alice-private@example.org")
    icac = actor("icac", person="bob-private@example.org", key="GHKEYPRIVATE00000002")
    secret_case = RequestContext("child_exploitation_investigation", "CASE-SECRET-7731")

    clock.set(datetime(2026, 1, 10, tzinfo=UTC))
    _allow(svc, shop, Capability.FACE_DETECT, 3)
    _allow(svc, shop, Capability.FACE_SEARCH, 2, RequestContext("fraud_prevention"))
    _deny(svc, police, Capability.FACE_SEARCH, 4, request=secret_case)
    _allow(svc, police, Capability.FACE_DETECT)
    _allow(svc, icac, Capability.FACE_SEARCH, request=secret_case)
    _deny(
        svc, icac, Capability.FACE_SEARCH, request=RequestContext("child_exploitation_investigation")
    )  # no case

    clock.set(datetime(2026, 2, 3, tzinfo=UTC))
    _deny(svc, police, Capability.FACE_SEARCH, 2)
    _allow(svc, shop, Capability.FACE_COMPARE)
    with db.transaction(svc.sessions) as session:
        lead = svc.reviews.create(
            session,
            icac,
            capability="face.search",
            purpose=secret_case.purpose,
            case_number=secret_case.case_number,
            collection_id=None,
            probe_digest="sha256:" + "0" * 64,
            reviewers_required=2,
            policy_version=1,
            candidates=[("face-a", None, 99.6), ("face-b", None, 99.2)],
        )
    first, second = svc.reviews.get(icac, lead).candidates
    # Reviewers are people holding the reviewer role (separation of duties binds people, not keys).
    reviewers = [
        svc.people.create(
            setup, orgs["icac"], f"{name}@icac.example", name, "correct horse battery", ["reviewer"]
        )
        for name in ("reviewer-one-private", "reviewer-two-private")
    ]
    reviewer1 = actor("icac", person=reviewers[0].id)
    reviewer2 = actor("icac", person=reviewers[1].id)
    svc.reviews.review(reviewer1, lead, first.id, "confirm", "reason-private-text")
    svc.reviews.review(reviewer2, lead, first.id, "confirm", "reason-private-text")
    svc.reviews.review(reviewer1, lead, second.id, "reject", "reason-private-text")

    clock.set(datetime(2026, 4, 20, tzinfo=UTC))
    operator = Actor(
        org_id=orgs["operators"].id, org_name="operators", surface="cli", person="os:root", is_operator=True
    )
    svc.policies.lift(operator, MORATORIUM, "test: regulation passed")
    police_case = RequestContext("criminal_investigation", "CASE-SECRET-9001")
    _allow(svc, police, Capability.FACE_SEARCH, request=police_case)
    _allow(svc, police, Capability.FOOTAGE_REQUEST, request=police_case)
    svc.audit.record(
        change_event(police, "footage.emergency_disclosure", {"case_number": "CASE-SECRET-9001"})
    )
    try:
        yield World(svc, clock, settings)
    finally:
        svc.close()
