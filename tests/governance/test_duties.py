"""Separation of duties below the surfaces (issue 12, item 4): the one rule every surface reaches. Keys and
the CLI's operating-system user are no person; a person needs the role the policy names, from the
database at the time of the step; the policy's ``duties`` are validated like the rest of it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from glasshouse import db
from glasshouse.audit.service import AuditFilter
from glasshouse.config import Settings
from glasshouse.errors import InvalidParameterError
from glasshouse.governance import policy as pol
from glasshouse.governance.actor import Actor
from glasshouse.governance.duties import DutyRefused
from glasshouse.organisations.models import Organisation
from glasshouse.services import Services

SETUP = Actor(org_id="", org_name="test-setup", surface="cli")
PASSWORD = "correct horse battery staple"


@dataclass
class World:
    svc: Services
    org: Organisation
    searcher: Actor

    def person(self, email: str, roles: list[str], org: Organisation | None = None) -> Actor:
        """A person with ``roles`` acting through a key issued to them (in this world's organisation)."""
        person = self.svc.people.create(SETUP, org or self.org, email, email, PASSWORD, roles)
        key = self.svc.keys.create(self.org.id, person_id=person.id)
        return Actor(self.org.id, self.org.name, "rest", key_id=key.access_key_id, person=person.id)

    def lead(self) -> tuple[str, str]:
        with db.transaction(self.svc.sessions) as session:
            lead_id = self.svc.reviews.create(
                session,
                self.searcher,
                capability="face.search",
                purpose="missing_person",
                case_number="C-1",
                collection_id=None,
                probe_digest="sha256:" + "0" * 64,
                reviewers_required=2,
                policy_version=1,
                candidates=[("face-1", "person-a", 99.5)],
            )
        return lead_id, self.svc.reviews.get(self.searcher, lead_id).candidates[0].id


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    svc = Services(settings)
    org = svc.organisations.create(SETUP, "icac", sector="law_enforcement", flags=["child_protection"])
    searcher = Actor(org.id, org.name, "rest", key_id=svc.keys.create(org.id).access_key_id)
    yield World(svc, org, searcher)
    svc.close()


def _refused(world: World, actor: Actor, lead_id: str, candidate: str, message: str) -> None:
    with pytest.raises(DutyRefused, match=message):
        world.svc.reviews.review(actor, lead_id, candidate, "confirm", "looks alike")
    entries = world.svc.audit.search(AuditFilter(action="review.confirm", decision="deny"))
    assert entries[-1].rule == "separation-of-duties" and entries[-1].actor_person == actor.person
    assert world.svc.reviews.get(world.searcher, lead_id).candidates[0].reviews == []


def test_the_cli_is_no_person(world: World) -> None:
    lead_id, candidate = world.lead()
    cli = Actor(world.org.id, world.org.name, "cli", person="os:root", is_operator=True)
    _refused(world, cli, lead_id, candidate, "the cli is not issued to a person")


def test_an_org_admin_without_the_reviewer_role_is_refused_until_the_policy_names_it(world: World) -> None:
    lead_id, candidate = world.lead()
    admin = world.person("admin@icac.example", ["org-admin"])
    _refused(world, admin, lead_id, candidate, "requires the role reviewer")
    _, document = world.svc.policies.active()
    duties = document.duties.model_copy(update={"review": ["org-admin", "reviewer"]})
    world.svc.policies.change(SETUP, document.model_copy(update={"duties": duties}), "admins review too")
    assert world.svc.reviews.review(admin, lead_id, candidate, "confirm", "agree").status == "pending"


def test_a_role_taken_away_stops_the_key_at_once(world: World) -> None:
    lead_id, candidate = world.lead()
    reviewer = world.person("rev@icac.example", ["reviewer"])
    assert reviewer.person is not None
    world.svc.people.set_roles(SETUP, reviewer.person, ["investigator"])
    _refused(world, reviewer, lead_id, candidate, "requires the role reviewer")


def test_a_key_bound_to_a_person_of_another_organisation_is_refused(world: World) -> None:
    lead_id, candidate = world.lead()
    other = world.svc.organisations.create(SETUP, "elsewhere", sector="law_enforcement")
    stranger = world.person("rev@elsewhere.example", ["reviewer"], org=other)
    _refused(world, stranger, lead_id, candidate, "only an active person of organisation 'icac'")


def test_the_policy_refuses_unknown_or_empty_duty_roles() -> None:
    text = pol.default_policy_text()
    with pytest.raises(InvalidParameterError, match="unknown roles: detective"):
        pol.load_policy(text.replace("review: [reviewer]", "review: [detective]"))
    with pytest.raises(InvalidParameterError, match=r"duties\.review"):
        pol.load_policy(text.replace("review: [reviewer]", "review: []"))
    assert pol.load_policy(pol.dump_policy(pol.default_policy())) == pol.default_policy()
