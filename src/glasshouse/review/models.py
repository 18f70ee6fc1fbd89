"""Leads (one per reviewed search), their candidates, and the reviews of each candidate."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from glasshouse.db import Base, new_id, utcnow


class Lead(Base):
    __tablename__ = "leads"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    capability: Mapped[str] = mapped_column(String(64))
    requested_by: Mapped[str] = mapped_column(String(255))
    purpose: Mapped[str | None] = mapped_column(String(64), nullable=True)
    case_number: Mapped[str | None] = mapped_column(String(128), nullable=True)
    collection_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    probe_digest: Mapped[str] = mapped_column(String(80))
    reviewers_required: Mapped[int] = mapped_column(Integer)
    policy_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    candidates: Mapped[list[LeadCandidate]] = relationship(
        back_populates="lead", cascade="all, delete-orphan", order_by="LeadCandidate.rank"
    )


class LeadCandidate(Base):
    __tablename__ = "lead_candidates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    lead_id: Mapped[str] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    #: The candidate: a face id, or ``user:<UserId>`` for user searches.
    reference: Mapped[str] = mapped_column(String(160))
    external_image_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    similarity: Mapped[float] = mapped_column(Float)

    lead: Mapped[Lead] = relationship(back_populates="candidates")
    reviews: Mapped[list[Review]] = relationship(cascade="all, delete-orphan", order_by="Review.created_at")


class Review(Base):
    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("candidate_id", "reviewer", name="uq_review_once_per_reviewer"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    candidate_id: Mapped[str] = mapped_column(
        ForeignKey("lead_candidates.id", ondelete="CASCADE"), index=True
    )
    reviewer: Mapped[str] = mapped_column(String(255))
    decision: Mapped[str] = mapped_column(String(16))  # confirm | reject
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
