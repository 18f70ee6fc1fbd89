"""Bulk enrolment of image files: a process pool analyses, the parent writes in batches.

Resumable without duplicates: a file whose SHA-256 is already in the collection is skipped, so rerunning
after an interruption continues where it stopped. Each batch of images is one transaction holding every
face of its images, so after a crash (even kill -9) an image is either wholly enrolled or absent, and the
rerun's digest check sees exactly the committed ones. (Two runs into one collection at the same time are
not coordinated: run one at a time.) Unreadable files and files without a face are counted.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from glasshouse.collections.ids import safe_external_image_id
from glasshouse.collections.models import Collection
from glasshouse.collections.service import CollectionService, ImageMeta, face_crop
from glasshouse.config import Settings
from glasshouse.engine.quality import QualityFilter, quality_refusal
from glasshouse.engine.types import Face
from glasshouse.errors import GlasshouseError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})


def discover(paths: Iterable[Path]) -> list[Path]:
    """Image files under ``paths`` (folders recursively), sorted for a stable, resumable order."""
    found: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found.update(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            found.add(path)
    return sorted(found)


def external_id_for(path: Path, mode: str) -> str:
    """ExternalImageId from a file path: ``stem`` (file name), ``parent`` (folder = identity) or ``name``."""
    raw = {"stem": path.stem, "parent": path.parent.name, "name": path.name}[mode]
    return safe_external_image_id(raw)


@dataclass(frozen=True, slots=True)
class Analysed:
    path: Path
    sha256: str
    width: int = 0
    height: int = 0
    faces: list[Face] = field(default_factory=list)
    error: str | None = None
    #: Each face's crop (same order as ``faces``), made only for collections that keep crops.
    crops: list[bytes] | None = None


@dataclass(slots=True)
class BulkReport:
    files: int = 0
    skipped_already_indexed: int = 0
    unreadable: int = 0
    no_face: int = 0
    images_indexed: int = 0
    faces_indexed: int = 0
    errors: dict[str, str] = field(default_factory=dict)


# -- worker side (runs in the pool's processes) -----------------------------------------------------------
_worker_analyser: object | None = None


def _exit_with_parent(parent: int) -> None:
    """Pool workers block on a queue whose writing end they hold themselves, so they would outlive a
    parent killed with SIGKILL; this watcher ends them within a second instead."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _init_worker(settings_json: str, parent: int, model: str) -> None:
    global _worker_analyser
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    from glasshouse.engine.models.registry import ModelRegistry
    from glasshouse.engine.pipeline import FaceEngine
    from glasshouse.faces.service import FaceAnalyser

    settings = Settings.model_validate_json(settings_json)
    settings = settings.model_copy(update={"onnx_threads": 1})
    registry = ModelRegistry(settings.model_packs_path, settings.aligner)
    engine = FaceEngine.from_settings(settings).with_model(
        registry.require(model), registry.model_file(model)
    )
    _worker_analyser = FaceAnalyser(
        engine,
        max_image_bytes=settings.max_image_bytes,
        max_image_pixels=settings.max_image_pixels,
        enforce_gate=False,  # the parent process runs the whole bulk enrolment inside one grant
    )


def _analyse_file(path: Path, sha256: str, crops: bool = False) -> Analysed:
    from glasshouse.faces.service import FaceAnalyser

    analyser = _worker_analyser
    assert isinstance(analyser, FaceAnalyser)
    try:
        result = analyser.analyse(path.read_bytes())
    except (OSError, GlasshouseError) as exc:
        return Analysed(path, sha256, error=str(exc))
    kept = [face_crop(result, f) for f in result.faces] if crops else None
    return Analysed(path, sha256, result.width, result.height, result.faces, crops=kept)


# -- parent side ---------------------------------------------------------------------------------------
def _digests(
    files: Iterable[Path], report: BulkReport, progress: Callable[[int], None] | None
) -> Iterator[tuple[Path, str]]:
    for path in files:
        try:
            yield path, hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            report.unreadable += 1
            report.errors[str(path)] = str(exc)
            if progress:
                progress(1)


def bulk_index(
    service: CollectionService,
    settings: Settings,
    collection: Collection,
    files: list[Path],
    *,
    workers: int = 2,
    external_id: str = "stem",
    max_faces: int | None = 1,
    quality_filter: QualityFilter = QualityFilter.AUTO,
    batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
) -> BulkReport:
    """Enrol the largest face (``max_faces``) of each file. ``progress(n)`` is called as files complete."""
    report = BulkReport(files=len(files))
    engine = service.analyser_for(collection).engine  # the collection's face model, in every worker
    done = service.indexed_digests(collection)
    pending: list[Analysed] = []

    def flush() -> None:
        batch: list[tuple[ImageMeta, list[Face], str | None]] = []
        crops: list[list[bytes]] = []
        for item in pending:
            chosen = [
                i
                for i, f in enumerate(item.faces)
                if quality_refusal(f.detection, f.quality, f.pose, quality_filter) is None
            ]
            chosen = chosen[:max_faces] if max_faces is not None else chosen
            if not chosen:
                report.no_face += 1
                continue
            meta = ImageMeta(item.width, item.height, item.sha256)
            batch.append((meta, [item.faces[i] for i in chosen], external_id_for(item.path, external_id)))
            crops.append([item.crops[i] for i in chosen] if item.crops is not None else [])
            report.images_indexed += 1
            report.faces_indexed += len(chosen)
        service.add_images(
            collection,
            batch,
            crops=crops if collection.keeps_face_crops else None,
            model_version=engine.model_version,
        )
        pending.clear()

    def collect(item: Analysed) -> None:
        if item.error is not None:
            report.unreadable += 1
            report.errors[str(item.path)] = item.error
        else:
            pending.append(item)
            if len(pending) >= batch_size:
                flush()
        if progress:
            progress(1)

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(settings.model_dump_json(), os.getpid(), engine.model.name),
    ) as pool:
        inflight: set[Future[Analysed]] = set()
        for path, sha in _digests(files, report, progress):
            if sha in done:
                report.skipped_already_indexed += 1
                if progress:
                    progress(1)
                continue
            done.add(sha)  # the same bytes twice in one run are enrolled once
            inflight.add(pool.submit(_analyse_file, path, sha, collection.keeps_face_crops))
            if len(inflight) >= workers * 8:
                finished, inflight = wait(inflight, return_when=FIRST_COMPLETED)
                for fut in finished:
                    collect(fut.result())
        for fut in inflight:
            collect(fut.result())
    flush()
    return report
