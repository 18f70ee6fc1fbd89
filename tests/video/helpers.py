"""Small synthetic videos written with PyAV for the decoder tests."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

CODECS = {"mp4": "mpeg4", "mov": "mpeg4", "avi": "mpeg4", "webm": "libvpx"}


def pattern(width: int, height: int, value: int = 0) -> npt.NDArray[np.uint8]:
    """A frame whose left half is bright and right half dark, with ``value`` in the blue channel."""
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    frame[:, : width // 2] = 220
    frame[..., 2] = value % 256
    return frame


def write_video(
    path: Path,
    frames: Sequence[npt.NDArray[np.uint8]],
    *,
    pts_ms: Sequence[int] | None = None,
    rotation: float | None = None,
    faststart: bool = False,
) -> Path:
    """Write ``frames`` (RGB) to ``path``; the container comes from the suffix. ``pts_ms`` gives VFR timing."""
    ext = path.suffix.lstrip(".")
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), mode="w", options=options) as out:
        stream = out.add_stream(CODECS[ext], rate=25)
        assert isinstance(stream, av.VideoStream)
        h, w = frames[0].shape[:2]
        stream.width, stream.height = w, h
        stream.pix_fmt = "yuv420p"
        if pts_ms is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
            stream.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            if pts_ms is not None:
                frame.pts = pts_ms[i]
                frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_audio_only(path: Path, seconds: float = 0.5) -> Path:
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("aac", rate=44100)
        assert isinstance(stream, av.AudioStream)
        samples = int(44100 * seconds)
        tone = (0.1 * np.sin(np.arange(samples) / 10.0)).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        frame.sample_rate = 44100
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
