"""Redaction as a domain service: only inside a policy-gate grant (``media.redact``), audited with digests.

The copy is written beside ``out`` under a temporary name and moved into place only when complete, so a
failed redaction leaves no partial file, and it never overwrites its own original.
"""

from __future__ import annotations

import os
from pathlib import Path

from glasshouse.engine.decode import sniff_format
from glasshouse.engine.pipeline import FaceEngine
from glasshouse.errors import InvalidParameterError
from glasshouse.governance.gate import require_grant
from glasshouse.redaction.image import redact_image
from glasshouse.redaction.record import RedactionRecord, RedactionSettings
from glasshouse.redaction.video import Progress, redact_video
from glasshouse.video.decode import probe

#: Format of the original → file name suffixes its redacted copy may have.
SUFFIXES = {
    "JPEG": {".jpg", ".jpeg"},
    "PNG": {".png"},
    "MP4": {".mp4", ".mov", ".m4v"},
    "WebM": {".webm", ".mkv"},
    "AVI": {".avi"},
}


#: The suffix a copy gets when its original's name has none of its format's (``portal/<clip id>``).
DEFAULT_SUFFIX = {"JPEG": ".jpg", "PNG": ".png", "MP4": ".mp4", "WebM": ".webm", "AVI": ".avi"}


def _format_of(source: Path) -> str:
    with source.open("rb") as f:
        image_format = sniff_format(f.read(16))
    return image_format or probe(source).format


def copy_suffix(source: Path, name: str) -> str:
    """The file name suffix for a redacted copy of ``source`` (whose name, e.g. in the media store, is
    ``name``): ``name``'s own if it fits the format, else the format's usual one."""
    fmt = _format_of(source)
    suffix = Path(name).suffix.lower()
    return suffix if suffix in SUFFIXES.get(fmt, set()) else DEFAULT_SUFFIX.get(fmt, suffix)


class RedactionService:
    def __init__(self, engine: FaceEngine) -> None:
        self.engine = engine

    def redact(
        self, source: Path, out: Path, settings: RedactionSettings, progress: Progress | None = None
    ) -> RedactionRecord:
        """Write a redacted copy of ``source`` (JPEG, PNG or a video) to ``out``; return its record."""
        grant = require_grant()
        if out.resolve() == source.resolve():
            raise InvalidParameterError("the redacted copy cannot replace its original: choose another --out")
        if not out.parent.is_dir():
            raise InvalidParameterError(f"no folder {out.parent} to write the redacted copy in")
        with source.open("rb") as f:
            image_format = sniff_format(f.read(16))
        fmt = image_format or probe(source).format
        if out.suffix.lower() not in SUFFIXES.get(fmt, set()):
            allowed = ", ".join(sorted(SUFFIXES.get(fmt, set())))
            raise InvalidParameterError(f"the copy of a {fmt} file keeps its format: name it {allowed}")
        partial = out.with_name(f".{out.name}.partial")
        try:
            if image_format:
                record = redact_image(self.engine, source, partial, settings)
            else:
                record = redact_video(self.engine, source, partial, settings, progress=progress)
            os.replace(partial, out)
        finally:
            partial.unlink(missing_ok=True)
        grant.note(
            kind=record.kind,
            original_sha256=record.original_sha256,
            output_sha256=record.output_sha256,
            method=settings.method.value,
            kept=sorted(settings.keep_persons),
            engine=record.engine,
        )
        return record
