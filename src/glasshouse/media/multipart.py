"""Multipart uploads (S3's CreateMultipartUpload / UploadPart / CompleteMultipartUpload / Abort) over the
media store: each part is stored under its own random key as it arrives; completing the upload streams
the listed parts, in order, into one ordinary media object (:meth:`MediaService.upload`: size limit,
audit entry, atomic replacement) and then deletes the parts. Until then no object exists under the name.

Tenancy: an upload id belongs to the organisation that created it; for anyone else it does not exist.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from glasshouse import db
from glasshouse.errors import InvalidParameterError, NotFoundError
from glasshouse.governance.actor import Actor
from glasshouse.media.models import MultipartUpload, UploadPart
from glasshouse.media.service import (
    MediaInfo,
    MediaService,
    MediaTooLargeError,
    check_content_type,
    check_name,
)
from glasshouse.media.store import READ_CHUNK

MAX_PARTS: Final = 10_000
#: S3's smallest part but the last.
MIN_PART_BYTES: Final = 5 * 1024 * 1024
#: Incomplete uploads are aborted by the periodic sweep after this long.
STALE_AFTER: Final = timedelta(days=7)


class NoSuchUploadError(NotFoundError):
    code = "NoSuchUpload"


class InvalidPartError(InvalidParameterError):
    code = "InvalidPart"


class InvalidPartOrderError(InvalidParameterError):
    code = "InvalidPartOrder"


class EntityTooSmallError(InvalidParameterError):
    code = "EntityTooSmall"


@dataclass(frozen=True)
class PartInfo:
    number: int
    size: int
    sha256: str
    checksum: str | None


@dataclass(frozen=True)
class RequestedPart:
    """A part as CompleteMultipartUpload lists it: its number, the ETag UploadPart answered (its SHA-256)
    and optionally its checksum (``ALGORITHM:base64``)."""

    number: int
    sha256: str
    checksum: str | None = None


class MultipartService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        media: MediaService,
        *,
        clock: Callable[[], datetime] = db.utcnow,
    ) -> None:
        self.sessions = sessions
        self.media = media
        self.store = media.store
        self.clock = clock

    def create(self, by: Actor, name: str, content_type: str | None) -> str:
        """Start an upload of ``by``'s object ``name``; returns the upload id."""
        check_name(name)
        upload_id = secrets.token_urlsafe(32)
        with db.transaction(self.sessions) as session:
            session.add(
                MultipartUpload(
                    id=upload_id,
                    org_id=by.org_id,
                    name=name,
                    content_type=check_content_type(content_type),
                    created_at=self.clock(),
                )
            )
        return upload_id

    def _upload(self, session: Session, org_id: str, upload_id: str, name: str) -> MultipartUpload:
        row = session.get(MultipartUpload, upload_id)
        if row is None or row.org_id != org_id or row.name != name:
            raise NoSuchUploadError(
                "The specified upload does not exist. The upload ID may be invalid, or the upload may "
                "have been aborted or completed."
            )
        return row

    def upload_part(
        self,
        by: Actor,
        name: str,
        upload_id: str,
        number: int,
        chunks: Iterable[bytes],
        checksum: Callable[[], str | None] = lambda: None,
    ) -> PartInfo:
        """Store one part (replacing an earlier part of that number). ``checksum`` is read once the bytes
        are stored (the verified ``ALGORITHM:base64`` the client sent, if any)."""
        if not 1 <= number <= MAX_PARTS:
            raise InvalidParameterError(
                f"Part number must be an integer between 1 and {MAX_PARTS}, inclusive"
            )
        with self.sessions() as session:
            self._upload(session, by.org_id, upload_id, name)
        storage_key = f"{by.org_id}/{db.new_id()}"
        size, sha256 = self.store.put_stream(storage_key, self.media.limited(chunks))
        replaced: str | None = None
        try:
            with db.transaction(self.sessions) as session:
                self._upload(session, by.org_id, upload_id, name)  # not aborted meanwhile
                row = session.get(UploadPart, (upload_id, number))
                if row is None:
                    row = UploadPart(upload_id=upload_id, part_number=number)
                    session.add(row)
                else:
                    replaced = row.storage_key
                row.storage_key, row.size, row.sha256 = storage_key, size, sha256
                row.checksum = checksum()
                info = PartInfo(number, size, sha256, row.checksum)
        except BaseException:
            self.media.discard(storage_key)
            raise
        if replaced is not None:
            self.media.discard(replaced)
        return info

    def complete(self, by: Actor, name: str, upload_id: str, requested: list[RequestedPart]) -> MediaInfo:
        """Assemble the listed parts into ``by``'s object ``name`` (audited as a media upload)."""
        with self.sessions() as session:
            upload = self._upload(session, by.org_id, upload_id, name)
            content_type = upload.content_type
            stored = {
                p.part_number: p
                for p in session.scalars(select(UploadPart).where(UploadPart.upload_id == upload_id))
            }
            session.expunge_all()
        if not requested:
            raise InvalidParameterError("You must specify at least one part")
        numbers = [p.number for p in requested]
        if numbers != sorted(set(numbers)):
            raise InvalidPartOrderError("The list of parts was not in ascending order.")
        parts: list[UploadPart] = []
        for want in requested:
            have = stored.get(want.number)
            if (
                have is None
                or have.sha256 != want.sha256
                or (want.checksum and want.checksum != have.checksum)
            ):
                raise InvalidPartError(
                    "One or more of the specified parts could not be found. The part may not have been "
                    "uploaded, or the specified entity tag may not match the part's entity tag."
                )
            parts.append(have)
        for part in parts[:-1]:
            if part.size < MIN_PART_BYTES:
                raise EntityTooSmallError(
                    "Your proposed upload is smaller than the minimum allowed object size."
                )
        total = sum(p.size for p in parts)
        if total > self.media.max_bytes:
            raise MediaTooLargeError(f"media objects are limited to {self.media.max_bytes} bytes")
        info = self.media.upload(by, name, self._concatenated(parts), content_type)
        self._drop(upload_id)
        return info

    def _concatenated(self, parts: list[UploadPart]) -> Iterator[bytes]:
        for part in parts:
            try:
                stream = self.store.open(part.storage_key)
            except NotFoundError:
                raise NoSuchUploadError("a part of this upload is gone (aborted concurrently)") from None
            with stream:
                while chunk := stream.read(READ_CHUNK):
                    yield chunk

    def abort(self, by: Actor, name: str, upload_id: str) -> None:
        with self.sessions() as session:
            self._upload(session, by.org_id, upload_id, name)
        self._drop(upload_id)

    def _drop(self, upload_id: str) -> None:
        """Delete the upload's rows, then its parts' bytes."""
        with db.transaction(self.sessions) as session:
            keys = list(
                session.scalars(select(UploadPart.storage_key).where(UploadPart.upload_id == upload_id))
            )
            for part in session.scalars(select(UploadPart).where(UploadPart.upload_id == upload_id)):
                session.delete(part)
            row = session.get(MultipartUpload, upload_id)
            if row is not None:
                session.delete(row)
        for key in keys:
            self.media.discard(key)

    def purge_stale(self, older_than: timedelta = STALE_AFTER) -> int:
        """Abort uploads started more than ``older_than`` ago (S3 keeps them until a lifecycle rule
        aborts them; Glasshouse's periodic sweep does); how many."""
        cutoff = self.clock() - older_than
        with self.sessions() as session:
            ids = list(session.scalars(select(MultipartUpload.id).where(MultipartUpload.created_at < cutoff)))
        for upload_id in ids:
            self._drop(upload_id)
        return len(ids)
