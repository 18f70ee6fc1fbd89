"""Durable background jobs and their paginated results."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from glasshouse.db import Base, new_id, utcnow


class JobStatus(StrEnum):
    IN_PROGRESS = "IN_PROGRESS"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class Job(Base):
    """One unit of background work. ``IN_PROGRESS`` covers queued and running: a job is running while
    ``lease_owner`` holds an unexpired lease, which the runner renews (heartbeat) until it finishes."""

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("org_id", "kind", "client_request_token", name="uq_job_token"),
        Index("ix_jobs_status_lease", "status", "lease_expires_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.IN_PROGRESS.value)
    status_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    #: JSON parameters the handler reads (references to stored media, never image bytes).
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: SHA-256 of the canonical params: a reused client token must come with the same params.
    params_digest: Mapped[str] = mapped_column(String(64))
    client_request_token: Mapped[str | None] = mapped_column(String(64), nullable=True)
    job_tag: Mapped[str | None] = mapped_column(String(256), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: Claims so far; a job whose lease expired is claimed again until ``job_max_attempts``.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: When a message for the job was last published to the Celery broker (celery backend only).
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    result_summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    result_count: Mapped[int] = mapped_column(Integer, default=0)


class JobResult(Base):
    """One result payload, ``seq`` 1..n. Written with the ``SUCCEEDED`` status in one transaction."""

    __tablename__ = "job_results"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
