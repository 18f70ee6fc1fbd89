"""A clip's bytes on their way in: spooled to a private file (SHA-256 and the size limit applied while
streaming), then decoded whole with PyAV, so that only a real MP4/MOV/WebM video is stored."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Final

from glasshouse.media.service import MediaTooLargeError
from glasshouse.portal.common import text
from glasshouse.video.decode import InvalidVideoError, VideoReader

#: Decoded container -> stored content type (MOV files are demuxed as MP4; their name tells them apart).
ACCEPTED_FORMATS: Final = {"MP4": "video/mp4", "WebM": "video/webm"}
SPOOL_CHUNK: Final = 1024 * 1024


def spool(chunks: Iterable[bytes], path: Path, max_bytes: int) -> tuple[int, str]:
    """Write ``chunks`` to ``path``: (size, SHA-256); :class:`MediaTooLargeError` past ``max_bytes``."""
    digest, size = hashlib.sha256(), 0
    with path.open("wb") as out:
        for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise MediaTooLargeError(f"clips are limited to {max_bytes} bytes")
            digest.update(chunk)
            out.write(chunk)
    return size, digest.hexdigest()


def verify_video(path: Path, filename: str) -> tuple[str, float]:
    """(content type, duration in seconds) of a video that decodes from its first to its last frame."""
    reader = VideoReader(path)
    meta = reader.metadata
    content_type = ACCEPTED_FORMATS.get(meta.format)
    if content_type is None:
        raise InvalidVideoError(f"{meta.format} files are not accepted: upload MP4, MOV or WebM")
    if content_type == "video/mp4" and filename.lower().endswith(".mov"):
        content_type = "video/quicktime"
    frames = 0
    last_ms = 0.0
    for frame in reader.frames():  # decodes every frame: corrupt data part-way is refused here
        frames += 1
        last_ms = frame.timestamp_ms
    if frames == 0:
        raise InvalidVideoError("video has no decodable frames")
    duration_ms = meta.duration_ms if meta.duration_ms > 0 else last_ms  # frames count from 0
    if duration_ms <= 0:
        raise InvalidVideoError("video has no duration")
    return content_type, round(duration_ms / 1000.0, 3)


def clean_filename(filename: str) -> str:
    """The base name of an uploaded file (any folders the client sent are dropped)."""
    name = PurePosixPath(filename.replace("\\", "/")).name.strip()
    return text(name or "clip", "a file name", most=255)


def read_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as src:
        while chunk := src.read(SPOOL_CHUNK):
            yield chunk
