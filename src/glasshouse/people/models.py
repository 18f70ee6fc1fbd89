"""People who sign in to the web UI, with roles, and their browser sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from glasshouse.db import Base, new_id, utcnow

OPERATOR = "operator"
ORG_ADMIN = "org-admin"
INVESTIGATOR = "investigator"
REVIEWER = "reviewer"
AUDITOR = "auditor"
CAMERA_OWNER = "camera-owner"
#: Every role a person can hold. ``operator`` only in an operators' organisation.
ROLES: tuple[str, ...] = (OPERATOR, ORG_ADMIN, INVESTIGATOR, REVIEWER, AUDITOR, CAMERA_OWNER)


class Person(Base):
    __tablename__ = "people"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    #: Stored lower-cased; sign-in lower-cases what is typed.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    #: argon2id, in the PHC string format (parameters and salt included).
    password_hash: Mapped[str] = mapped_column(String(255))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class WebSession(Base):
    """A signed-in browser. ``id`` is the SHA-256 (hex) of the cookie's token: a copy of this table does
    not let anyone sign in. Sessions end after 8 hours idle or 24 hours in all (``expires_at``)."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: The absolute end (created_at + 24 h); the idle limit is checked against ``last_seen_at``.
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
