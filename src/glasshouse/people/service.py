"""People: accounts with roles, password sign-in with lockout, and rotating web sessions.

Sign-in failures all say the same thing (unknown email, wrong password, disabled account), and an unknown
email costs a dummy argon2 check, so neither the message nor the time tells which emails exist. Five
failures in a row lock the account for 15 minutes. Sessions end after 8 hours idle or 24 hours in all;
only the SHA-256 of a session's token is stored.
"""

from __future__ import annotations

import builtins
import hashlib
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from glasshouse.audit.service import AuditLog
from glasshouse.db import serialise, transaction, utcnow
from glasshouse.errors import AlreadyExistsError, GlasshouseError, InvalidParameterError, NotFoundError
from glasshouse.governance.actor import Actor
from glasshouse.governance.audit_events import change_event
from glasshouse.organisations.models import Organisation
from glasshouse.people import passwords
from glasshouse.people.models import OPERATOR, ROLES, Person, WebSession

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
SESSION_IDLE = timedelta(hours=8)
SESSION_ABSOLUTE = timedelta(hours=24)
#: ``last_seen_at`` is written at most this often per session, so page views stay read-mostly.
TOUCH_INTERVAL = timedelta(minutes=1)
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")


class AuthenticationError(GlasshouseError):
    """Sign-in refused: one message whatever the cause, so it reveals nothing about accounts."""

    code = "AuthenticationFailed"

    def __init__(self, message: str = "wrong email or password") -> None:
        super().__init__(message)


class AccountLockedError(AuthenticationError):
    code = "AccountLocked"

    def __init__(self, until: datetime) -> None:
        super().__init__(
            f"too many failed sign-ins: try again after {until.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        )
        self.until = until


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def token_id(token: str) -> str:
    """The stored id of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class PersonInfo:
    """What may be shown about a person: everything but the password hash."""

    id: str
    org_id: str
    org_name: str
    org_is_operator: bool
    email: str
    name: str
    roles: frozenset[str]
    created_at: datetime
    disabled: bool
    locked_until: datetime | None

    def actor(self, surface: str = "ui") -> Actor:
        """This person acting through ``surface``; an operator only with the operator role."""
        return Actor(
            org_id=self.org_id,
            org_name=self.org_name,
            surface=surface,
            person=self.id,
            is_operator=OPERATOR in self.roles and self.org_is_operator,
        )

    def audit_view(self) -> dict[str, object]:
        return {"person_id": self.id, "email": self.email, "organisation": self.org_name}


@dataclass(frozen=True, slots=True)
class NewSession:
    """A started session. ``token`` goes in the cookie and is never stored."""

    token: str
    csrf_token: str
    expires_at: datetime

    def __repr__(self) -> str:
        return f"NewSession(token=<hidden>, expires_at={self.expires_at.isoformat()})"


@dataclass(frozen=True, slots=True)
class SessionInfo:
    person: PersonInfo
    csrf_token: str
    expires_at: datetime


def _info(person: Person, org: Organisation) -> PersonInfo:
    return PersonInfo(
        id=person.id,
        org_id=org.id,
        org_name=org.name,
        org_is_operator=org.is_operator,
        email=person.email,
        name=person.name,
        roles=frozenset(person.roles or []),
        created_at=_aware(person.created_at),
        disabled=person.disabled,
        locked_until=_aware(person.locked_until) if person.locked_until else None,
    )


def _roles(values: Iterable[str], org: Organisation) -> list[str]:
    roles = sorted(set(values))
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise InvalidParameterError(f"unknown roles {', '.join(unknown)}; roles are {', '.join(ROLES)}")
    if OPERATOR in roles and not org.is_operator:
        raise InvalidParameterError(
            f"the operator role belongs to an operators' organisation; {org.name!r} is not one"
        )
    return roles


def _org(session: Session, org: Organisation | str) -> Organisation:
    """An organisation given as itself, its id or its name."""
    key = org.id if isinstance(org, Organisation) else org
    found = session.get(Organisation, key) or session.scalar(
        select(Organisation).where(Organisation.name == key)
    )
    if found is None:
        raise NotFoundError(f"organisation {key!r} not found")
    return found


class PeopleService:
    def __init__(
        self, sessions: sessionmaker[Session], audit: AuditLog, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.sessions = sessions
        self.audit = audit
        self.clock = clock

    # -- accounts ------------------------------------------------------------------------------------------
    def create(
        self,
        by: Actor,
        org: Organisation | str,
        email: str,
        name: str,
        password: str,
        roles: Iterable[str] = (),
    ) -> PersonInfo:
        """A person in ``org`` (the organisation, its id or its name). Audited, never the password."""
        email = email.strip().lower()
        if not _EMAIL.match(email):
            raise InvalidParameterError(f"{email!r} is not an email address")
        if not name.strip() or len(name) > 255:
            raise InvalidParameterError("a name needs 1 to 255 characters")
        passwords.check_policy(password)
        password_hash = passwords.hash_password(password)  # slow: outside the write transaction
        with transaction(self.sessions) as session:
            organisation = _org(session, org)
            serialise(session, f"person-email:{email}")
            if session.scalar(select(Person.id).where(Person.email == email)) is not None:
                raise AlreadyExistsError(f"a person with email {email!r} already exists")
            person = Person(
                org_id=organisation.id,
                email=email,
                name=name.strip(),
                password_hash=password_hash,
                roles=_roles(roles, organisation),
                created_at=self.clock(),
            )
            session.add(person)
            session.flush()
            info = _info(person, organisation)
            details = {**info.audit_view(), "name": info.name, "roles": sorted(info.roles)}
            self.audit.append(session, change_event(by, "person.create", details))
        return info

    def get(self, person_id: str) -> PersonInfo:
        with self.sessions() as session:
            person = session.get(Person, person_id)
            if person is None:
                raise NotFoundError("person not found")
            return _info(person, _org(session, person.org_id))

    def describe(self, principal: str) -> str | None:
        """``person:<id>`` as people read it: "Name (roles, organisation)"; None for anyone else."""
        kind, _, ident = principal.partition(":")
        if kind != "person" or not ident:
            return None
        try:
            person = self.get(ident)
        except NotFoundError:
            return None
        roles = ", ".join(sorted(person.roles)) or "no role"
        return f"{person.name} ({roles}, {person.org_name})"

    def get_by_email(self, email: str) -> PersonInfo:
        with self.sessions() as session:
            person = session.scalar(select(Person).where(Person.email == email.strip().lower()))
            if person is None:
                raise NotFoundError(f"no person with email {email!r}")
            return _info(person, _org(session, person.org_id))

    def list(self, org_id: str | None = None) -> builtins.list[PersonInfo]:
        """People of ``org_id`` (everyone when ``None``), by email."""
        query = select(Person, Organisation).join(Organisation, Person.org_id == Organisation.id)
        if org_id is not None:
            query = query.where(Person.org_id == org_id)
        with self.sessions() as session:
            return [_info(p, o) for p, o in session.execute(query.order_by(Person.email))]

    def set_roles(self, by: Actor, person_id: str, roles: Iterable[str]) -> PersonInfo:
        """Replace a person's roles; audited as ``person.roles`` with before and after."""
        with transaction(self.sessions) as session:
            person = session.get(Person, person_id)
            if person is None:
                raise NotFoundError("person not found")
            org = _org(session, person.org_id)
            before = sorted(person.roles or [])
            person.roles = _roles(roles, org)
            info = _info(person, org)
            details = {**info.audit_view(), "before": before, "after": sorted(info.roles)}
            self.audit.append(session, change_event(by, "person.roles", details))
        return info

    # -- sign-in -------------------------------------------------------------------------------------------
    def authenticate(self, email: str, password: str) -> PersonInfo:
        """The person with this email and password, or :class:`AuthenticationError` /
        :class:`AccountLockedError` (also raised for the right password while locked)."""
        email = email.strip().lower()
        with self.sessions() as session:
            person = session.scalar(select(Person).where(Person.email == email))
        if person is None:
            passwords.verify_dummy(password)
            raise AuthenticationError()
        now = self.clock()
        locked = person.locked_until is not None and _aware(person.locked_until) > now
        ok = passwords.verify(person.password_hash, password)
        if locked:
            assert person.locked_until is not None
            raise AccountLockedError(_aware(person.locked_until))
        if not ok:
            self._failed(person.id, now)
            raise AuthenticationError()
        if person.disabled:
            raise AuthenticationError()
        with transaction(self.sessions) as session:
            row = session.get(Person, person.id)
            assert row is not None
            row.failed_logins = 0
            row.locked_until = None
            if passwords.needs_rehash(row.password_hash):
                row.password_hash = passwords.hash_password(password)
            return _info(row, _org(session, row.org_id))

    def _failed(self, person_id: str, now: datetime) -> None:
        with transaction(self.sessions) as session:
            session.execute(
                update(Person).where(Person.id == person_id).values(failed_logins=Person.failed_logins + 1)
            )
            person = session.get(Person, person_id)
            assert person is not None
            session.refresh(person)
            if person.failed_logins < MAX_FAILURES:
                return
            person.failed_logins = 0
            person.locked_until = now + LOCKOUT
            info = _info(person, _org(session, person.org_id))
            system = Actor(org_id=info.org_id, org_name=info.org_name, surface="ui", person=info.id)
            details = {**info.audit_view(), "until": person.locked_until.isoformat()}
            self.audit.append(session, change_event(system, "person.locked", details))

    # -- sessions ------------------------------------------------------------------------------------------
    def start_session(self, person_id: str, replacing: str | None = None) -> NewSession:
        """A new session (always a new token, so a cookie planted before sign-in is never the one after);
        the browser's previous session, ``replacing`` (its token), is ended."""
        now = self.clock()
        token = secrets.token_urlsafe(32)
        started = NewSession(token, secrets.token_urlsafe(32), now + SESSION_ABSOLUTE)
        with transaction(self.sessions) as session:
            person = session.get(Person, person_id)
            if person is None:
                raise NotFoundError("person not found")
            if replacing:
                session.execute(delete(WebSession).where(WebSession.id == token_id(replacing)))
            session.execute(delete(WebSession).where(WebSession.expires_at <= now))  # housekeeping
            session.add(
                WebSession(
                    id=token_id(token),
                    person_id=person_id,
                    csrf_token=started.csrf_token,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=started.expires_at,
                )
            )
            info = _info(person, _org(session, person.org_id))
            self.audit.append(session, change_event(info.actor(), "person.sign_in", info.audit_view()))
        return started

    def end_session(self, token: str) -> None:
        with transaction(self.sessions) as session:
            row = session.get(WebSession, token_id(token))
            if row is None:
                return
            person = session.get(Person, row.person_id)
            session.delete(row)
            if person is not None:
                info = _info(person, _org(session, person.org_id))
                self.audit.append(session, change_event(info.actor(), "person.sign_out", info.audit_view()))

    def session_for(self, token: str) -> SessionInfo | None:
        """The signed-in person behind a cookie's token; ``None`` when unknown, expired or disabled."""
        if not token or len(token) > 128:
            return None
        now = self.clock()
        sid = token_id(token)
        with self.sessions() as session:
            found = session.execute(
                select(WebSession, Person, Organisation)
                .join(Person, WebSession.person_id == Person.id)
                .join(Organisation, Person.org_id == Organisation.id)
                .where(WebSession.id == sid)
            ).one_or_none()
        if found is None:
            return None
        row, person, org = found
        last_seen = _aware(row.last_seen_at)
        if person.disabled or _aware(row.expires_at) <= now or now - last_seen >= SESSION_IDLE:
            with transaction(self.sessions) as session:
                session.execute(delete(WebSession).where(WebSession.id == sid))
            return None
        if now - last_seen >= TOUCH_INTERVAL:
            with transaction(self.sessions) as session:
                session.execute(update(WebSession).where(WebSession.id == sid).values(last_seen_at=now))
        return SessionInfo(_info(person, org), row.csrf_token, _aware(row.expires_at))
