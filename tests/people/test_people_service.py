"""People: accounts, roles, password sign-in with lockout, and web sessions."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from clock import ManualClock
from glasshouse.audit.service import AuditFilter
from glasshouse.config import Settings
from glasshouse.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from glasshouse.governance.actor import Actor
from glasshouse.people import passwords
from glasshouse.people.models import Person, WebSession
from glasshouse.people.passwords import PasswordPolicyError
from glasshouse.people.service import AccountLockedError, AuthenticationError
from glasshouse.services import Services

SETUP = Actor(org_id="", org_name="test-setup", surface="cli", is_operator=True)
PASSWORD = "correct horse battery staple"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2030, 1, 1, 9, 0, tzinfo=UTC))


@pytest.fixture
def svc(settings: Settings, clock: ManualClock) -> Iterator[Services]:
    services = Services(settings, clock=clock)
    yield services
    services.close()


@pytest.fixture
def orgs(svc: Services) -> tuple[str, str]:
    ops = svc.organisations.create(SETUP, "ops", sector="commercial", is_operator=True)
    acme = svc.organisations.create(SETUP, "acme", sector="commercial")
    return ops.id, acme.id


@pytest.mark.production_password_hashes
def test_default_hash_is_argon2id_with_rfc9106_parameters() -> None:
    hashed = passwords.hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert passwords.verify(hashed, PASSWORD) and not passwords.verify(hashed, PASSWORD + "!")
    assert not passwords.verify("not a hash", PASSWORD)


def test_create_lowercases_email_hashes_password_and_audits_without_it(
    svc: Services, orgs: tuple[str, str]
) -> None:
    person = svc.people.create(SETUP, "acme", "  Ada@Example.ORG ", "Ada", PASSWORD, ["investigator"])
    assert person.email == "ada@example.org" and person.org_name == "acme"
    assert person.roles == frozenset({"investigator"})
    with svc.sessions() as session:
        row = session.get(Person, person.id)
        assert row is not None and row.password_hash.startswith("$argon2id$")
        assert PASSWORD not in row.password_hash
    [entry] = svc.audit.search(AuditFilter(action="person.create"))
    assert entry.details["email"] == "ada@example.org" and entry.details["roles"] == ["investigator"]
    assert PASSWORD not in str(entry.details)
    assert svc.people.get(person.id) == person == svc.people.get_by_email("ADA@example.org")
    with pytest.raises(AlreadyExistsError):
        svc.people.create(SETUP, orgs[1], "ada@EXAMPLE.org", "Ada 2", PASSWORD)


def test_create_refuses_weak_passwords_unknown_roles_and_operators_outside_operator_orgs(
    svc: Services, orgs: tuple[str, str]
) -> None:
    with pytest.raises(PasswordPolicyError, match="12 characters"):
        svc.people.create(SETUP, "acme", "a@example.org", "A", "short")
    with pytest.raises(PasswordPolicyError):
        svc.people.create(SETUP, "acme", "a@example.org", "A", "aaaaaaaaaaaaaaaa")
    with pytest.raises(InvalidParameterError, match="unknown roles"):
        svc.people.create(SETUP, "acme", "a@example.org", "A", PASSWORD, ["admin"])
    with pytest.raises(InvalidParameterError, match="operators' organisation"):
        svc.people.create(SETUP, "acme", "a@example.org", "A", PASSWORD, ["operator"])
    with pytest.raises(InvalidParameterError, match="email"):
        svc.people.create(SETUP, "acme", "not-an-email", "A", PASSWORD)
    with pytest.raises(NotFoundError):
        svc.people.create(SETUP, "nowhere", "a@example.org", "A", PASSWORD)
    op = svc.people.create(SETUP, orgs[0], "op@example.org", "Op", PASSWORD, ["operator"])
    assert op.actor().is_operator and op.actor().person == op.id and op.actor().surface == "ui"
    assert [p.email for p in svc.people.list()] == ["op@example.org"]
    assert svc.people.list(orgs[1]) == []


def test_set_roles_is_audited_with_before_and_after(svc: Services, orgs: tuple[str, str]) -> None:
    person = svc.people.create(SETUP, "acme", "r@example.org", "R", PASSWORD, ["reviewer"])
    assert not person.actor().is_operator
    changed = svc.people.set_roles(SETUP, person.id, ["auditor", "investigator"])
    assert changed.roles == frozenset({"auditor", "investigator"})
    [entry] = svc.audit.search(AuditFilter(action="person.roles"))
    assert entry.details["before"] == ["reviewer"]
    assert entry.details["after"] == ["auditor", "investigator"]
    assert entry.actor_org_name == "test-setup"
    with pytest.raises(InvalidParameterError):
        svc.people.set_roles(SETUP, person.id, ["operator"])
    assert svc.people.get(person.id).roles == frozenset({"auditor", "investigator"})


def test_unknown_email_and_wrong_password_fail_alike_and_unknown_costs_a_hash_check(
    svc: Services, orgs: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    svc.people.create(SETUP, "acme", "u@example.org", "U", PASSWORD)
    dummies: list[str] = []
    real_dummy = passwords.verify_dummy

    def spy(password: str) -> None:
        dummies.append(password)
        real_dummy(password)

    monkeypatch.setattr(passwords, "verify_dummy", spy)
    with pytest.raises(AuthenticationError) as unknown:
        svc.people.authenticate("nobody@example.org", PASSWORD)
    with pytest.raises(AuthenticationError) as wrong:
        svc.people.authenticate("u@example.org", "wrong password here")
    assert type(unknown.value) is type(wrong.value) is AuthenticationError
    assert unknown.value.message == wrong.value.message == "wrong email or password"
    assert dummies == [PASSWORD]
    assert svc.people.authenticate(" U@Example.org", PASSWORD).email == "u@example.org"


def test_five_failures_lock_for_fifteen_minutes_then_unlock(
    svc: Services, orgs: tuple[str, str], clock: ManualClock
) -> None:
    svc.people.create(SETUP, "acme", "l@example.org", "L", PASSWORD)
    for _ in range(4):
        with pytest.raises(AuthenticationError):
            svc.people.authenticate("l@example.org", "wrong password!")
    svc.people.authenticate("l@example.org", PASSWORD)  # success resets the count
    for _ in range(5):
        with pytest.raises(AuthenticationError) as exc:
            svc.people.authenticate("l@example.org", "wrong password!")
        assert not isinstance(exc.value, AccountLockedError)
    with pytest.raises(AccountLockedError, match="09:15 UTC"):
        svc.people.authenticate("l@example.org", PASSWORD)  # the right password while locked
    [locked] = svc.audit.search(AuditFilter(action="person.locked"))
    assert locked.details["email"] == "l@example.org"
    clock.advance(minutes=14, seconds=59)
    with pytest.raises(AccountLockedError):
        svc.people.authenticate("l@example.org", PASSWORD)
    clock.advance(seconds=1)
    assert svc.people.authenticate("l@example.org", PASSWORD).email == "l@example.org"


def test_disabled_people_cannot_sign_in_and_lose_their_sessions(svc: Services, orgs: tuple[str, str]) -> None:
    person = svc.people.create(SETUP, "acme", "d@example.org", "D", PASSWORD)
    started = svc.people.start_session(person.id)
    with svc.sessions() as session, session.begin():
        session.execute(update(Person).where(Person.id == person.id).values(disabled=True))
    with pytest.raises(AuthenticationError, match="wrong email or password"):
        svc.people.authenticate("d@example.org", PASSWORD)
    assert svc.people.session_for(started.token) is None


def test_sessions_store_only_a_hash_rotate_and_expire(
    svc: Services, orgs: tuple[str, str], clock: ManualClock
) -> None:
    person = svc.people.create(SETUP, "acme", "s@example.org", "S", PASSWORD, ["reviewer"])
    first = svc.people.start_session(person.id)
    assert first.token not in repr(first)
    with svc.sessions() as session:
        ids = list(session.scalars(select(WebSession.id)))
    assert ids == [hashlib.sha256(first.token.encode()).hexdigest()]
    found = svc.people.session_for(first.token)
    assert found is not None and found.person.id == person.id and found.csrf_token == first.csrf_token
    assert svc.people.session_for("forged") is None and svc.people.session_for("") is None
    # Signing in again from the same browser ends its previous session.
    second = svc.people.start_session(person.id, replacing=first.token)
    assert second.token != first.token and second.csrf_token != first.csrf_token
    assert svc.people.session_for(first.token) is None
    # Idle for 8 hours: gone.
    clock.advance(hours=7, minutes=59)
    assert svc.people.session_for(second.token) is not None
    clock.advance(hours=8)
    assert svc.people.session_for(second.token) is None
    # Active all along, but 24 hours after sign-in: gone.
    third = svc.people.start_session(person.id)
    for _ in range(4):
        clock.advance(hours=6)
        alive = svc.people.session_for(third.token) is not None
        assert alive == (clock.now < third.expires_at)
    assert svc.people.session_for(third.token) is None
    fourth = svc.people.start_session(person.id)
    svc.people.end_session(fourth.token)
    assert svc.people.session_for(fourth.token) is None
    actions = [e.action for e in svc.audit.search(AuditFilter(action_prefix="person.sign"))]
    assert actions == ["person.sign_in"] * 4 + ["person.sign_out"]
