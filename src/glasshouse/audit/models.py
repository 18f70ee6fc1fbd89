"""The audit tables: ``audit_entries`` (append-only, hash-chained) and ``audit_head`` (one row, the chain's tip).

No foreign key to ``organisations``: an entry must outlive the organisation it names (a cascade would
delete entries and break the chain), so the organisation's name is copied into each entry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from glasshouse.db import Base

#: ``prev_hash`` of the first entry, and ``audit_head.last_hash`` of an empty log.
GENESIS_HASH = "0" * 64
HEAD_ID = 1
#: BIGINT on server databases; INTEGER on SQLite, where only that type aliases the rowid.
SEQ_TYPE = BigInteger().with_variant(Integer(), "sqlite")


class AuditEntry(Base):
    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(SEQ_TYPE, primary_key=True, autoincrement=False)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor_org_id: Mapped[str | None] = mapped_column(String(36), index=True)
    actor_org_name: Mapped[str] = mapped_column(String(255))
    actor_person: Mapped[str | None] = mapped_column(String(255))
    actor_key: Mapped[str | None] = mapped_column(String(64))
    surface: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64), index=True)
    decision: Mapped[str] = mapped_column(String(8))
    rule: Mapped[str | None] = mapped_column(String(128))
    policy_version: Mapped[int | None] = mapped_column(Integer)
    purpose: Mapped[str | None] = mapped_column(String(255))
    case_number: Mapped[str | None] = mapped_column(String(128), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The tip of the chain. Updating it first in every append serialises writers (row lock / BEGIN
    IMMEDIATE); ``mac`` (keyed) lets ``verify`` notice a tail deleted together with a rewound head."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(SEQ_TYPE)
    last_hash: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str | None] = mapped_column(String(64))
