"""Open untrusted video (path or bytes) with PyAV, describe it, and iterate its frames lazily and upright.

Accepted containers: MP4/MOV, WebM/Matroska and AVI. Timestamps come from each frame's presentation time
(``pts * time_base``), never from its index, so variable-frame-rate video is timed correctly; they are
milliseconds from the start of the video: the first frame's presentation time is subtracted, as Rekognition
Video's timestamps count from the start (the stream of the hamilton clip starts at 852 ms, kept in
``VideoMetadata.start_ms``), so they lie in ``[0, duration_ms]``. Rotation metadata (the display matrix) is applied so frames come out upright; mirroring flags in
the matrix are ignored. Only one decoded frame is alive at a time, whatever the video's length.
Every failure is an :class:`InvalidVideoError` with a message a caller can show.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, TypeAlias

import av
import cv2
import numpy as np
import numpy.typing as npt

from glasshouse.engine.types import RGBImage
from glasshouse.errors import InvalidInputError

#: A video to open: a file path, or the file's bytes.
VideoSource: TypeAlias = str | os.PathLike[str] | bytes

#: FFmpeg demuxer name → the name used in messages and metadata.
CONTAINERS: dict[str, str] = {
    "mov,mp4,m4a,3gp,3g2,mj2": "MP4",
    "matroska,webm": "WebM",
    "avi": "AVI",
}
_IMAGE_MAGIC: dict[bytes, str] = {
    b"\xff\xd8\xff": "a JPEG image",
    b"\x89PNG\r\n\x1a\n": "a PNG image",
    b"GIF8": "a GIF image",
}
#: 8-bit pixel formats whose first plane is the luma image (others are converted to grey by FFmpeg).
_LUMA_FORMATS = frozenset(
    f"{p}{s}" for p in ("yuv", "yuvj") for s in ("420p", "422p", "444p", "440p", "411p")
) | {"nv12", "nv21", "gray", "yuva420p"}
THUMB_SIZE = (32, 18)  # (width, height) of the luma thumbnail used for change detection


class InvalidVideoError(InvalidInputError):
    """Not a decodable video in a supported container (empty, corrupt, truncated, audio-only, an image…)."""

    code = "InvalidVideo"


@dataclass(frozen=True, slots=True)
class VideoMetadata:
    """What a caller needs to know about a video. Sizes are as displayed (after rotation).

    ``duration_ms`` is the video track's own duration (not the container's, which includes longer audio);
    ``start_ms`` is the first frame's presentation time. ``frame_count`` is ``None`` when the container
    does not say (WebM often does not).
    """

    format: str
    codec: str
    duration_ms: int
    start_ms: int
    frame_rate: float
    width: int
    height: int
    rotation: int
    frame_count: int | None
    container_duration_ms: int | None

    def to_rekognition(self) -> dict[str, Any]:
        """Rekognition's ``VideoMetadata`` shape."""
        return {
            "Codec": self.codec,
            "DurationMillis": self.duration_ms,
            "Format": self.format,
            "FrameRate": round(self.frame_rate, 3),
            "FrameHeight": self.height,
            "FrameWidth": self.width,
        }


def apply_rotation(image: npt.NDArray[np.uint8], degrees: float) -> npt.NDArray[np.uint8]:
    """Rotate ``image`` counter-clockwise by ``degrees`` (rounded to a multiple of 90), as the display matrix
    asks (PyAV's ``VideoFrame.rotation`` is counter-clockwise). A phone's portrait clip reads ``-90``."""
    k = round(degrees / 90.0) % 4
    return image if k == 0 else np.ascontiguousarray(np.rot90(image, k))


class Frame:
    """One decoded frame. Converting to RGB is deferred so frames that are skipped cost almost nothing."""

    __slots__ = ("_frame", "index", "rotation", "timestamp_ms")

    def __init__(self, frame: av.VideoFrame, index: int, timestamp_ms: float, rotation: int) -> None:
        self._frame = frame
        self.index = index
        self.timestamp_ms = timestamp_ms
        self.rotation = rotation

    def rgb(self) -> RGBImage:
        """The frame as upright ``(h, w, 3)`` uint8 RGB."""
        arr = np.asarray(self._frame.to_ndarray(format="rgb24"), dtype=np.uint8)
        return apply_rotation(arr, self.rotation)

    def thumbnail(self) -> npt.NDArray[np.uint8]:
        """A tiny luma image (unrotated) for cheap change detection: read straight from the Y plane."""
        f = self._frame
        luma: npt.NDArray[np.uint8]
        if f.format.name in _LUMA_FORMATS:
            plane = f.planes[0]
            rows = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
            luma = rows[: f.height, : f.width]
        else:
            luma = np.asarray(f.to_ndarray(format="gray"), dtype=np.uint8)
        return np.asarray(cv2.resize(luma, THUMB_SIZE, interpolation=cv2.INTER_AREA), dtype=np.uint8)


class VideoReader:
    """A validated video. ``metadata`` is read on construction; :meth:`frames` decodes lazily.

    Construction raises :class:`InvalidVideoError` unless the source is a supported container with a video
    stream whose first frame decodes. Each call to :meth:`frames` starts a fresh pass from the beginning.
    """

    def __init__(self, source: VideoSource) -> None:
        self._source = source
        self._size = _source_size(source)
        if self._size == 0:
            raise InvalidVideoError("video is empty (0 bytes)")
        self.metadata = self._probe()

    def _open(self) -> Any:
        src: Any = io.BytesIO(self._source) if isinstance(self._source, bytes) else os.fspath(self._source)
        try:
            return av.open(src, mode="r")
        except av.error.FFmpegError as exc:
            raise InvalidVideoError(self._explain_open_failure(exc)) from exc
        except OSError as exc:  # missing or unreadable path
            raise InvalidVideoError(f"cannot read video: {exc.strerror or exc}") from exc

    def _explain_open_failure(self, exc: Exception) -> str:
        head = _head(self._source)
        what = _image_kind(head)
        if what:
            return f"not a video: the data is {what}"
        if head[4:8] == b"ftyp":
            return "MP4/MOV data is truncated or corrupt: its index (moov atom) is missing or unreadable"
        return f"not a supported video (MP4, MOV, WebM or AVI), or the data is corrupt ({_reason(exc)})"

    def _probe(self) -> VideoMetadata:
        container = self._open()
        try:
            fmt = CONTAINERS.get(container.format.name)
            if fmt is None:
                what = _image_kind(_head(self._source))
                if what or container.format.name.endswith("_pipe") or container.format.name == "image2":
                    raise InvalidVideoError(f"not a video: the data is {what or 'an image'}")
                raise InvalidVideoError(
                    f"unsupported container {container.format.name!r}: use MP4, MOV, WebM or AVI"
                )
            if not container.streams.video:
                kinds = sorted({s.type for s in container.streams}) or ["no streams"]
                raise InvalidVideoError(f"no video stream in the file (it has {', '.join(kinds)})")
            stream = container.streams.video[0]
            self._check_not_truncated(stream)
            first = self._first_frame(container, stream)
            return _metadata(container, stream, fmt, first)
        except InvalidVideoError:
            raise
        except Exception as exc:  # untrusted input: whatever FFmpeg or PyAV trips on becomes a typed error
            raise InvalidVideoError(f"video is corrupt or unreadable ({_reason(exc)})") from exc
        finally:
            container.close()

    def _check_not_truncated(self, stream: Any) -> None:
        """MP4 indexes every sample up front: data it points past the end of the file was cut off."""
        entries = stream.index_entries
        if entries is None or len(entries) == 0 or self._size is None:
            return
        end = max(e.pos + e.size for e in entries)
        if end > self._size:
            raise InvalidVideoError(
                f"video is truncated: the file is {self._size} bytes but its index needs {end} bytes"
            )

    def _first_frame(self, container: Any, stream: Any) -> av.VideoFrame:
        try:
            for frame in container.decode(stream):
                first: av.VideoFrame = frame
                return first
        except av.error.FFmpegError as exc:
            raise InvalidVideoError(
                f"video data is corrupt: cannot decode its first frame ({_reason(exc)})"
            ) from exc
        raise InvalidVideoError("video stream has no decodable frames (corrupt or truncated)")

    def frames(self) -> Iterator[Frame]:
        """Every frame in presentation order, lazily. Raises :class:`InvalidVideoError` on corrupt data."""
        container = self._open()
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            tb = stream.time_base
            index = 0
            last_ms = -math.inf  # on the stream's own timeline
            origin: float | None = None  # the first frame's presentation time
            it = container.decode(stream)
            while True:
                try:
                    frame = next(it)
                except StopIteration:
                    return
                except av.error.FFmpegError as exc:
                    at = "" if origin is None else f" after {(last_ms - origin) / 1000:.2f} s"
                    raise InvalidVideoError(f"video data is corrupt{at} ({_reason(exc)})") from exc
                ms = _timestamp_ms(frame, tb, last_ms, self.metadata.frame_rate)
                last_ms = ms
                origin = ms if origin is None else origin
                yield Frame(frame, index, max(0.0, ms - origin), int(frame.rotation))
                index += 1
        finally:
            container.close()


def probe(source: VideoSource) -> VideoMetadata:
    """Metadata only (validates the video: raises :class:`InvalidVideoError` like :class:`VideoReader`)."""
    return VideoReader(source).metadata


def iter_frames(source: VideoSource) -> Iterator[tuple[float, RGBImage]]:
    """``(timestamp_ms, upright RGB frame)`` for every frame, lazily (one frame in memory at a time)."""
    for frame in VideoReader(source).frames():
        yield frame.timestamp_ms, frame.rgb()


# -- helpers -----------------------------------------------------------------------------------------------
def _source_size(source: VideoSource) -> int | None:
    if isinstance(source, bytes):
        return len(source)
    try:
        return os.stat(source).st_size
    except OSError as exc:
        raise InvalidVideoError(f"cannot read video: {exc.strerror or exc}") from exc


def _head(source: VideoSource) -> bytes:
    if isinstance(source, bytes):
        return source[:16]
    try:
        with open(source, "rb") as fh:
            return fh.read(16)
    except OSError:
        return b""


def _image_kind(head: bytes) -> str | None:
    for magic, name in _IMAGE_MAGIC.items():
        if head.startswith(magic):
            return name
    return None


def _reason(exc: Exception) -> str:
    return str(getattr(exc, "strerror", None) or exc)


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def _timestamp_ms(frame: av.VideoFrame, time_base: Fraction | None, last_ms: float, fps: float) -> float:
    """Presentation time in ms; a frame without a pts gets the previous one plus one nominal frame."""
    pts = frame.pts
    if pts is not None and time_base is not None:
        return float(pts * time_base) * 1000.0
    if frame.time is not None:
        return float(frame.time) * 1000.0
    return 0.0 if last_ms == -math.inf else last_ms + 1000.0 / (fps or 30.0)


def _metadata(container: Any, stream: Any, fmt: str, first: av.VideoFrame) -> VideoMetadata:
    tb = stream.time_base
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    start = _seconds(stream.start_time, tb)
    if start is None:
        start = float(first.time) if first.time is not None else 0.0
    duration = _seconds(stream.duration, tb)
    container_s = container.duration / 1e6 if container.duration else None
    if duration is None:  # WebM/AVI often carry no per-stream duration: the container's is the best known
        duration = (container_s - start) if container_s is not None else 0.0
    rotation = int(first.rotation)
    w, h = int(stream.codec_context.width), int(stream.codec_context.height)
    if round(rotation / 90.0) % 2:
        w, h = h, w
    frames = int(stream.frames) if stream.frames else None
    return VideoMetadata(
        format=fmt,
        codec=str(stream.codec_context.name),
        duration_ms=round(max(duration, 0.0) * 1000),
        start_ms=round(start * 1000),
        frame_rate=fps,
        width=w,
        height=h,
        rotation=rotation,
        frame_count=frames,
        container_duration_ms=round(container_s * 1000) if container_s is not None else None,
    )
