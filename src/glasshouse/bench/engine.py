"""End-to-end engine benchmark: Glasshouse's engine against face_recognition's pipeline on the same images.

The baseline makes exactly the dlib calls ``face_recognition.face_locations(img)`` and
``face_recognition.face_encodings(img, locations)`` make (face-recognition-ng 1.4.2, ``api.py``): HOG
detector with one upsample, 5-point shape predictor, ``compute_face_descriptor(img, shape, num_jitters=1)``;
images loaded as ``load_image_file`` does (PIL → RGB array). It calls dlib directly instead of importing
``face_recognition`` because that module loads dlib's 68-point landmark model at import, which Glasshouse
must never use.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from glasshouse.engine.pipeline import FaceEngine

Progress = Callable[[int], None]
WARMUP_IMAGES = 3


@dataclass(slots=True)
class PipelineTiming:
    """Seconds spent per stage over ``images`` images in which ``faces`` faces were embedded."""

    name: str
    images: int = 0
    faces: int = 0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    warmup_seconds: float = 0.0

    def add(self, stage: str, seconds: float) -> None:
        self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + seconds

    @property
    def total_seconds(self) -> float:
        return sum(self.stage_seconds.values())

    @property
    def faces_per_second(self) -> float:
        return self.faces / self.total_seconds if self.total_seconds else 0.0

    @property
    def images_per_second(self) -> float:
        return self.images / self.total_seconds if self.total_seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        n = max(self.images, 1)
        return {
            "name": self.name,
            "images": self.images,
            "faces": self.faces,
            "total_s": round(self.total_seconds, 3),
            "faces_per_s": round(self.faces_per_second, 2),
            "images_per_s": round(self.images_per_second, 2),
            "ms_per_image": round(1000 * self.total_seconds / n, 2),
            "ms_per_face": round(1000 * self.total_seconds / max(self.faces, 1), 2),
            "stage_ms_per_image": {k: round(1000 * v / n, 2) for k, v in self.stage_seconds.items()},
            "warmup_s": round(self.warmup_seconds, 2),
        }


def select_images(lfw_dir: Path, n: int, seed: int = 0) -> list[Path]:
    """A fixed, seeded sample of ``n`` images from the sorted LFW file list."""
    paths = sorted(lfw_dir.glob("*/*.jpg"))
    if len(paths) < n:
        raise ValueError(f"only {len(paths)} images under {lfw_dir}/*/*.jpg; {n} requested")
    return random.Random(seed).sample(paths, n)


def bench_glasshouse(
    engine: FaceEngine, paths: Sequence[Path], progress: Progress | None = None
) -> PipelineTiming:
    """decode → detect (+ pose/quality) → align → embed every face, as ``FaceEngine.analyse`` does."""
    from glasshouse.engine.decode import decode_image

    t0 = time.perf_counter()
    for p in paths[:WARMUP_IMAGES]:  # loads and converts the models; not timed
        engine.analyse(decode_image(p.read_bytes()))
    timing = PipelineTiming("glasshouse", warmup_seconds=time.perf_counter() - t0)
    for p in paths:
        a = time.perf_counter()
        image = decode_image(p.read_bytes())
        b = time.perf_counter()
        detections = engine.detect(image)
        c = time.perf_counter()
        engine.describe(image, detections)
        d = time.perf_counter()
        chips = engine.align(image, detections)
        e = time.perf_counter()
        engine.embed_chips(chips)
        f = time.perf_counter()
        for stage, secs in (("decode", b - a), ("detect", c - b), ("pose_quality", d - c), ("align", e - d)):
            timing.add(stage, secs)
        timing.add("embed", f - e)
        timing.images += 1
        timing.faces += len(detections)
        if progress is not None:
            progress(1)
    return timing


@dataclass(frozen=True, slots=True)
class Throughput:
    """``clients`` callers at once, each taking the next image until none are left."""

    name: str
    clients: int
    images: int
    faces: int
    wall_s: float
    mean_batch_requests: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "clients": self.clients,
            "images": self.images,
            "faces": self.faces,
            "wall_s": round(self.wall_s, 3),
            "faces_per_s": round(self.faces / self.wall_s, 2) if self.wall_s else 0.0,
            "images_per_s": round(self.images / self.wall_s, 2) if self.wall_s else 0.0,
            "mean_batch_requests": self.mean_batch_requests,
        }


def concurrent_throughput(
    name: str,
    analyse: Callable[[Path], int],
    paths: Sequence[Path],
    clients: int,
    progress: Progress | None = None,
    setup: Callable[[], object] | None = None,
) -> Throughput:
    """Run ``analyse`` (one image → faces embedded) over ``paths`` from ``clients`` threads at once, as a
    server's worker threads would; the figure is images and faces per wall-clock second."""
    lock = threading.Lock()
    remaining = iter(paths)
    faces = [0]
    started: list[float] = []
    ready = threading.Barrier(clients, action=lambda: started.append(time.perf_counter()))

    def client() -> None:
        if setup is not None:
            setup()  # per-thread models load before the clock starts
        ready.wait()
        while True:
            with lock:
                path = next(remaining, None)
            if path is None:
                return
            n = analyse(path)
            with lock:
                faces[0] += n
            if progress is not None:
                progress(1)

    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client) for _ in range(clients)]:
            future.result()
    return Throughput(name, clients, len(paths), faces[0], time.perf_counter() - started[0])


def glasshouse_analyse(engine: FaceEngine) -> Callable[[Path], int]:
    """One request's work: decode, then ``FaceEngine.analyse`` (detect, pose/quality, align, embed)."""
    from glasshouse.engine.decode import decode_image

    return lambda path: len(engine.analyse(decode_image(path.read_bytes())))


def face_recognition_analyse() -> tuple[Callable[[Path], int], Callable[[], object]]:
    """One image through face_recognition's calls (see :func:`bench_face_recognition`). dlib's models are
    not safe to share between threads (it crashes), so each client thread loads its own: the second callable,
    run in each thread before timing starts."""
    import dlib
    from PIL import Image

    from glasshouse.engine import model_files

    local = threading.local()

    def models() -> tuple[Any, Any, Any]:
        if not hasattr(local, "models"):
            local.models = (
                dlib.get_frontal_face_detector(),
                dlib.shape_predictor(str(model_files.dlib_shape_predictor_5())),
                dlib.face_recognition_model_v1(str(model_files.dlib_resnet_dat())),
            )
        return local.models  # type: ignore[no-any-return]

    def analyse(path: Path) -> int:
        detector, predictor, encoder = models()
        with Image.open(path) as im:
            image = np.array(im.convert("RGB"))
        h, w = image.shape[:2]
        n = 0
        for r in detector(image, 1):
            rect = dlib.rectangle(max(r.left(), 0), max(r.top(), 0), min(r.right(), w), min(r.bottom(), h))
            np.array(encoder.compute_face_descriptor(image, predictor(image, rect), 1))
            n += 1
        return n

    return analyse, models


def bench_face_recognition(paths: Sequence[Path], progress: Progress | None = None) -> PipelineTiming:
    """face_recognition's ``load_image_file`` + ``face_locations`` + ``face_encodings`` (see module doc)."""
    import dlib
    from PIL import Image

    from glasshouse.engine import model_files

    t0 = time.perf_counter()
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(model_files.dlib_shape_predictor_5()))
    encoder = dlib.face_recognition_model_v1(str(model_files.dlib_resnet_dat()))
    timing = PipelineTiming("face_recognition", warmup_seconds=time.perf_counter() - t0)
    for p in paths:
        a = time.perf_counter()
        with Image.open(p) as im:
            image = np.array(im.convert("RGB"))
        b = time.perf_counter()
        h, w = image.shape[:2]
        rects = []
        for r in detector(image, 1):  # face_locations: trim to the image, then back to a dlib rectangle
            top, right, bottom, left = (
                max(r.top(), 0),
                min(r.right(), w),
                min(r.bottom(), h),
                max(r.left(), 0),
            )
            rects.append(dlib.rectangle(left, top, right, bottom))
        c = time.perf_counter()
        shapes = [predictor(image, r) for r in rects]
        d = time.perf_counter()
        for s in shapes:
            np.array(encoder.compute_face_descriptor(image, s, 1))
        e = time.perf_counter()
        for stage, secs in (
            ("decode", b - a),
            ("detect", c - b),
            ("landmarks", d - c),
            ("chip_and_embed", e - d),
        ):
            timing.add(stage, secs)
        timing.images += 1
        timing.faces += len(rects)
        if progress is not None:
            progress(1)
    return timing
