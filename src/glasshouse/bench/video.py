"""Video face search speed: the tracked, adaptively sampled pipeline against the naive per-frame baseline.

The naive baseline decodes every frame, detects and embeds every face in it (``FaceEngine.analyse``) and
matches each face against the collection on its own. Both runs search the same small collection (one
reference still per person, named by file stem) and are compared on who they find and when.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from glasshouse.engine.similarity import similarity_from_cosine
from glasshouse.video.decode import VideoReader, VideoSource
from glasshouse.video.pipeline import DEFAULT_THRESHOLD, analyse_video, search_tracks

if TYPE_CHECKING:
    from glasshouse.engine.pipeline import FaceEngine


@dataclass(slots=True)
class SearchRun:
    """One way of searching a video: its cost and, per matched face id, the timestamps it was seen at."""

    name: str
    wall_s: float = 0.0
    cpu_s: float = 0.0
    frames_processed: int = 0
    faces_detected: int = 0
    faces_embedded: int = 0
    found: dict[str, list[int]] = field(default_factory=dict)

    def to_json(self, video_s: float) -> dict[str, Any]:
        return {
            "name": self.name,
            "wall_s": round(self.wall_s, 3),
            "cpu_s": round(self.cpu_s, 3),
            "x_real_time": round(video_s / self.wall_s, 2) if self.wall_s else None,
            "x_real_time_cpu": round(video_s / self.cpu_s, 2) if self.cpu_s else None,
            "frames_processed": self.frames_processed,
            "faces_detected": self.faces_detected,
            "faces_embedded": self.faces_embedded,
            "found": {
                k: {"first_ms": v[0], "last_ms": v[-1], "timestamps": len(v)}
                for k, v in sorted(self.found.items())
            },
        }


def reference_collection(
    engine: FaceEngine, paths: Sequence[Path]
) -> tuple[list[str], npt.NDArray[np.float32]]:
    """Embed the largest face of each still; the face id is the file stem."""
    from glasshouse.engine.decode import decode_image

    ids: list[str] = []
    vectors = []
    for p in paths:
        faces = engine.analyse(decode_image(p.read_bytes()), max_faces=1)
        if faces and faces[0].embedding is not None:
            ids.append(p.stem)
            vectors.append(faces[0].embedding)
    return ids, np.asarray(vectors, dtype=np.float32).reshape(len(ids), -1)


def run_tracked(
    engine: FaceEngine,
    source: VideoSource,
    ids: Sequence[str],
    vectors: npt.NDArray[np.float32],
    threshold: float = DEFAULT_THRESHOLD,
    **options: Any,
) -> SearchRun:
    """``analyse_video`` + ``search_tracks`` (the default pipeline, or as ``options`` say)."""
    mode = "adaptive" if options.get("adaptive", True) else "fixed"
    run = SearchRun(f"tracked ({mode}, {options.get('sample_fps', 5.0):g} fps base)")
    w, c = time.perf_counter(), time.process_time()
    analysis = analyse_video(engine, source, **options)
    persons = search_tracks(analysis.tracks, vectors, ids, threshold)
    run.wall_s, run.cpu_s = time.perf_counter() - w, time.process_time() - c
    run.frames_processed = analysis.stats.frames_sampled
    run.faces_detected = analysis.stats.detections
    run.faces_embedded = analysis.stats.faces_embedded
    for p in persons:
        for m in p.matches:
            run.found.setdefault(m.face_id, []).append(p.timestamp_ms)
    return run


def run_naive(
    engine: FaceEngine,
    source: VideoSource,
    ids: Sequence[str],
    vectors: npt.NDArray[np.float32],
    threshold: float = DEFAULT_THRESHOLD,
) -> SearchRun:
    """Every frame: detect and embed every face, match each against the collection."""
    run = SearchRun("naive (every face of every frame)")
    w, c = time.perf_counter(), time.process_time()
    for frame in VideoReader(source).frames():
        faces = engine.analyse(frame.rgb())
        run.frames_processed += 1
        run.faces_detected += len(faces)
        run.faces_embedded += len(faces)
        for face in faces:
            if face.embedding is None or not len(vectors):
                continue
            sims = similarity_from_cosine(vectors @ face.embedding)
            for i in np.flatnonzero(sims >= threshold).tolist():
                run.found.setdefault(ids[i], []).append(round(frame.timestamp_ms))
    run.wall_s, run.cpu_s = time.perf_counter() - w, time.process_time() - c
    for v in run.found.values():
        v.sort()
    return run


def warm_up(engine: FaceEngine, size: tuple[int, int]) -> None:
    """Load the models and let the runtime settle on the video's frame size (not timed)."""
    h, w = size
    image = np.zeros((h, w, 3), dtype=np.uint8)
    engine.detect(image)
    engine.embed_chips(np.zeros((1, 150, 150, 3), dtype=np.uint8))


def compare(
    engine: FaceEngine, clip: Path, refs: Sequence[Path], *, naive: bool = True, **options: Any
) -> dict[str, Any]:
    """Both runs on ``clip`` against the stills ``refs``; the result is JSON-ready."""
    ids, vectors = reference_collection(engine, refs)
    meta = VideoReader(clip).metadata
    warm_up(engine, (meta.height, meta.width))
    video_s = meta.duration_ms / 1000.0
    runs = [run_tracked(engine, clip, ids, vectors, **options)]
    if naive:
        runs.append(run_naive(engine, clip, ids, vectors))
    result: dict[str, Any] = {
        "clip": str(clip),
        "video": {**meta.to_rekognition(), "start_ms": meta.start_ms, "frames": meta.frame_count},
        "collection": ids,
        "threshold": DEFAULT_THRESHOLD,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "runs": [r.to_json(video_s) for r in runs],
    }
    if naive:
        result["same_people"] = set(runs[0].found) == set(runs[1].found)
        result["speedup"] = round(runs[1].wall_s / runs[0].wall_s, 2)
    return result
