"""Redaction speed as a multiple of real time, beside decoding the same clip alone, in one run.

"decode" decodes every frame (what any processing of the clip costs at least); "redact" is the whole of
:func:`~glasshouse.redaction.redact_video` with the defaults: find and track every face, then decode, cover,
encode and mux with the audio copied.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from glasshouse.bench.video import warm_up
from glasshouse.engine.pipeline import FaceEngine
from glasshouse.redaction import RedactionSettings, redact_video
from glasshouse.video.decode import VideoReader


def _timed(name: str, video_s: float, work: Any) -> tuple[dict[str, Any], Any]:
    w, c = time.perf_counter(), time.process_time()
    out = work()
    wall, cpu = time.perf_counter() - w, time.process_time() - c
    run = {
        "name": name,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "x_real_time": round(video_s / wall, 2),
        "x_real_time_cpu": round(video_s / cpu, 2),
    }
    return run, out


def compare(engine: FaceEngine, clip: Path, settings: RedactionSettings | None = None) -> dict[str, Any]:
    """Both runs on ``clip``; the result is JSON-ready."""
    meta = VideoReader(clip).metadata
    warm_up(engine, (meta.height, meta.width))
    video_s = meta.duration_ms / 1000.0
    load_before = os.getloadavg()[0]
    decode, frames = _timed("decode", video_s, lambda: sum(1 for _ in VideoReader(clip).frames()))
    decode["frames"] = frames
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"redacted{clip.suffix}"
        redact, record = _timed(
            "redact", video_s, lambda: redact_video(engine, clip, out, settings or RedactionSettings())
        )
    redact["frames"] = record.media["frames"]
    return {
        "clip": str(clip),
        "video": {**meta.to_rekognition(), "frames": meta.frame_count},
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "runs": [decode, redact],
        "record": record.to_json(),
    }
