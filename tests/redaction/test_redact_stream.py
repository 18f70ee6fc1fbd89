"""Pass 2 alone, on synthetic clips: memory does not grow with the clip's length, the codec is kept, and a
face track's box is covered in frames between its sightings."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from glasshouse.engine.pipeline import EngineOptions, FaceEngine
from glasshouse.redaction import Method, RedactionSettings, redact_video
from glasshouse.video.decode import VideoReader, iter_frames, probe
from glasshouse.video.pipeline import VideoAnalysis, VideoStats, VideoTrack
from glasshouse.video.track import NormBox, Sighting
from video.helpers import write_video

#: Media processing only: runs once, in the SQLite pass (no database involved).
pytestmark = pytest.mark.no_database

BOX = NormBox(0.25, 0.25, 0.25, 0.25)


def clip(path: Path, frames: int) -> Path:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    return write_video(path, [np.roll(noise, i, axis=1) for i in range(frames)])


def analysis(path: Path) -> VideoAnalysis:
    """One "face" at ``BOX``, sighted every 400 ms (what pass 1 would hand over)."""
    meta = probe(path)
    sightings = [Sighting(ms, BOX, 0.9) for ms in range(0, meta.duration_ms + 1, 400)]
    return VideoAnalysis(meta, [VideoTrack(0, sightings, None, [], 0.5)], VideoStats())


def peak_bytes(engine: FaceEngine, source: Path, out: Path) -> int:
    found = analysis(source)
    tracemalloc.start()
    try:
        redact_video(engine, source, out, RedactionSettings(method=Method.BOX), analysis=found)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def engine(model_cache_dir: Path) -> FaceEngine:
    return FaceEngine(EngineOptions(model_cache_dir=model_cache_dir))  # never called: analysis is given


def test_memory_does_not_grow_with_the_clips_length(engine: FaceEngine, tmp_path: Path) -> None:
    short = peak_bytes(engine, clip(tmp_path / "short.mp4", 25), tmp_path / "s.mp4")
    long = peak_bytes(engine, clip(tmp_path / "long.mp4", 500), tmp_path / "l.mp4")
    frame = 120 * 160 * 3
    assert long < short + 4 * frame, (short, long)  # 20× the frames, not even a few frames more memory


def test_codec_and_frames_are_kept_and_faces_covered_between_sightings(
    engine: FaceEngine, tmp_path: Path
) -> None:
    source = clip(tmp_path / "in.mp4", 40)
    out = tmp_path / "out.mp4"
    record = redact_video(
        engine, source, out, RedactionSettings(method=Method.BOX, padding=0.0), analysis=analysis(source)
    )
    before, after = probe(source), probe(out)
    assert (after.format, after.codec) == ("MP4", "mpeg4") == (before.format, before.codec)
    assert after.frame_count == before.frame_count == record.media["frames"] == 40
    assert record.media["audio"] is None and record.faces["frames_with_faces_covered"] == 40
    for (_, a), (_, b) in zip(iter_frames(source), iter_frames(out), strict=True):
        inside = b[32:58, 42:78].astype(int)  # inside the box (160×120: 40–80 × 30–60), off its edges
        assert inside.mean() < 15, "a frame was not covered"  # black, give or take the codec (noise: 128)
        assert np.abs(b[70:, :].astype(int) - a[70:, :].astype(int)).mean() < 20  # below it: the picture
    assert len(list(VideoReader(out).frames())) == 40
