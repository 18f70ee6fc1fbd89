"""Media objects: an organisation's uploaded files (video clips), their bytes in a :mod:`store`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from glasshouse.db import Base, new_id, utcnow

#: Where an object came from: an organisation's own upload, the community camera portal, or a redacted copy
#: of another object (:mod:`glasshouse.redaction.copies`).
SOURCES: Final = ("upload", "portal", "redacted")
MAX_NAME_LENGTH: Final = 1024


class MediaObject(Base):
    __tablename__ = "media_objects"
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_media_object_name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    #: The object key as the caller sees it (Rekognition's ``S3Object.Name``).
    name: Mapped[str] = mapped_column(String(MAX_NAME_LENGTH))
    #: Where the bytes are in the store: ``<org id>/<random id>``, never derived from ``name``.
    storage_key: Mapped[str] = mapped_column(String(255), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(16), default="upload", server_default="upload")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    def view(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "size": self.size,
            "sha256": self.sha256,
            "content_type": self.content_type,
            "source": self.source,
            "created_at": self.created_at.isoformat(),
        }


class MultipartUpload(Base):
    """An S3 multipart upload in progress: parts are stored one by one, the object appears only when the
    upload is completed (then its parts are concatenated into one media object and deleted)."""

    __tablename__ = "media_uploads"

    #: The S3 ``UploadId`` (random, URL-safe).
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(MAX_NAME_LENGTH))
    content_type: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UploadPart(Base):
    """One stored part of a multipart upload (its bytes at ``storage_key`` in the media store)."""

    __tablename__ = "media_upload_parts"

    upload_id: Mapped[str] = mapped_column(
        ForeignKey("media_uploads.id", ondelete="CASCADE"), primary_key=True
    )
    part_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    storage_key: Mapped[str] = mapped_column(String(255), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    #: The part's verified ``x-amz-checksum-*`` value (``ALGORITHM:base64``), if the client sent one.
    checksum: Mapped[str | None] = mapped_column(String(128), nullable=True)
