"""Notification targets (an operator's webhook per SNS topic ARN) and the durable outbox of deliveries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from glasshouse.db import Base, new_id, utcnow

MAX_ARN_LENGTH = 1024
MAX_URL_LENGTH = 2048


class NotificationTarget(Base):
    """Where notifications for one organisation's SNS topic ARN are posted, with the HMAC secret that
    signs them (sealed with the server key)."""

    __tablename__ = "notify_targets"
    __table_args__ = (UniqueConstraint("org_id", "topic_arn", name="uq_notify_target_arn"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    topic_arn: Mapped[str] = mapped_column(String(MAX_ARN_LENGTH))
    url: Mapped[str] = mapped_column(String(MAX_URL_LENGTH))
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Notification(Base):
    """One message to deliver (the outbox): written in the transaction that finishes its job, delivered
    by the job runners' periodic sweep with exponential backoff until it succeeds or runs out of attempts."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_due", "delivered_at", "failed_at", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    target_id: Mapped[str | None] = mapped_column(
        ForeignKey("notify_targets.id", ondelete="SET NULL"), nullable=True, index=True
    )
    #: One notification per finished job.
    job_id: Mapped[str] = mapped_column(String(36), unique=True)
    topic_arn: Mapped[str] = mapped_column(String(MAX_ARN_LENGTH))
    #: The SNS envelope posted, exactly as sent on every attempt (same MessageId).
    body: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
