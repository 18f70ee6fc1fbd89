"""Upload, read, list and delete an organisation's media objects; map Rekognition's ``S3Object`` onto them.

Bytes go to the store first, under a fresh random key, outside any database transaction (an upload can
take minutes; SQLite would be locked meanwhile); the row and its audit entry are then written in one
transaction. If that fails, the stored bytes are deleted again. Replacing an object swaps the row to the
new bytes and deletes the old ones after the commit, so a reader never sees a half-written object.

Tenancy: every lookup is by ``(org_id, name)``; another organisation's object answers exactly like a
missing one (:class:`MediaNotFoundError`, same message).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO, Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from glasshouse import db
from glasshouse.audit.service import AuditLog
from glasshouse.errors import AlreadyExistsError, InvalidInputError, InvalidParameterError, NotFoundError
from glasshouse.governance.actor import Actor
from glasshouse.governance.audit_events import change_event
from glasshouse.media.models import MAX_NAME_LENGTH, SOURCES, MediaObject
from glasshouse.media.store import MediaStore
from glasshouse.organisations.models import Organisation

log = logging.getLogger(__name__)

DEFAULT_CONTENT_TYPE: Final = "application/octet-stream"
#: Printable ASCII minus backslash, quote marks and ``<>|^`{}``: what S3 calls safe plus a few specials.
_NAME_CHARS = re.compile(r"[A-Za-z0-9!\-_.*'()/ +=@,;:&$~%\[\]]+")
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9!#$&^_.+\-]+/[A-Za-z0-9!#$&^_.+\-]+( *;[ -~]*)?")

#: Resolves ``Name`` in a shared bucket for the calling organisation (``org_id, name``) to a media object
#: of another organisation, or raises :class:`NotFoundError`. The portal provides ``portal-shared``.
SharedBucket = Callable[[str, str], "MediaInfo"]
#: Called inside the transaction deleting a media object (its session, who deletes, the row's id), before
#: the row goes: what derives from the object (its redacted copies) is deleted with it.
DeleteHook = Callable[[Session, Actor, str], None]


class MediaNotFoundError(NotFoundError):
    """No such media object for this organisation (also: it belongs to another organisation)."""

    code = "MediaNotFound"


class MediaTooLargeError(InvalidInputError):
    code = "MediaTooLarge"


@dataclass(frozen=True)
class MediaInfo:
    """A media object's metadata, detached from any session."""

    org_id: str
    name: str
    storage_key: str
    size: int
    sha256: str
    content_type: str
    source: str
    created_at: datetime

    @classmethod
    def of(cls, row: MediaObject) -> MediaInfo:
        created = row.created_at
        created = created.replace(tzinfo=UTC) if created.tzinfo is None else created
        return cls(
            row.org_id,
            row.name,
            row.storage_key,
            row.size,
            row.sha256,
            row.content_type,
            row.source,
            created,
        )

    def view(self) -> dict[str, Any]:
        """What callers see (never the storage key)."""
        return {
            "name": self.name,
            "size": self.size,
            "sha256": self.sha256,
            "content_type": self.content_type,
            "source": self.source,
            "created_at": self.created_at.isoformat(),
        }


def check_name(name: str) -> str:
    """``name`` if it is an acceptable object name, else :class:`InvalidParameterError`."""
    if not 1 <= len(name) <= MAX_NAME_LENGTH or not _NAME_CHARS.fullmatch(name):
        raise InvalidParameterError(
            f"a media name is 1-{MAX_NAME_LENGTH} printable ASCII characters "
            "(letters, digits, spaces and !-_.*'()/+=@,;:&$~%[])"
        )
    segments = name.split("/")
    if name.startswith("/") or any(s in ("", ".", "..") for s in segments):
        raise InvalidParameterError("a media name must not start with '/' nor hold empty, '.' or '..' parts")
    return name


def check_content_type(value: str | None) -> str:
    """A client's declared content type, or the default when it sent none."""
    if not value:
        return DEFAULT_CONTENT_TYPE
    if len(value) > 255 or not _CONTENT_TYPE.fullmatch(value):
        raise InvalidParameterError("content type must look like 'type/subtype'")
    return value


def _not_found(name: str) -> MediaNotFoundError:
    # The message repeats only what the caller sent: identical for a missing and a foreign object.
    return MediaNotFoundError(f"media object {name!r} not found")


class MediaService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: MediaStore,
        audit: AuditLog,
        *,
        max_bytes: int,
        clock: Callable[[], datetime] = db.utcnow,
        shared_buckets: Mapping[str, SharedBucket] | None = None,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.audit = audit
        self.max_bytes = max_bytes
        self.clock = clock
        #: Rekognition ``S3Object.Bucket`` names that are not an organisation's own uploads.
        self.shared_buckets: Mapping[str, SharedBucket] = dict(shared_buckets or {})
        self._delete_hooks: list[DeleteHook] = []

    def on_delete(self, hook: DeleteHook) -> None:
        """Run ``hook`` in every object deletion's transaction (a higher layer's dependents)."""
        self._delete_hooks.append(hook)

    def limited(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """``chunks``, refused with :class:`MediaTooLargeError` once they pass the media size limit."""
        total = 0
        for chunk in chunks:
            total += len(chunk)
            if total > self.max_bytes:
                raise MediaTooLargeError(f"media objects are limited to {self.max_bytes} bytes")
            if chunk:
                yield bytes(chunk)

    def upload(
        self,
        by: Actor,
        name: str,
        chunks: Iterable[bytes],
        content_type: str | None = None,
        *,
        source: str = "upload",
    ) -> MediaInfo:
        """Store ``chunks`` as ``by``'s organisation's object ``name`` (replacing any object of that name).

        The size limit is enforced while streaming; on any error nothing is left behind.
        """
        check_name(name)
        content_type = check_content_type(content_type)
        if source not in SOURCES:
            raise InvalidParameterError(f"source must be one of {', '.join(SOURCES)}")
        storage_key = f"{by.org_id}/{db.new_id()}"
        size, sha256 = self.store.put_stream(storage_key, self.limited(chunks))
        try:
            info, replaced = self._record(by, name, storage_key, size, sha256, content_type, source)
        except BaseException:
            self.discard(storage_key)
            raise
        if replaced is not None:
            self.discard(replaced)
        return info

    def _record(
        self,
        by: Actor,
        name: str,
        storage_key: str,
        size: int,
        sha256: str,
        content_type: str,
        source: str,
    ) -> tuple[MediaInfo, str | None]:
        """Insert or repoint the row and audit it in one transaction; returns the replaced storage key."""
        try:
            with db.transaction(self.sessions) as session:
                row = self._row(session, by.org_id, name)
                if row is not None and row.source != "upload":
                    # A portal clip or a redacted copy is evidence with a recorded SHA-256: swapping its
                    # bytes under the same name would make its record describe other bytes.
                    kind = "a redacted copy" if row.source == "redacted" else "footage from the portal"
                    raise AlreadyExistsError(
                        f"media object {name!r} is {kind}: its bytes are never replaced (delete it first)"
                    )
                replaced = row.storage_key if row is not None else None
                if row is None:
                    row = MediaObject(org_id=by.org_id, name=name)
                    session.add(row)
                row.storage_key, row.size, row.sha256 = storage_key, size, sha256
                row.content_type, row.source, row.created_at = content_type, source, self.clock()
                session.flush()
                details = {
                    "name": name,
                    "size": size,
                    "sha256": sha256,
                    "content_type": content_type,
                    "source": source,
                    "replaced": replaced is not None,
                }
                self.audit.append(session, change_event(by, "media.upload", details))
                return MediaInfo.of(row), replaced
        except IntegrityError:
            # A concurrent upload created the same name between our read and our insert.
            raise AlreadyExistsError(f"media object {name!r} is being uploaded concurrently") from None

    def discard(self, storage_key: str) -> None:
        """Delete bytes no row points to any more; a failure leaves an unreachable orphan, logged."""
        try:
            self.store.delete(storage_key)
        except Exception:
            log.exception("could not delete media bytes %s from the store (orphaned)", storage_key)

    @staticmethod
    def _row(session: Session, org_id: str, name: str) -> MediaObject | None:
        query = select(MediaObject).where(MediaObject.org_id == org_id, MediaObject.name == name)
        return session.scalar(query)

    def get(self, org_id: str, name: str) -> MediaInfo:
        """Metadata of ``org_id``'s object ``name``; :class:`MediaNotFoundError` if absent or foreign."""
        with self.sessions() as session:
            row = self._row(session, org_id, name)
            if row is None:
                raise _not_found(name)
            return MediaInfo.of(row)

    def open(self, org_id: str, name: str) -> tuple[MediaInfo, BinaryIO]:
        """Metadata and a readable stream of the bytes (the caller closes it)."""
        info = self.get(org_id, name)
        try:
            return info, self.store.open(info.storage_key)
        except NotFoundError:
            # Replaced or deleted between the lookup and the open.
            raise _not_found(name) from None

    def list(self, org_id: str) -> list[MediaInfo]:
        """``org_id``'s objects by name."""
        query = select(MediaObject).where(MediaObject.org_id == org_id).order_by(MediaObject.name)
        with self.sessions() as session:
            return [MediaInfo.of(row) for row in session.scalars(query)]

    def delete(self, by: Actor, org_id: str, name: str) -> None:
        """Delete ``org_id``'s object ``name`` (audited). Only the organisation itself may delete its
        objects; for anyone else the object does not exist."""
        if by.org_id != org_id:
            raise _not_found(name)
        with db.transaction(self.sessions) as session:
            row = self._row(session, org_id, name)
            if row is None:
                raise _not_found(name)
            self._delete(session, by, row)

    def delete_derived(self, session: Session, by: Actor, media_id: str, derived_from: str) -> None:
        """Delete object ``media_id`` (of any organisation) in ``session``'s transaction because the object
        it was derived from (``derived_from``, e.g. the original of a redacted copy) is being deleted."""
        row = session.get(MediaObject, media_id)
        if row is not None:
            self._delete(session, by, row, derived_from=derived_from, org_id=row.org_id)

    def _delete(self, session: Session, by: Actor, row: MediaObject, **extra: str) -> None:
        storage_key = row.storage_key
        details = {"name": row.name, "size": row.size, "sha256": row.sha256, **extra}
        for hook in self._delete_hooks:
            hook(session, by, row.id)
        session.delete(row)
        session.flush()
        self.audit.append(session, change_event(by, "media.delete", details))
        db.after_commit(session, lambda: self.discard(storage_key))

    def resolve_s3_object(self, org_id: str, bucket: str, name: str) -> MediaInfo:
        """Rekognition's ``S3Object {Bucket, Name}`` as one of ``org_id``'s media objects.

        Mapping: each organisation has exactly one bucket of uploads, named like the organisation, so
        ``Bucket`` must equal the caller's organisation name and ``Name`` is the object name. A shared
        bucket (``self.shared_buckets``, e.g. the portal's ``portal-shared``) resolves ``Name`` among what
        was shared with the caller; the object returned then belongs to another organisation (open it with
        its own ``org_id``). Any other bucket answers :class:`MediaNotFoundError` exactly like a missing
        object, so the call cannot probe which organisations or objects exist.
        """
        with self.sessions() as session:
            org = session.get(Organisation, org_id)
            own_bucket = org.name if org is not None else None
        shared = self.shared_buckets.get(bucket)
        if shared is not None:
            try:
                return shared(org_id, name)
            except NotFoundError:
                raise _not_found(name) from None
        if own_bucket is None or bucket != own_bucket:
            raise _not_found(name)
        return self.get(org_id, name)
