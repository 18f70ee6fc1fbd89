"""Embed image files for evaluation: detect → align → embed, over a process pool.

Two face choices (:data:`FACE_CHOICES`):

* ``centre``: one face per image, the detection whose box centre is nearest the image centre (LFW and most
  pair sets are centred on the subject; 19–23% of LFW images also show a background face, often larger).
  No-face policy: a box at :data:`FALLBACK_BOX` (fractions of the image, the typical CenterFace box on LFW's
  250x250 crops) with the typical landmarks :data:`FALLBACK_LANDMARKS` is fed to the aligner, as if the
  detector had found a face there; such images are counted and listed.
* ``api``: what CompareFaces does (:mod:`glasshouse.engine.compare`, the same code): the pair's first image
  is the source, its largest face is compared with every face of the second image, and the best cosine is
  the pair's score. No face in either image: the API finds no match, so the pair scores -1.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt

from glasshouse.engine.centerface import DEFAULT_MIN_FACE
from glasshouse.engine.models.builtin import DLIB
from glasshouse.engine.models.card import DLIB_150, ModelCard
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
#: Face choice name -> what it means (reported with every run).
FACE_CHOICES: dict[str, str] = {
    "centre": "the detected face whose box centre is nearest the image centre",
    "api": "CompareFaces' choice: the first image's largest face against every face of the second, best taken",
}
API_NO_FACE_POLICY = "no face detected: the API finds no match, so the pair scores -1 (a certain non-match)"
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
    face_choice: str = "centre"
    detector_precision: str = "float"
    embedder_precision: str = "float"
    detection_min_face: int = DEFAULT_MIN_FACE
    #: The face model evaluated (its card) and, for a pack, its installed network.
    model: ModelCard = DLIB
    model_file: Path | None = None

    def label(self) -> str:
        parts = [] if self.model == DLIB else [f"model={self.model.name}"]
        if self.model.alignment == DLIB_150:
            parts.append(f"aligner={self.aligner}")
        parts.append(f"flip={'on' if self.flip else 'off'}")
        for part, precision in (("detector", self.detector_precision), ("embedder", self.embedder_precision)):
            if precision != "float":
                parts.append(f"{part}={precision}")
        if self.detection_min_face != DEFAULT_MIN_FACE:
            parts.append(f"min_face={self.detection_min_face}")
        if self.jitter:
            parts.append(f"jitter={self.jitter}")
        if self.face_choice != "centre":
            parts.append(f"faces={self.face_choice}")
        return ", ".join(parts)


def build_engine(cfg: PipelineConfig) -> FaceEngine:
    from glasshouse.engine.pipeline import EngineOptions, FaceEngine

    options = EngineOptions(
        model_cache_dir=cfg.model_cache_dir,
        threads=cfg.threads,
        embed_flip=cfg.flip,
        detector_precision=cfg.detector_precision,
        embedder_precision=cfg.embedder_precision,
        detection_min_face=cfg.detection_min_face,
        aligner=cfg.aligner,
        model=cfg.model,
        model_file=cfg.model_file,
    )
    if cfg.model.alignment != DLIB_150:  # a five-point pack: its own template, from the engine
        if cfg.jitter:
            raise ValueError("jitter is implemented for the dlib model only")
        return FaceEngine(options)
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
    #: ``api`` choice only: every face CompareFaces would score in this image as a target.
    targets: npt.NDArray[np.float32] | None = None
    #: ``api`` choice only: why CompareFaces would fail with this image as its target.
    api_error: str | None = None
    #: ``api`` choice only: the ``centre`` choice's embedding, from the same pass.
    centre: npt.NDArray[np.float32] | None = None


def embedding_width(engine: FaceEngine) -> int:
    """The length of ``engine``'s embeddings (the width of what it answers for no face): evaluation names no
    model's dimension itself."""
    return int(engine.embed_faces(np.zeros((1, 1, 3), dtype=np.uint8), []).shape[1])


def embed_one(engine: FaceEngine, index: int, path: Path, *, api: bool = False) -> ImageResult:
    from glasshouse.engine.decode import decode_image
    from glasshouse.errors import InvalidImageError, InvalidParameterError

    t0 = time.perf_counter()
    try:
        image: RGBImage = decode_image(path.read_bytes(), max_bytes=64 * 1024 * 1024)
    except (OSError, InvalidImageError) as exc:
        return ImageResult(index, None, error=str(exc))
    t1 = time.perf_counter()
    detections = engine.detect(image)
    t2 = time.perf_counter()
    h, w = image.shape[:2]
    if api:
        return _embed_api_choice(engine, index, image, detections, t0, t1, t2)
    chosen = nearest_centre(detections, w, h) if detections else fallback_detection(w, h)
    try:
        chips = engine.align(image, [chosen])
    except InvalidParameterError as exc:  # a degenerate detection: the image cannot be analysed
        return ImageResult(index, None, len(detections), error=str(exc))
    t3 = time.perf_counter()
    emb = engine.embed_chips(chips)[0]
    t4 = time.perf_counter()
    secs = {"decode": t1 - t0, "detect": t2 - t1, "align": t3 - t2, "embed": t4 - t3}
    return ImageResult(index, np.asarray(emb, dtype=np.float32), len(detections), not detections, None, secs)


def _embed_api_choice(
    engine: FaceEngine,
    index: int,
    image: RGBImage,
    detections: list[Detection],
    t0: float,
    t1: float,
    t2: float,
) -> ImageResult:
    """Embed CompareFaces' target faces; the source face's embedding (the largest) is among them. Where the
    aligner refuses one of them (a degenerate detection), CompareFaces fails with this image as its target:
    it then has no target faces here (its pairs score -1), and only the source face is embedded."""
    from glasshouse.engine.compare import source_face, target_faces
    from glasshouse.errors import InvalidParameterError

    scored = target_faces(detections)
    src = source_face(detections)
    try:
        chips = engine.align(image, [detections[i] for i in scored])
    except InvalidParameterError as exc:
        return _api_source_only(engine, index, image, detections, src, str(exc))
    t3 = time.perf_counter()
    emb = np.asarray(engine.embed_chips(chips), dtype=np.float32)
    t4 = time.perf_counter()
    secs = {"decode": t1 - t0, "detect": t2 - t1, "align": t3 - t2, "embed": t4 - t3}
    source = emb[scored.index(src)] if src is not None else np.zeros(emb.shape[1], dtype=np.float32)
    centre = _centre_of(engine, image, detections, [detections[i] for i in scored], emb)
    return ImageResult(index, source, len(detections), src is None, None, secs, targets=emb, centre=centre)


def _centre_of(
    engine: FaceEngine,
    image: RGBImage,
    detections: list[Detection],
    embedded: list[Detection],
    emb: npt.NDArray[np.float32],
) -> npt.NDArray[np.float32]:
    """The ``centre`` choice's embedding from the same pass (reusing an embedded face where it is one);
    zeros (cosine 0 with anything: a non-match) where the aligner refuses the face."""
    from glasshouse.errors import InvalidParameterError

    h, w = image.shape[:2]
    chosen = nearest_centre(detections, w, h) if detections else fallback_detection(w, h)
    for d, e in zip(embedded, emb, strict=False):
        if d is chosen:
            return np.asarray(e, dtype=np.float32)
    try:
        return np.asarray(engine.embed_faces(image, [chosen])[0], dtype=np.float32)
    except InvalidParameterError:
        return np.zeros(embedding_width(engine), dtype=np.float32)


def _api_source_only(
    engine: FaceEngine, index: int, image: RGBImage, detections: list[Detection], src: int | None, why: str
) -> ImageResult:
    from glasshouse.errors import InvalidParameterError

    width = embedding_width(engine)
    empty = np.zeros((0, width), dtype=np.float32)
    assert src is not None  # the aligner refused a detection, so there was one
    centre = _centre_of(engine, image, detections, [], empty)
    try:
        source = np.asarray(engine.embed_faces(image, [detections[src]])[0], dtype=np.float32)
    except InvalidParameterError:
        source, missing = np.zeros(width, np.float32), True
    else:
        missing = False
    n = len(detections)
    return ImageResult(index, source, n, missing, None, targets=empty, api_error=why, centre=centre)


_WORKER_ENGINE: list[FaceEngine] = []  # one engine per pool worker process


def _init_worker(cfg: PipelineConfig) -> None:
    _WORKER_ENGINE.append(build_engine(cfg))


R = TypeVar("R")
#: A per-image task run in the pool: ``task(engine, index, path, option) -> result`` (module-level, picklable).
ImageTask = Callable[["FaceEngine", int, Path, Any], R]


def _run_batch(task: ImageTask[R], batch: list[tuple[int, str]], option: Any) -> list[R]:
    engine = _WORKER_ENGINE[0]
    return [task(engine, i, Path(p), option) for i, p in batch]


def map_images(
    task: ImageTask[R],
    paths: Sequence[Path],
    cfg: PipelineConfig,
    option: Any = None,
    *,
    workers: int | None = None,
    batch: int = 16,
    progress: Callable[[int], None] | None = None,
) -> list[R]:
    """``task`` over every path (results in completion order). ``workers > 1`` runs a spawn-context process
    pool, one engine per process (each with ``cfg.threads`` onnxruntime threads); ``workers=1`` runs here."""
    n_workers = workers or default_workers()
    results: list[R] = []
    if n_workers == 1:
        engine = build_engine(cfg)
        for i, p in enumerate(paths):
            results.append(task(engine, i, p, option))
            if progress is not None:
                progress(1)
        return results
    warm = build_engine(cfg)
    warm.embed_chips(np.zeros((1, warm.chip_size, warm.chip_size, 3), np.uint8))  # convert/cache models once
    items = [(i, str(p)) for i, p in enumerate(paths)]
    batches = [items[k : k + batch] for k in range(0, len(items), batch)]
    with ProcessPoolExecutor(
        n_workers, mp_context=get_context("spawn"), initializer=_init_worker, initargs=(cfg,)
    ) as pool:
        futures = [pool.submit(_run_batch, task, b, option) for b in batches]
        for fut in as_completed(futures):
            done = fut.result()
            results.extend(done)
            if progress is not None:
                progress(len(done))
    return results


def _embed_task(engine: FaceEngine, index: int, path: Path, api: bool) -> ImageResult:
    return embed_one(engine, index, path, api=api)


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
    #: ``api`` choice only: per image, the embeddings of every face scored as a target (may be empty).
    targets: tuple[npt.NDArray[np.float32], ...] | None = None
    #: ``api`` choice only: images CompareFaces fails on as its target, and why.
    api_errors: dict[int, str] = field(default_factory=dict)
    #: ``api`` choice only: the ``centre`` choice's embeddings from the same pass (see :func:`as_centre`).
    centre: npt.NDArray[np.float32] | None = None

    def as_centre(self) -> EmbedOutcome:
        """An ``api`` outcome as the ``centre`` choice would have scored it (same detections)."""
        if self.centre is None:
            return self
        return replace(self, embeddings=self.centre, targets=None, fallback=(), api_errors={}, centre=None)

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
    """Embed every path once (see :func:`map_images` for ``workers``)."""
    n_workers = workers or default_workers()
    api = cfg.face_choice == "api"
    start = time.perf_counter()
    results = map_images(_embed_task, paths, cfg, api, workers=n_workers, batch=batch, progress=progress)
    wall = time.perf_counter() - start
    return _collect(results, len(paths), wall, n_workers, api)


def _collect(results: list[ImageResult], n: int, wall: float, workers: int, api: bool) -> EmbedOutcome:
    width = next((r.embedding.size for r in results if r.embedding is not None), 0)  # the model's dimension
    emb = np.zeros((n, width), dtype=np.float32)
    ok = np.zeros(n, dtype=np.bool_)
    stages = dict.fromkeys(STAGES, 0.0)
    fallback, errors, multi = [], {}, 0
    empty = np.zeros((0, width), dtype=np.float32)
    targets: list[npt.NDArray[np.float32]] = [empty] * n
    api_errors: dict[int, str] = {}
    centre = np.zeros((n, width), dtype=np.float32)
    for r in results:
        if r.embedding is None:
            errors[r.index] = r.error or "unknown error"
            continue
        emb[r.index], ok[r.index] = r.embedding, True
        if r.targets is not None:
            targets[r.index] = r.targets
        if r.api_error is not None:
            api_errors[r.index] = r.api_error
        if r.centre is not None:
            centre[r.index] = r.centre
        if r.fallback:
            fallback.append(r.index)
        multi += r.faces > 1
        for k, v in r.seconds.items():
            stages[k] += v
    kept = tuple(targets) if api else None
    return EmbedOutcome(
        emb,
        ok,
        tuple(sorted(fallback)),
        multi,
        errors,
        wall,
        stages,
        workers,
        kept,
        api_errors,
        centre if api else None,
    )
