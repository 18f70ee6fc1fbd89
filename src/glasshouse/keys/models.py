"""The ``access_keys`` table: one row per issued key; the secret is stored sealed, never in plain text."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from glasshouse.db import Base, utcnow

ACCESS_KEY_ID_LENGTH = 20


class AccessKey(Base):
    __tablename__ = "access_keys"

    access_key_id: Mapped[str] = mapped_column(String(ACCESS_KEY_ID_LENGTH), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    #: The person the key acts for (filled in by the governance work; ``None`` = the organisation itself).
    person_id: Mapped[str | None] = mapped_column(String(64), default=None)
    #: :meth:`glasshouse.keys.crypto.SecretBox.seal` of the secret, bound to ``access_key_id``.
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    label: Mapped[str | None] = mapped_column(String(255), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    def __repr__(self) -> str:
        revoked = self.revoked_at is not None
        return f"AccessKey({self.access_key_id!r}, org_id={self.org_id!r}, revoked={revoked})"
