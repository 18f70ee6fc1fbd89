"""Organisations: sector, jurisdiction, exemption flags and approval records the policy gate reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from glasshouse.db import Base, new_id, utcnow

#: The organisation the local CLI acts as when none is named.
LOCAL_ORG_NAME = "local"
#: Approval kinds an organisation can hold (each with an optional expiry).
APPROVAL_KINDS = ("accountability_report", "governing_body_approval")


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    sector: Mapped[str] = mapped_column(String(32), default="commercial", server_default="commercial")
    jurisdiction: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: Exemption and attribute flags, e.g. ``child_protection``.
    flags: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    #: Operators run the service: they manage organisations, keys and policy.
    is_operator: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    #: Set by an operator once the organisation's identity (e.g. an agency) has been checked.
    verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "sector": self.sector,
            "jurisdiction": self.jurisdiction,
            "flags": sorted(self.flags or []),
            "is_operator": self.is_operator,
            "verified": self.verified,
            "created_at": self.created_at.isoformat(),
        }


class ApprovalRecord(Base):
    """An accountability report on file or a governing body's approval, valid until ``expires_at``."""

    __tablename__ = "approval_records"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    reference: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    recorded_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
