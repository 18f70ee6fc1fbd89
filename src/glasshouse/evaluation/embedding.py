"""Embed image files for evaluation: one face per image through detect → align → embed, over a process pool.

Face choice: the detection whose box centre is nearest the image centre (LFW and most pair sets are
centred on the subject; 19–23% of LFW images also show a background face, often larger).
No-face policy: a box at :data:`FALLBACK_BOX` (fractions of the image, the typical CenterFace box on LFW's
250x250 crops) with the typical landmarks :data:`FALLBACK_LANDMARKS` is fed to the aligner, as if the
detector had found a face there; such images are counted and listed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from glasshouse.engine.types import Box, Detection, RGBImage

if TYPE_CHECKING:
    from glasshouse.engine.pipeline import FaceEngine

#: (left, top, right, bottom) as fractions of width/height, and the five landmarks (eye_left, eye_right,
#: nose, mouth_left, mouth_right) likewise: medians of the centre-most CenterFace detection over 300 random
#: LFW deep-funneled images (seed 1), i.e. where LFW's centred crops put the face.
FALLBACK_BOX: tuple[float, float, float, float] = (0.312, 0.257, 0.690, 0.763)
FALLBACK_LANDMARKS: tuple[tuple[float, float], ...] = (
    (0.417, 0.457),
    (0.588, 0.448),
    (0.504, 0.553),
    (0.432, 0.634),
    (0.576, 0.627),
)
FALLBACK_POLICY = (
    "no face detected: LFW's typical face box and landmarks (fractions of the image, centred) were aligned "
    "and embedded as if detected"
)
FACE_CHOICE = "the detected face whose box centre is nearest the image centre"
ALIGNERS = ("dlib", "landmarks")
STAGES = ("decode", "detect", "align", "embed")


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """Which engine parts to evaluate. ``threads`` is onnxruntime intra-op threads per process."""

    model_cache_dir: Path
    aligner: str = "landmarks"
    flip: bool = True
    jitter: int = 0
    threads: int = 1
    detector_precision: str = "float"
    embedder_precision: str = "float"

    def label(self) -> str:
        parts = [f"aligner={self.aligner}", f"flip={'on' if self.flip else 'off'}"]
        for part, precision in (("detector", self.detector_precision), ("embedder", self.embedder_precision)):
            if precision != "float":
                parts.append(f"{part}={precision}")
        if self.jitter:
            parts.append(f"jitter={self.jitter}")
        return ", ".join(parts)


def build_engine(cfg: PipelineConfig) -> FaceEngine:
    from glasshouse.engine.pipeline import EngineOptions, FaceEngine

    options = EngineOptions(
        model_cache_dir=cfg.model_cache_dir,
        threads=cfg.threads,
        embed_flip=cfg.flip,
        detector_precision=cfg.detector_precision,
        embedder_precision=cfg.embedder_precision,
    )
    if cfg.aligner == "dlib":
        from glasshouse.engine.align import DlibAligner

        aligner: object = DlibAligner()
    elif cfg.aligner == "landmarks":
        from glasshouse.engine.align import LandmarkAligner

        aligner = LandmarkAligner()
    else:
        raise ValueError(f"aligner must be one of {ALIGNERS}, not {cfg.aligner!r}")
    embedder = None
    if cfg.jitter:
        from glasshouse.engine.embed import OnnxResNetEmbedder
        from glasshouse.evaluation.tta import JitterEmbedder

        inner = OnnxResNetEmbedder(
            cfg.model_cache_dir, threads=cfg.threads, flip=cfg.flip, precision=cfg.embedder_precision
        )
        embedder = JitterEmbedder(inner, cfg.jitter)
    return FaceEngine(options, aligner=aligner, embedder=embedder)  # type: ignore[arg-type]


def nearest_centre(detections: Sequence[Detection], width: int, height: int) -> Detection:
    cx, cy = width / 2.0, height / 2.0

    def dist(d: Detection) -> float:
        b = d.box
        return float(((b.left + b.right) / 2 - cx) ** 2 + ((b.top + b.bottom) / 2 - cy) ** 2)

    return min(detections, key=dist)


def fallback_detection(width: int, height: int) -> Detection:
    x0, y0, x1, y1 = FALLBACK_BOX
    marks = np.array([(x * width, y * height) for x, y in FALLBACK_LANDMARKS], dtype=np.float32)
    return Detection(Box(x0 * width, y0 * height, x1 * width, y1 * height), 0.0, marks)


@dataclass(slots=True)
class ImageResult:
    index: int
    embedding: npt.NDArray[np.float32] | None
    faces: int = 0
    fallback: bool = False
    error: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def embed_one(engine: FaceEngine, index: int, path: Path) -> ImageResult:
    from glasshouse.engine.decode import decode_image
    from glasshouse.errors import InvalidImageError

    t0 = time.perf_counter()
    try:
        image: RGBImage = decode_image(path.read_bytes(), max_bytes=64 * 1024 * 1024)
    except (OSError, InvalidImageError) as exc:
        return ImageResult(index, None, error=str(exc))
    t1 = time.perf_counter()
    detections = engine.detect(image)
    t2 = time.perf_counter()
    h, w = image.shape[:2]
    chosen = nearest_centre(detections, w, h) if detections else fallback_detection(w, h)
    chips = engine.align(image, [chosen])
    t3 = time.perf_counter()
    emb = engine.embed_chips(chips)[0]
    t4 = time.perf_counter()
    secs = {"decode": t1 - t0, "detect": t2 - t1, "align": t3 - t2, "embed": t4 - t3}
    return ImageResult(index, np.asarray(emb, dtype=np.float32), len(detections), not detections, None, secs)


_WORKER_ENGINE: list[FaceEngine] = []  # one engine per pool worker process


def _init_worker(cfg: PipelineConfig) -> None:
    _WORKER_ENGINE.append(build_engine(cfg))


def _embed_batch(batch: list[tuple[int, str]]) -> list[ImageResult]:
    engine = _WORKER_ENGINE[0]
    return [embed_one(engine, i, Path(p)) for i, p in batch]


@dataclass(frozen=True, slots=True)
class EmbedOutcome:
    """Embeddings row-aligned with the input paths (zeros where an image failed to decode)."""

    embeddings: npt.NDArray[np.float32]
    ok: npt.NDArray[np.bool_]
    fallback: tuple[int, ...]
    multi_face: int
    errors: dict[int, str]
    wall_seconds: float
    stage_seconds: dict[str, float]
    workers: int

    @property
    def ms_per_image(self) -> float:
        return 1000.0 * self.wall_seconds / max(len(self.ok), 1)


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def embed_paths(
    paths: Sequence[Path],
    cfg: PipelineConfig,
    *,
    workers: int | None = None,
    batch: int = 16,
    progress: Callable[[int], None] | None = None,
) -> EmbedOutcome:
    """Embed every path once. ``workers > 1`` runs a spawn-context process pool, one engine per process
    (each with ``cfg.threads`` onnxruntime threads); ``workers=1`` runs here."""
    n_workers = workers or default_workers()
    results: list[ImageResult] = []
    start = time.perf_counter()
    if n_workers == 1:
        engine = build_engine(cfg)
        for i, p in enumerate(paths):
            results.append(embed_one(engine, i, p))
            if progress is not None:
                progress(1)
    else:
        build_engine(cfg).embed_chips(np.zeros((1, 150, 150, 3), np.uint8))  # convert/cache models once
        items = [(i, str(p)) for i, p in enumerate(paths)]
        batches = [items[k : k + batch] for k in range(0, len(items), batch)]
        with ProcessPoolExecutor(
            n_workers, mp_context=get_context("spawn"), initializer=_init_worker, initargs=(cfg,)
        ) as pool:
            futures = [pool.submit(_embed_batch, b) for b in batches]
            for fut in as_completed(futures):
                done = fut.result()
                results.extend(done)
                if progress is not None:
                    progress(len(done))
    wall = time.perf_counter() - start
    return _collect(results, len(paths), wall, n_workers)


def _collect(results: list[ImageResult], n: int, wall: float, workers: int) -> EmbedOutcome:
    emb = np.zeros((n, 128), dtype=np.float32)
    ok = np.zeros(n, dtype=np.bool_)
    stages = dict.fromkeys(STAGES, 0.0)
    fallback, errors, multi = [], {}, 0
    for r in results:
        if r.embedding is None:
            errors[r.index] = r.error or "unknown error"
            continue
        emb[r.index], ok[r.index] = r.embedding, True
        if r.fallback:
            fallback.append(r.index)
        multi += r.faces > 1
        for k, v in r.seconds.items():
            stages[k] += v
    return EmbedOutcome(emb, ok, tuple(sorted(fallback)), multi, errors, wall, stages, workers)
