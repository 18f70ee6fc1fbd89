"""Redaction: copies of images and videos with the faces of everyone not kept covered, and the record that
ties each copy to its original (chain of custody).

Pure computation over :mod:`glasshouse.engine` and :mod:`glasshouse.video`; whoever calls it applies the
governance gate (:class:`glasshouse.redaction.service.RedactionService` does).
"""

from glasshouse.redaction.cover import Method
from glasshouse.redaction.image import redact_image
from glasshouse.redaction.record import RedactionRecord, RedactionSettings, engine_version
from glasshouse.redaction.timeline import Timeline
from glasshouse.redaction.video import redact_video

__all__ = [
    "Method",
    "RedactionRecord",
    "RedactionSettings",
    "Timeline",
    "engine_version",
    "redact_image",
    "redact_video",
]
