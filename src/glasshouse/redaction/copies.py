"""Stored redacted copies: a redacted copy of a media object kept as a media object of its own, with the
chain-of-custody record tying it to its original (digests, settings, engine, who made it and why).

The copy's bytes are an ordinary media object (``source="redacted"``) of the organisation that holds it,
so the existing download and streaming code serves it. Deleting the original deletes its copies (rows and
bytes; :meth:`MediaService.on_delete`). No surface code here: the portal and the release exports call it.
"""

from __future__ import annotations

import mimetypes
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Final

from sqlalchemy import JSON, DateTime, ForeignKey, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from glasshouse import db
from glasshouse.audit.service import AuditLog
from glasshouse.db import Base, new_id, utcnow
from glasshouse.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from glasshouse.governance.actor import Actor
from glasshouse.governance.audit_events import change_event
from glasshouse.media.models import MediaObject
from glasshouse.media.service import MediaInfo, MediaNotFoundError, MediaService
from glasshouse.redaction.record import RedactionSettings
from glasshouse.redaction.service import RedactionService, copy_suffix
from glasshouse.redaction.video import Progress

#: Why a copy was made: shared from the portal in place of the original, or exported for public release.
PURPOSES: Final = ("portal_share", "release")
#: Name prefix of generated copy names (``redacted/<copy id><suffix>``).
NAME_PREFIX: Final = "redacted/"
_CHUNK = 1 << 20


class RedactedCopy(Base):
    __tablename__ = "redacted_copies"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    #: The organisation holding the copy (its media object's organisation).
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    source_media_id: Mapped[str] = mapped_column(
        ForeignKey("media_objects.id", ondelete="CASCADE"), index=True
    )
    copy_media_id: Mapped[str] = mapped_column(
        ForeignKey("media_objects.id", ondelete="CASCADE"), unique=True
    )
    purpose: Mapped[str] = mapped_column(String(32))
    source_sha256: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    #: :meth:`RedactionSettings.to_json`.
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    engine: Mapped[str] = mapped_column(String(512))
    #: ``{"media": RedactionRecord.media, "faces": RedactionRecord.faces}``: counts, never images.
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    kept_persons: Mapped[list[int]] = mapped_column(JSON)
    made_by: Mapped[str] = mapped_column(String(255))
    #: Why faces were kept visible, or why a copy was (not) used: the maker's words.
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@dataclass(frozen=True)
class CopyView:
    """A redacted copy and its chain-of-custody record, detached from any session."""

    id: str
    org_id: str
    purpose: str
    source_sha256: str
    sha256: str
    name: str
    size: int
    content_type: str
    settings: dict[str, Any]
    engine: str
    kept_persons: list[int]
    made_by: str
    reason: str | None
    created_at: datetime
    summary: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "purpose": self.purpose,
            "name": self.name,
            "size": self.size,
            "content_type": self.content_type,
            "sha256": self.sha256,
            "source_sha256": self.source_sha256,
            "settings": self.settings,
            "engine": self.engine,
            "kept_persons": self.kept_persons,
            "made_by": self.made_by,
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
            "summary": self.summary,
        }


def _view(row: RedactedCopy, media: MediaObject) -> CopyView:
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    return CopyView(
        id=row.id,
        org_id=row.org_id,
        purpose=row.purpose,
        source_sha256=row.source_sha256,
        sha256=row.sha256,
        name=media.name,
        size=media.size,
        content_type=media.content_type,
        settings=dict(row.settings),
        engine=row.engine,
        kept_persons=list(row.kept_persons),
        made_by=row.made_by,
        reason=row.reason,
        created_at=created,
        summary=dict(row.summary),
    )


def _not_found(copy_id: str) -> NotFoundError:
    return NotFoundError(f"redacted copy {copy_id!r} not found")


def _content_type(suffix: str) -> str:
    return {".mkv": "video/x-matroska"}.get(suffix) or mimetypes.types_map.get(suffix, "video/mp4")


class RedactedCopies:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        media: MediaService,
        redaction: RedactionService,
        audit: AuditLog,
        *,
        clock: Callable[[], datetime] = db.utcnow,
        spool_dir: Path | None = None,
    ) -> None:
        self.sessions = sessions
        self.media = media
        self.redaction = redaction
        self.audit = audit
        self.clock = clock
        self.spool_dir = spool_dir
        media.on_delete(self._delete_copies_of)

    def make(
        self,
        by: Actor,
        *,
        source_org_id: str,
        source_name: str,
        settings: RedactionSettings,
        purpose: str,
        copy_name: str | None = None,
        reason: str | None = None,
        progress: Progress | None = None,
    ) -> CopyView:
        """Redact ``source_org_id``'s object ``source_name`` into a new object of ``by``'s organisation.

        Runs inside a ``media.redact`` grant (the redaction refuses otherwise). The caller checked that
        ``by`` may read the source. On any failure nothing is left: no row, no object, no bytes.
        """
        if purpose not in PURPOSES:
            raise InvalidParameterError(f"purpose must be one of {', '.join(PURPOSES)}")
        if copy_name is not None and self._exists(by.org_id, copy_name):
            raise AlreadyExistsError(f"media object {copy_name!r} already exists")
        copy_id = new_id()
        if self.spool_dir is not None:
            self.spool_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.spool_dir, prefix="redact-") as work:
            source_info, source_path = self._fetch(source_org_id, source_name, Path(work))
            suffix = copy_suffix(source_path, source_name)
            out = Path(work) / f"copy{suffix}"
            record = self.redaction.redact(source_path, out, settings, progress=progress)
            name = copy_name or f"{NAME_PREFIX}{copy_id}{suffix}"
            info: MediaInfo | None = None
            try:
                with db.transaction(self.sessions) as session:
                    info = self.media.upload(
                        by, name, _chunks(out), _content_type(suffix), source="redacted"
                    )  # joins this transaction
                    source_id = self._media_id(session, source_org_id, source_name, source_info.sha256)
                    row = RedactedCopy(
                        id=copy_id,
                        org_id=by.org_id,
                        source_media_id=source_id,
                        copy_media_id=self._media_id(session, by.org_id, name, info.sha256),
                        purpose=purpose,
                        source_sha256=record.original_sha256,
                        sha256=info.sha256,
                        settings=settings.to_json(),
                        engine=record.engine,
                        summary={"media": record.media, "faces": record.faces},
                        kept_persons=sorted(settings.keep_persons),
                        made_by=by.principal,
                        reason=reason,
                        created_at=self.clock(),
                    )
                    session.add(row)
                    session.flush()
                    details = {
                        "copy_id": copy_id,
                        "purpose": purpose,
                        "source": {"org_id": source_org_id, "name": source_name},
                        "source_sha256": record.original_sha256,
                        "sha256": info.sha256,
                        "name": name,
                        "method": settings.method.value,
                        "kept_persons": sorted(settings.keep_persons)[:16],
                        "reason": reason,
                    }
                    self.audit.append(session, change_event(by, "redaction.copy", details))
                    media_row = session.get(MediaObject, row.copy_media_id)
                    assert media_row is not None
                    return _view(row, media_row)
            except BaseException:
                if info is not None:
                    self.media.discard(info.storage_key)  # the row rolled back: drop its bytes
                raise

    def _exists(self, org_id: str, name: str) -> bool:
        try:
            self.media.get(org_id, name)
        except MediaNotFoundError:
            return False
        return True

    def _fetch(self, org_id: str, name: str, work: Path) -> tuple[MediaInfo, Path]:
        """The source's bytes in a local file (the store may be S3)."""
        info, stream = self.media.open(org_id, name)
        path = work / "source"
        with stream, path.open("wb") as out:
            shutil.copyfileobj(stream, out, _CHUNK)
        return info, path

    @staticmethod
    def _media_id(session: Session, org_id: str, name: str, sha256: str) -> str:
        row = session.scalar(
            select(MediaObject).where(MediaObject.org_id == org_id, MediaObject.name == name)
        )
        if row is None or row.sha256 != sha256:
            # Deleted or replaced while it was being redacted: the copy would describe other bytes.
            raise MediaNotFoundError(f"media object {name!r} not found")
        return row.id

    # -- reading --------------------------------------------------------------------------------------
    def get(self, by: Actor, copy_id: str) -> CopyView:
        """``by``'s organisation's copy ``copy_id``; another organisation's answers like a missing one."""
        view = self.find(copy_id)
        if view is None or view.org_id != by.org_id:
            raise _not_found(copy_id)
        return view

    def find(self, copy_id: str) -> CopyView | None:
        """Copy ``copy_id`` of any organisation, for a service that checked access itself (the portal:
        the agency a redacted share was given to)."""
        with self.sessions() as session:
            row = session.get(RedactedCopy, copy_id)
            if row is None:
                return None
            media = session.get(MediaObject, row.copy_media_id)
            return None if media is None else _view(row, media)

    def list_for_source(self, source_media_id: str) -> list[CopyView]:
        """Every copy of media object ``source_media_id``, oldest first."""
        query = (
            select(RedactedCopy, MediaObject)
            .join(MediaObject, MediaObject.id == RedactedCopy.copy_media_id)
            .where(RedactedCopy.source_media_id == source_media_id)
            .order_by(RedactedCopy.created_at, RedactedCopy.id)
        )
        with self.sessions() as session:
            return [_view(row, media) for row, media in session.execute(query)]

    def list_for_org(self, org_id: str, purpose: str | None = None) -> list[CopyView]:
        """The copies ``org_id`` holds (of ``purpose`` if given), newest first."""
        query = (
            select(RedactedCopy, MediaObject)
            .join(MediaObject, MediaObject.id == RedactedCopy.copy_media_id)
            .where(RedactedCopy.org_id == org_id)
            .order_by(RedactedCopy.created_at.desc(), RedactedCopy.id)
        )
        if purpose is not None:
            query = query.where(RedactedCopy.purpose == purpose)
        with self.sessions() as session:
            return [_view(row, media) for row, media in session.execute(query)]

    def open(self, by: Actor, copy_id: str) -> tuple[CopyView, BinaryIO]:
        """The copy's record and a readable stream of its bytes (the caller closes it)."""
        view = self.get(by, copy_id)
        try:
            _, stream = self.media.open(view.org_id, view.name)
        except NotFoundError:
            raise _not_found(copy_id) from None
        return view, stream

    # -- deleting -------------------------------------------------------------------------------------
    def delete(self, by: Actor, copy_id: str) -> None:
        """Delete ``by``'s organisation's copy (its media object, bytes and row), audited."""
        view = self.get(by, copy_id)
        with db.transaction(self.sessions) as session:
            self.audit.append(session, change_event(by, "redaction.copy.delete", {"copy_id": copy_id}))
            self.media.delete(by, view.org_id, view.name)  # joins; the row goes by cascade

    def _delete_copies_of(self, session: Session, by: Actor, media_id: str) -> None:
        """The original ``media_id`` is being deleted: its copies go with it (any organisation's)."""
        query = select(RedactedCopy).where(RedactedCopy.source_media_id == media_id)
        for row in list(session.scalars(query)):
            copy_media_id, copy_id = row.copy_media_id, row.id
            session.delete(row)
            session.flush()
            self.media.delete_derived(session, by, copy_media_id, derived_from=media_id)
            self.audit.append(
                session,
                change_event(by, "redaction.copy.delete", {"copy_id": copy_id, "original": "deleted"}),
            )


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            yield chunk
