"""Append, verify, search and export the audit log.

Each entry's ``hash`` is ``HMAC-SHA256(key, prev_hash || canonical_json(fields))`` (hex), where the key is
the server secret's ``"audit-chain"`` subkey: someone with write access to the database but not the secret
can delete or edit rows, but cannot make :meth:`AuditLog.verify` accept the result. What no chain can
catch on its own is the whole log being replaced by an older or empty one: note ``last_seq``/``last_hash``
from ``verify`` somewhere else now and then, and pass them back as ``anchor``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final, Literal, Protocol, cast

from sqlalchemy import ColumnElement, Row, Table, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from glasshouse import db
from glasshouse.audit.models import GENESIS_HASH, HEAD_ID, AuditEntry, AuditHead
from glasshouse.audit.validation import (
    InvalidAuditEventError,
    canonical_json,
    check_fields,
    clean_details,
)
from glasshouse.errors import GlasshouseError, InvalidParameterError

__all__ = [
    "ALLOW",
    "DENY",
    "RECORD",
    "AuditEntryView",
    "AuditEvent",
    "AuditFilter",
    "AuditLog",
    "AuditLogError",
    "InvalidAuditEventError",
    "VerifyReport",
    "digest",
]

#: ``SecretBox.derive`` purpose of the chain key.
KEY_PURPOSE: Final = "audit-chain"
ALLOW: Final = "allow"
DENY: Final = "deny"
RECORD: Final = "record"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1_000
VERIFY_BATCH = 1_000

Decision = Literal["allow", "deny", "record"]
_entries = cast(Table, AuditEntry.__table__)
_head = cast(Table, AuditHead.__table__)


class AuditLogError(GlasshouseError):
    """The audit log cannot be written (its head row is missing: migrations not run)."""

    code = "AuditLogUnavailable"


def digest(data: bytes) -> str:
    """``"sha256:<hex>"`` of ``data``: what an entry records instead of an image or a result."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _utc(moment: datetime) -> datetime:
    """Aware UTC. SQLite hands back naive datetimes; they were stored as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class AuditEvent:
    """What happened, as the caller knows it; the log adds seq, id, time and hashes."""

    action: str
    decision: Decision
    surface: str
    actor_org_id: str | None = None
    actor_org_name: str = ""
    actor_person: str | None = None
    actor_key: str | None = None
    rule: str | None = None
    policy_version: int | None = None
    purpose: str | None = None
    case_number: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditEntryView:
    """A stored entry, detached from any session."""

    seq: int
    id: str
    created_at: datetime
    actor_org_id: str | None
    actor_org_name: str
    actor_person: str | None
    actor_key: str | None
    surface: str
    action: str
    decision: str
    rule: str | None
    policy_version: int | None
    purpose: str | None
    case_number: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def from_row(cls, row: Row[Any]) -> AuditEntryView:
        values = dict(row._mapping)
        values["created_at"] = _utc(values["created_at"])
        return cls(**values)

    def hashed_fields(self) -> dict[str, Any]:
        """Everything the hash covers except ``prev_hash`` (which is prefixed to it)."""
        values = asdict(self)
        del values["prev_hash"], values["hash"]
        values["created_at"] = _utc(self.created_at).isoformat(timespec="microseconds")
        return values

    def to_json(self) -> dict[str, Any]:
        values = asdict(self)
        values["created_at"] = self.created_at.isoformat()
        return values


@dataclass(frozen=True)
class AuditFilter:
    """Search criteria, all optional and combined with AND; results come in ``seq`` order."""

    org_id: str | None = None
    #: The organisation name recorded in the entry (survives the organisation being deleted).
    org_name: str | None = None
    action: str | None = None
    #: e.g. ``"face."`` for every face capability.
    action_prefix: str | None = None
    decision: str | None = None
    surface: str | None = None
    actor_key: str | None = None
    case_number: str | None = None
    #: Inclusive lower and exclusive upper bound on ``created_at``.
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int | None = None
    limit: int | None = None
    offset: int = 0

    def clauses(self) -> list[ColumnElement[bool]]:
        c = _entries.c
        equal = {
            c.actor_org_id: self.org_id,
            c.actor_org_name: self.org_name,
            c.action: self.action,
            c.decision: self.decision,
            c.surface: self.surface,
            c.actor_key: self.actor_key,
            c.case_number: self.case_number,
        }
        out: list[ColumnElement[bool]] = [col == value for col, value in equal.items() if value is not None]
        if self.action_prefix is not None:
            out.append(c.action.startswith(self.action_prefix, autoescape=True))
        if self.since is not None:
            out.append(c.created_at >= _utc(self.since))
        if self.until is not None:
            out.append(c.created_at < _utc(self.until))
        if self.after_seq is not None:
            out.append(c.seq > self.after_seq)
        return out


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    #: Entries whose hash and link were checked.
    entries: int
    first_bad_seq: int | None = None
    problem: str | None = None
    #: The head when verification started: note them elsewhere to use as a later ``anchor``.
    last_seq: int = 0
    last_hash: str = GENESIS_HASH

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class _Bad(Exception):
    """The first problem ``verify`` found."""

    def __init__(self, seq: int, problem: str) -> None:
        super().__init__(problem)
        self.seq, self.problem = seq, problem


@dataclass
class _Walk:
    checked: int = 0


class _Writer(Protocol):
    def write(self, text: str, /) -> Any: ...


class AuditLog:
    """The append-only log. Stateless apart from the key: one instance serves every thread."""

    def __init__(
        self, sessions: sessionmaker[Session], key: bytes, clock: Callable[[], datetime] = db.utcnow
    ) -> None:
        if len(key) < 16:
            raise ValueError("the audit chain key must be at least 16 bytes")
        self._sessions = sessions
        self._key = key
        self._clock = clock

    def __repr__(self) -> str:
        return "AuditLog(<key hidden>)"

    # -- writing ------------------------------------------------------------------------------------

    def append(self, session: Session, event: AuditEvent) -> AuditEntryView:
        """Add ``event`` inside the caller's open transaction: it commits or rolls back with the action.

        Bumping the head row first serialises appenders (a row lock on PostgreSQL; SQLite transactions
        already hold the write lock, see ``db.make_engine``) until the caller commits, so append late in
        the transaction.
        """
        values = {k: v for k, v in asdict(event).items() if k != "details"}
        check_fields(values)
        details = clean_details(event.details)
        seq, prev_hash = self._advance_head(session)
        entry = AuditEntryView(
            seq=seq,
            id=db.new_id(),
            created_at=_utc(self._clock()),  # read under the lock: times follow seq on one clock
            details=details,
            prev_hash=prev_hash,
            hash="",
            **values,
        )
        entry = replace(entry, hash=self._entry_hash(entry))
        session.execute(insert(_entries).values(asdict(entry)))
        session.execute(
            update(_head)
            .where(_head.c.id == HEAD_ID)
            .values(last_hash=entry.hash, mac=self._head_mac(seq, entry.hash))
        )
        return entry

    def record(self, event: AuditEvent) -> AuditEntryView:
        """Append ``event`` in a transaction of its own (for events with no other write to join)."""
        with db.transaction(self._sessions) as session:
            return self.append(session, event)

    def _advance_head(self, session: Session) -> tuple[int, str]:
        bump = update(_head).where(_head.c.id == HEAD_ID).values(last_seq=_head.c.last_seq + 1)
        if session.get_bind().dialect.update_returning:
            row = session.execute(bump.returning(_head.c.last_seq, _head.c.last_hash)).one_or_none()
        else:
            session.execute(bump)
            query = select(_head.c.last_seq, _head.c.last_hash).where(_head.c.id == HEAD_ID)
            row = session.execute(query).one_or_none()
        if row is None:
            raise AuditLogError("the audit_head row is missing; run the database migrations")
        return int(row[0]), str(row[1])

    def _mac(self, message: bytes) -> str:
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def _entry_hash(self, entry: AuditEntryView) -> str:
        return self._mac(entry.prev_hash.encode("ascii") + canonical_json(entry.hashed_fields()).encode())

    def _head_mac(self, seq: int, last_hash: str) -> str:
        # Entry messages start with 64 hex digits; this prefix cannot, so the two never collide.
        return self._mac(f"audit-head:{seq}:{last_hash}".encode("ascii"))

    # -- checking -----------------------------------------------------------------------------------

    def head(self) -> tuple[int, str]:
        """``(last_seq, last_hash)`` of the chain's head row."""
        with db.transaction(self._sessions) as session:
            row = session.execute(select(_head.c.last_seq, _head.c.last_hash).where(_head.c.id == HEAD_ID))
            found = row.one_or_none()
        if found is None:
            raise AuditLogError("the audit_head row is missing; run the database migrations")
        return int(found[0]), str(found[1])

    def hash_at(self, seq: int) -> str | None:
        """The stored hash of entry ``seq`` (``None`` if there is none)."""
        with db.transaction(self._sessions) as session:
            return session.execute(select(_entries.c.hash).where(_entries.c.seq == seq)).scalar_one_or_none()

    def verify(
        self,
        anchor: tuple[int, str] | None = None,
        batch: int = VERIFY_BATCH,
        *,
        anchors: Mapping[int, str] | None = None,
    ) -> VerifyReport:
        """Recompute every hash and link up to the current head, in batches of ``batch`` entries.

        ``anchor`` = ``(seq, hash)`` noted from an earlier report (``anchors``: several, e.g. published
        checkpoints, ``{seq: hash}``): the entry at each ``seq`` must still have that hash, and the log must
        reach it (catches the whole log being swapped for an older or empty one).
        """
        expected = dict(anchors or {})
        if anchor is not None:
            expected[anchor[0]] = anchor[1]
        with db.transaction(self._sessions) as session:
            head = session.execute(select(_head).where(_head.c.id == HEAD_ID)).one_or_none()
        if head is None:
            return VerifyReport(False, 0, 1, "the audit_head row is missing (deleted, or migrations not run)")
        last_seq, last_hash = int(head.last_seq), str(head.last_hash)
        walk = _Walk()
        try:  # walk first: an edited or inserted entry is named even when the head was rewritten too
            self._walk(walk, last_seq, last_hash, expected, batch)
            self._check_head(last_seq, last_hash, head.mac)
            self._check_nothing_beyond_head()
        except _Bad as bad:
            return VerifyReport(False, walk.checked, bad.seq, bad.problem, last_seq, last_hash)
        return VerifyReport(True, walk.checked, None, None, last_seq, last_hash)

    def _check_head(self, last_seq: int, last_hash: str, mac: str | None) -> None:
        if last_seq == 0 and last_hash == GENESIS_HASH and mac is None:
            return  # empty log, as the migration created it
        if mac is None or not hmac.compare_digest(mac, self._head_mac(last_seq, last_hash)):
            raise _Bad(
                last_seq + 1,
                f"the audit head (last_seq {last_seq}) was rewritten without the key: "
                "entries after it may have been deleted",
            )

    def _walk(
        self, walk: _Walk, last_seq: int, last_hash: str, anchors: Mapping[int, str], batch: int
    ) -> None:
        prev_hash = GENESIS_HASH
        for entry in self._entries_up_to(last_seq, batch):
            expected = walk.checked + 1
            if entry.seq < expected:
                raise _Bad(entry.seq, f"entry {entry.seq} precedes the first entry (inserted)")
            if entry.seq > expected:
                raise _Bad(expected, f"entry {expected} is missing (deleted); the next is {entry.seq}")
            if entry.prev_hash != prev_hash:
                raise _Bad(entry.seq, f"entry {entry.seq} does not link to entry {expected - 1} (moved?)")
            if not hmac.compare_digest(entry.hash, self._entry_hash(entry)):
                raise _Bad(entry.seq, f"entry {entry.seq} does not match its hash (edited or forged)")
            if entry.seq in anchors and entry.hash != anchors[entry.seq]:
                raise _Bad(
                    entry.seq, f"entry {entry.seq} differs from the checkpoint or anchor (log replaced)"
                )
            prev_hash = entry.hash
            walk.checked += 1
        if walk.checked != last_seq:
            raise _Bad(walk.checked + 1, f"entries {walk.checked + 1}..{last_seq} are missing (tail deleted)")
        if prev_hash != last_hash:
            raise _Bad(last_seq, f"the audit head does not match entry {last_seq}")
        beyond = max((seq for seq in anchors if seq > last_seq), default=None)
        if beyond is not None:
            problem = (
                f"the log ends at {last_seq}, shorter than a checkpoint or anchor of {beyond} entries "
                "(log truncated or wiped)"
            )
            raise _Bad(last_seq + 1, problem)

    def _entries_up_to(self, last_seq: int, batch: int) -> Iterator[AuditEntryView]:
        after: int | None = None
        while True:
            query = select(_entries).where(_entries.c.seq <= last_seq)
            if after is not None:
                query = query.where(_entries.c.seq > after)
            with db.transaction(self._sessions) as session:
                rows = session.execute(query.order_by(_entries.c.seq).limit(batch)).all()
            for row in rows:
                yield AuditEntryView.from_row(row)
            if len(rows) < batch:
                return
            after = int(rows[-1].seq)

    def _check_nothing_beyond_head(self) -> None:
        """Entries past the head (read again now: appends may have happened meanwhile) were inserted."""
        with db.transaction(self._sessions) as session:
            head_seq = session.execute(select(_head.c.last_seq).where(_head.c.id == HEAD_ID)).scalar_one()
            extra = session.execute(select(func.min(_entries.c.seq)).where(_entries.c.seq > head_seq))
            first_extra = extra.scalar_one_or_none()
        if first_extra is not None:
            raise _Bad(int(first_extra), f"entry {first_extra} lies beyond the head {head_seq} (inserted)")

    # -- reading ------------------------------------------------------------------------------------

    def search(self, filters: AuditFilter = AuditFilter()) -> list[AuditEntryView]:
        """Entries matching ``filters``, oldest first, at most ``filters.limit`` (default 100, max 1000)."""
        limit = DEFAULT_LIMIT if filters.limit is None else filters.limit
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidParameterError(f"limit must be between 1 and {MAX_LIMIT}")
        if filters.offset < 0:
            raise InvalidParameterError("offset must not be negative")
        query = select(_entries).where(*filters.clauses()).order_by(_entries.c.seq)
        with db.transaction(self._sessions) as session:
            rows = session.execute(query.limit(limit).offset(filters.offset)).all()
        return [AuditEntryView.from_row(row) for row in rows]

    def export(self, stream: _Writer, filters: AuditFilter = AuditFilter()) -> int:
        """Write every matching entry (up to ``filters.limit`` if set) as JSON lines; returns the count."""
        remaining = filters.limit
        page = replace(filters, limit=MAX_LIMIT if remaining is None else min(remaining, MAX_LIMIT))
        written = 0
        while page.limit:
            entries = self.search(page)
            for entry in entries:
                stream.write(json.dumps(entry.to_json(), ensure_ascii=False) + "\n")
            written += len(entries)
            if len(entries) < page.limit:
                break
            left = MAX_LIMIT if remaining is None else min(remaining - written, MAX_LIMIT)
            page = replace(page, after_seq=entries[-1].seq, offset=0, limit=left)
        return written
