"""Separation of duties: four-eyes steps bind people, not keys.

Reviewing a lead, asking for and approving an emergency disclosure are each done by a *person*: signed in
to the UI, or through an access key issued to that person (which acts as them). An organisation-wide key,
the CLI's operating-system user or a job never qualifies. The person must hold a role the policy's
``duties`` name for the step, belong to the actor's organisation, not be disabled, and be neither the one
who asked nor one who already took part (people are compared, never keys).

    with duties.step(actor, "review", "review.confirm", lead_id=lead_id) as check:
        with transaction(sessions) as session:
            check.require_distinct_person(session, requested_by=lead.requested_by)
            ...

A refusal is :class:`DutyRefused` (AccessDenied / HTTP 403) and a ``deny`` audit entry under the rule
``separation-of-duties``, written once the refused transaction has rolled back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.orm import Session

from glasshouse.audit.service import AuditLog
from glasshouse.governance.actor import Actor
from glasshouse.governance.audit_events import event
from glasshouse.governance.gate import PolicyDenied
from glasshouse.governance.store import PolicyStore
from glasshouse.people.models import Person

RULE = "separation-of-duties"
Duty = Literal["review", "emergency_request", "emergency_approval"]
_WHAT: dict[str, str] = {
    "review": "review a lead",
    "emergency_request": "ask for an emergency disclosure",
    "emergency_approval": "approve an emergency disclosure",
}


class DutyRefused(PolicyDenied):
    """A four-eyes step attempted by a key instead of a person, by a person without the role, or by the
    person who asked (or who already took part)."""

    code = "SeparationOfDuties"


def person_of(principal: str) -> str | None:
    """The person id in ``person:<id>`` (None for keys and surfaces)."""
    kind, _, ident = principal.partition(":")
    return ident if kind == "person" and ident else None


class Duties:
    def __init__(self, audit: AuditLog, policies: PolicyStore) -> None:
        self.audit = audit
        self.policies = policies

    def roles(self, duty: Duty) -> frozenset[str]:
        """The roles the active policy names for ``duty``."""
        _, document = self.policies.active()
        return frozenset(getattr(document.duties, duty))

    def may(self, roles: Iterable[str], duty: Duty) -> bool:
        """Whether someone holding ``roles`` may do ``duty`` at all (pages use it to offer the step)."""
        return not self.roles(duty).isdisjoint(roles)

    @contextmanager
    def step(self, actor: Actor, duty: Duty, action: str, **details: Any) -> Iterator[DutyCheck]:
        """A four-eyes step of ``actor``: the check to make inside the step's transaction. A
        :class:`DutyRefused` raised inside is recorded as a ``deny`` of ``action`` (after that transaction
        has rolled back) and re-raised. The policy's roles are read first, outside the transaction."""
        check = DutyCheck(actor, duty, self.roles(duty))
        try:
            yield check
        except DutyRefused as exc:
            self.audit.record(
                event(actor, action, "deny", rule=RULE, details={**details, "reason": exc.message})
            )
            raise


@dataclass(frozen=True, slots=True)
class DutyCheck:
    actor: Actor
    duty: Duty
    roles: frozenset[str]

    def require_distinct_person(
        self, session: Session, *, requested_by: str | None = None, already: Iterable[str] = ()
    ) -> str:
        """The actor's principal (``person:<id>``) if a person of the actor's organisation holding one of the
        duty's roles, other than ``requested_by`` and everyone in ``already``; else :class:`DutyRefused`."""
        actor, what = self.actor, _WHAT[self.duty]
        person = session.get(Person, actor.person) if actor.person else None
        if person is None:
            via = f"access key {actor.key_id}" if actor.key_id else f"the {actor.surface}"
            raise DutyRefused(
                f"only a person may {what}: {via} is not issued to a person "
                "(sign in, or use a key issued to you)"
            )
        if person.disabled or person.org_id != actor.org_id:
            raise DutyRefused(f"only an active person of organisation {actor.org_name!r} may {what}")
        if self.roles.isdisjoint(person.roles or []):
            raise DutyRefused(
                f"to {what} the policy requires the role {' or '.join(sorted(self.roles))}; "
                f"{person.email} holds {', '.join(sorted(person.roles or [])) or 'no role'}"
            )
        principal = actor.principal
        if requested_by is not None and principal == requested_by:
            raise DutyRefused(f"nobody may {what} they asked for themselves: a different person must")
        if principal in set(already):
            raise DutyRefused(f"you already took part; a different person must {what}")
        return principal
