"""The face crop of a lead's probe, kept only for leads made in the web console.

Glasshouse keeps no face images by default. A reviewer, though, has to look at the two faces before
confirming a lead, so the console keeps a small JPEG of the probe face (its face region, at most
160 pixels, never the whole picture) beside the lead. The crop is deleted with the lead, and as soon as
every candidate of the lead has been rejected. A candidate's enrolled face is shown only where its
collection opted in to keeping crops (``face_crops``, encrypted); otherwise reviewers see its
ExternalImageId and box, and the page says that no enrolled image is kept.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from glasshouse.db import Base, utcnow
from glasshouse.faces.crops import MAX_CROP_BYTES as MAX_CROP_BYTES  # re-exported


class LeadProbeImage(Base):
    __tablename__ = "lead_probe_images"

    lead_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("leads.id", ondelete="CASCADE"), primary_key=True
    )
    jpeg: Mapped[bytes] = mapped_column(LargeBinary)
    #: The probe face's box in the searched image (pixels) and that image's size.
    box: Mapped[dict[str, Any]] = mapped_column(JSON)
    image_width: Mapped[int] = mapped_column(Integer)
    image_height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
