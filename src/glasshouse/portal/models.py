"""Community camera portal tables: cameras and clips of residents, agencies' footage requests, the owners
asked (their inbox), what they shared, and operators' emergency disclosures.

Times are stored UTC. A clip's bytes live in the media store (a ``media_objects`` row of the residents'
organisation, ``source="portal"``); the clip row adds what the portal needs (camera, recording time).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from glasshouse.db import Base, new_id, utcnow

#: The one organisation every camera owner belongs to (created on first use).
RESIDENTS_ORG: Final = "residents"
#: Request kinds: filed by an agency and answered by consent, or created by an emergency disclosure.
CONSENT: Final = "consent"
EMERGENCY: Final = "emergency"
OPEN: Final = "open"
CLOSED: Final = "closed"
PENDING: Final = "pending"
SHARED: Final = "shared"
DECLINED: Final = "declined"
#: What an emergency request says in public; the operators' reason (which may name people or places) is
#: for the owners, in their inbox, and for the auditors.
DISCLOSURE_DESCRIPTION: Final = (
    "Emergency disclosure: footage handed over without the owners' consent, approved by two operators."
)
#: An owner's inbox status when two operators disclosed their clips without asking them.
DISCLOSED: Final = "disclosed"
APPROVED: Final = "approved"
#: Answers to an unredaction request.
ACCEPTED: Final = "accepted"
REFUSED: Final = "refused"


class Camera(Base):
    __tablename__ = "portal_cameras"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    note: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Clip(Base):
    __tablename__ = "portal_clips"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    camera_id: Mapped[str] = mapped_column(ForeignKey("portal_cameras.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    #: The media object holding the bytes (``portal/<clip id>`` in the residents' organisation).
    media_id: Mapped[str] = mapped_column(ForeignKey("media_objects.id"), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    #: When the recording started (given by the owner) and ended (start + decoded duration).
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    duration_seconds: Mapped[float] = mapped_column(Float)
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OwnerSettings(Base):
    __tablename__ = "portal_owner_settings"

    owner_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    retention_days: Mapped[int] = mapped_column(Integer)
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    share_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    contact: Mapped[str] = mapped_column(String(255), default="")


class FootageRequest(Base):
    __tablename__ = "portal_requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16), default=CONSENT)
    agency_org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    #: The filing principal: ``person:<id>``, ``key:<id>`` (an agency's API key) or an operator.
    created_by: Mapped[str] = mapped_column(String(255))
    incident_type: Mapped[str] = mapped_column(String(64))
    case_number: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text)
    contact: Mapped[str] = mapped_column(String(255))
    #: ``{"type": "circle", "center": [lat, lon], "radius_m": r}`` or ``{"type": "polygon", "points": [...]}``.
    area: Mapped[dict[str, Any]] = mapped_column(JSON)
    area_sq_mi: Mapped[float] = mapped_column(Float)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    respond_by: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default=OPEN, index=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: Set when the request closes: the agency's access to shared clips (not evidence) ends then.
    access_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class RequestRecipient(Base):
    """An owner asked by a request: one row of their inbox."""

    __tablename__ = "portal_recipients"
    __table_args__ = (UniqueConstraint("request_id", "owner_id", name="uq_portal_recipient"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    request_id: Mapped[str] = mapped_column(ForeignKey("portal_requests.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    responded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: When the owner was told of an emergency disclosure of their clips (``None`` for consent requests).
    notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Share(Base):
    """A clip handed to a request's agency: the chain-of-custody record."""

    __tablename__ = "portal_shares"
    __table_args__ = (UniqueConstraint("request_id", "clip_id", name="uq_portal_share"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    request_id: Mapped[str] = mapped_column(ForeignKey("portal_requests.id", ondelete="CASCADE"), index=True)
    clip_id: Mapped[str] = mapped_column(ForeignKey("portal_clips.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    shared_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: The owner's contact, copied only when the owner opted in to sharing it.
    contact: Mapped[str | None] = mapped_column(String(255), nullable=True)
    evidence: Mapped[bool] = mapped_column(Boolean, default=False)
    kind: Mapped[str] = mapped_column(String(16), default=CONSENT)
    #: Shared with faces redacted: the agency gets only this copy (``None``: shared as recorded). Deleting
    #: the copy deletes the share, so a share never silently falls back to the original.
    redacted_copy_id: Mapped[str | None] = mapped_column(
        ForeignKey("redacted_copies.id", ondelete="CASCADE"), nullable=True, index=True
    )
    #: When the owner accepted the agency's unredaction request: from then on the agency gets the original.
    unredacted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    @property
    def serves_copy(self) -> bool:
        """Whether the agency gets the redacted copy (not the original) of this share."""
        return self.redacted_copy_id is not None and self.unredacted_at is None


class UnredactionRequest(Base):
    """An agency's reasoned request for the original of a clip shared redacted; the owner answers."""

    __tablename__ = "portal_unredaction_requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    share_id: Mapped[str] = mapped_column(ForeignKey("portal_shares.id", ondelete="CASCADE"), index=True)
    agency_org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    case_number: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    filed_by: Mapped[str] = mapped_column(String(255))
    filed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class EmergencyDisclosure(Base):
    """Footage disclosed without consent: requested by one operator, approved by another."""

    __tablename__ = "portal_emergency_disclosures"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    agency_org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    clip_ids: Mapped[list[str]] = mapped_column(JSON)
    case_number: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(255))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    approved_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    #: The request created on approval (kind ``emergency``), through which the agency downloads.
    request_id: Mapped[str | None] = mapped_column(
        ForeignKey("portal_requests.id", ondelete="SET NULL"), nullable=True
    )
    notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: Set on approval: whether redacted copies were disclosed, and if not, the approver's reason why not.
    redacted: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    unredacted_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
