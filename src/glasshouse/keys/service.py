"""Issue, list, revoke and look up access keys. The secret is returned once, at creation, and then only
to the signature verifier through :meth:`KeyService.lookup`."""

from __future__ import annotations

import builtins
import re
import secrets
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from glasshouse.audit.service import AuditLog
from glasshouse.db import transaction, utcnow
from glasshouse.errors import InvalidParameterError, NotFoundError
from glasshouse.governance.actor import Actor
from glasshouse.governance.audit_events import change_event
from glasshouse.keys.crypto import SecretBox
from glasshouse.keys.models import ACCESS_KEY_ID_LENGTH, AccessKey
from glasshouse.organisations.models import Organisation

KEY_ID_PREFIX = "GH"
KEY_ID_ALPHABET = string.ascii_uppercase + string.digits
SECRET_LENGTH = 40
SECRET_ALPHABET = string.ascii_letters + string.digits
#: ``last_used_at`` is written at most this often per key, so verification stays read-mostly.
TOUCH_INTERVAL = timedelta(minutes=1)
MAX_LABEL_LENGTH = 255
_ID_TAIL = ACCESS_KEY_ID_LENGTH - len(KEY_ID_PREFIX)
ACCESS_KEY_ID_PATTERN = re.compile(rf"^{KEY_ID_PREFIX}[A-Z0-9]{{{_ID_TAIL}}}$")


class NewKey(NamedTuple):
    """A freshly issued key. ``secret`` is never shown again."""

    access_key_id: str
    secret: str

    def __repr__(self) -> str:
        return f"NewKey(access_key_id={self.access_key_id!r}, secret=<hidden>)"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What may be shown about a key: everything but the secret."""

    access_key_id: str
    org_id: str
    person_id: str | None
    label: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class ActiveKey:
    """A usable key with its secret, for the SigV4 verifier only."""

    access_key_id: str
    org_id: str
    person_id: str | None
    secret: str = field(repr=False)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _info(row: AccessKey) -> KeyInfo:
    created = _aware(row.created_at)
    assert created is not None
    return KeyInfo(
        access_key_id=row.access_key_id,
        org_id=row.org_id,
        person_id=row.person_id,
        label=row.label,
        created_at=created,
        last_used_at=_aware(row.last_used_at),
        revoked_at=_aware(row.revoked_at),
    )


def new_access_key_id() -> str:
    return KEY_ID_PREFIX + "".join(secrets.choice(KEY_ID_ALPHABET) for _ in range(_ID_TAIL))


def new_secret() -> str:
    return "".join(secrets.choice(SECRET_ALPHABET) for _ in range(SECRET_LENGTH))


class KeyService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        box: SecretBox,
        *,
        audit: AuditLog | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._box = box
        self._audit = audit
        self._clock = clock
        self._touched: dict[str, datetime] = {}  # per-process throttle in front of the conditional UPDATE
        self._touch_lock = threading.Lock()

    def create(
        self, org_id: str, label: str | None = None, *, by: Actor | None = None, person_id: str | None = None
    ) -> NewKey:
        """Issue a key for ``org_id`` (and a person in it); the returned secret is the only copy in plain
        text. Audited (never the secret) when the service has an audit log."""
        if label is not None and len(label) > MAX_LABEL_LENGTH:
            raise InvalidParameterError(f"label is longer than {MAX_LABEL_LENGTH} characters")
        secret = new_secret()
        with transaction(self._sessions) as session:
            if session.get(Organisation, org_id) is None:
                raise NotFoundError(f"organisation {org_id!r} not found")
            key_id = new_access_key_id()
            while session.get(AccessKey, key_id) is not None:  # 36**18 ids: a repeat is theoretical
                key_id = new_access_key_id()
            session.add(
                AccessKey(
                    access_key_id=key_id,
                    org_id=org_id,
                    secret_sealed=self._box.seal(secret, context=key_id),
                    label=label,
                    person_id=person_id,
                    created_at=self._clock(),
                )
            )
            self._record(session, by, "key.create", org_id, key_id, person_id=person_id)
        return NewKey(key_id, secret)

    def list(self, org_id: str | None = None) -> builtins.list[KeyInfo]:
        """Keys of ``org_id`` (every organisation's when ``None``), revoked ones included, oldest first."""
        query = select(AccessKey).order_by(AccessKey.created_at, AccessKey.access_key_id)
        if org_id is not None:
            query = query.where(AccessKey.org_id == org_id)
        with self._sessions() as session:
            return [_info(row) for row in session.scalars(query)]

    def revoke(self, org_id: str, access_key_id: str, *, by: Actor | None = None) -> KeyInfo:
        """Revoke a key of ``org_id`` (idempotent). Another organisation's key is "not found"."""
        with transaction(self._sessions) as session:
            row = session.get(AccessKey, access_key_id)
            if row is None or row.org_id != org_id:
                raise NotFoundError(f"access key {access_key_id!r} not found")
            if row.revoked_at is None:
                row.revoked_at = self._clock()
                self._record(session, by, "key.revoke", org_id, access_key_id)
            info = _info(row)
        with self._touch_lock:
            self._touched.pop(access_key_id, None)
        return info

    def _record(
        self, session: Session, by: Actor | None, action: str, org_id: str, key_id: str, **details: Any
    ) -> None:
        if self._audit is None:
            return
        org = session.get(Organisation, org_id)
        actor = by or Actor(org_id="", org_name="glasshouse", surface="system")
        event_details = {"access_key_id": key_id, "organisation": org.name if org else org_id, **details}
        self._audit.append(session, change_event(actor, action, event_details))

    def lookup(self, access_key_id: str) -> ActiveKey | None:
        """The key and its secret, or ``None`` when unknown or revoked."""
        if not ACCESS_KEY_ID_PATTERN.match(access_key_id):
            return None
        with self._sessions() as session:
            row = session.get(AccessKey, access_key_id)
            if row is None or row.revoked_at is not None:
                return None
            return ActiveKey(
                access_key_id=row.access_key_id,
                org_id=row.org_id,
                person_id=row.person_id,
                secret=self._box.open(row.secret_sealed, context=row.access_key_id),
            )

    def touch(self, access_key_id: str) -> None:
        """Record a use of the key; writes at most once per :data:`TOUCH_INTERVAL` (across processes too)."""
        now = self._clock()
        with self._touch_lock:
            last = self._touched.get(access_key_id)
            if last is not None and now - last < TOUCH_INTERVAL:
                return
            self._touched[access_key_id] = now
        with transaction(self._sessions) as session:
            stmt = (
                update(AccessKey)
                .where(AccessKey.access_key_id == access_key_id)
                .where(or_(AccessKey.last_used_at.is_(None), AccessKey.last_used_at <= now - TOUCH_INTERVAL))
                .values(last_used_at=now)
            )
            written = cast("CursorResult[Any]", session.execute(stmt)).rowcount
            if not written:  # another process wrote it recently: throttle from its time, not ours
                stored = _aware(
                    session.scalar(
                        select(AccessKey.last_used_at).where(AccessKey.access_key_id == access_key_id)
                    )
                )
                with self._touch_lock:
                    self._touched[access_key_id] = stored or now
