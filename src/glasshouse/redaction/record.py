"""What a redacted copy is, for the chain of custody: the original it came from (SHA-256), its own SHA-256,
the settings and the engine that made it. The original stays the evidence; the record lets anyone redo it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import cv2

from glasshouse import __version__
from glasshouse.redaction.cover import BLUR_CELLS, BLUR_SIGMA, Method

READ_CHUNK = 1 << 20


def engine_version(detection_threshold: float) -> str:
    """Every component whose change could change the output."""
    return (
        f"glasshouse {__version__} redaction/1; detector CenterFace (threshold {detection_threshold}); "
        f"PyAV {av.__version__}; FFmpeg {av.ffmpeg_version_info}; OpenCV {cv2.__version__}"
    )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class RedactionSettings:
    """How to redact. ``keep_persons``: track indexes (``Person.Index`` of a face detection or search job on
    the same video; for an image, the face's position in ``glasshouse detect``'s output, largest first) left
    visible. ``padding``: each box grows by this fraction of its size on every side. ``hold_ms``: see
    :mod:`glasshouse.redaction.timeline`."""

    method: Method = Method.BLUR
    padding: float = 0.25
    keep_persons: frozenset[int] = field(default_factory=frozenset)
    hold_ms: int = 500

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": self.method.value,
            "padding": self.padding,
            "keep_persons": sorted(self.keep_persons),
            "hold_ms": self.hold_ms,
        }
        if self.method is Method.BLUR:
            out["blur"] = {"cells_across_face": BLUR_CELLS, "sigma_cells": BLUR_SIGMA}
        return out


@dataclass(frozen=True, slots=True)
class RedactionRecord:
    """One redacted copy: what it came from, what it is, how it was made and what was covered."""

    kind: str  # "video" or "image"
    original_sha256: str
    output_sha256: str
    original_bytes: int
    output_bytes: int
    settings: RedactionSettings
    engine: str
    media: dict[str, Any]  # format/codec in and out, frames, duration, audio
    faces: dict[str, Any]  # persons found, covered, kept; frames with a face covered

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "original": {"sha256": self.original_sha256, "bytes": self.original_bytes},
            "output": {"sha256": self.output_sha256, "bytes": self.output_bytes},
            "settings": self.settings.to_json(),
            "engine": self.engine,
            "media": self.media,
            "faces": self.faces,
        }
