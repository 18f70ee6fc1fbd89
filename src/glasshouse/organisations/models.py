"""Organisation table (minimal in the foundation; the governance issue adds sector and approvals)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from glasshouse.db import Base, new_id, utcnow

#: The organisation the local CLI acts as when none is named.
LOCAL_ORG_NAME = "local"


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
