"""Policy versions: every change to the policy is a new, immutable version with who and why."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from glasshouse.db import Base, utcnow


class PolicyVersion(Base):
    __tablename__ = "policy_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(128))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: ``file`` (loaded at start from the policy file) or ``change`` (REST, CLI, UI).
    source: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
