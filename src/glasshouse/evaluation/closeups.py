"""Close-up probe: LFW faces cut to most of their detected box and enlarged, as portrait crops are.

For each sampled identity (one image each), the face whose box centre is nearest the image centre is
cut to ``fraction`` of its box (about the box centre, so the frame cuts forehead and chin) and enlarged
``upscale`` times. A crop passes when the engine finds a face in it and that face's nearest gallery
entry (the uncropped images of every sampled identity) is the same identity.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import numpy.typing as npt

from glasshouse.engine.types import RGBImage
from glasshouse.evaluation.embedding import embedding_width

if TYPE_CHECKING:
    from glasshouse.engine.pipeline import FaceEngine

FRACTIONS = (0.8, 0.9, 1.0)
UPSCALES = (1, 2, 3, 4)


@dataclass(slots=True)
class CloseUpCell:
    """Counts for one (fraction, upscale) condition; ``missed``/``wrong`` name the identities."""

    crops: int = 0
    found: int = 0
    same_top1: int = 0
    missed: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)


@dataclass(slots=True)
class CloseUpReport:
    identities: int
    seed: int
    cells: dict[tuple[float, int], CloseUpCell]
    gallery_misses: list[str]
    seconds: float

    @property
    def crops(self) -> int:
        return sum(c.crops for c in self.cells.values())

    @property
    def found(self) -> int:
        return sum(c.found for c in self.cells.values())

    @property
    def same_top1(self) -> int:
        return sum(c.same_top1 for c in self.cells.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "identities": self.identities,
            "seed": self.seed,
            "crops": self.crops,
            "found": self.found,
            "same_top1": self.same_top1,
            "gallery_without_face": self.gallery_misses,
            "seconds": round(self.seconds, 1),
            "cells": [
                {"fraction": f, "upscale": u, "crops": c.crops, "found": c.found, "same_top1": c.same_top1}
                | ({"missed": c.missed} if c.missed else {})
                | ({"wrong": c.wrong} if c.wrong else {})
                for (f, u), c in sorted(self.cells.items())
            ],
        }


def sample_identities(lfw_dir: Path, n: int, seed: int) -> list[Path]:
    """The first image (sorted) of ``n`` identities drawn with ``seed`` from the sorted identity folders."""
    people = sorted(p for p in lfw_dir.iterdir() if p.is_dir() and any(p.glob("*.jpg")))
    if len(people) < n:
        raise ValueError(f"only {len(people)} identities under {lfw_dir}; {n} requested")
    return [sorted(p.glob("*.jpg"))[0] for p in random.Random(seed).sample(people, n)]


def close_up(
    image: RGBImage, box: tuple[float, float, float, float], fraction: float, upscale: int
) -> RGBImage:
    """``image`` cut to ``fraction`` of ``box`` (same centre and aspect) and enlarged ``upscale`` times."""
    h, w = image.shape[:2]
    left, top, right, bottom = box
    cx, cy = (left + right) / 2, (top + bottom) / 2
    hw, hh = (right - left) * fraction / 2, (bottom - top) * fraction / 2
    x0, y0 = max(0, round(cx - hw)), max(0, round(cy - hh))
    x1, y1 = min(w, round(cx + hw)), min(h, round(cy + hh))
    crop: npt.NDArray[Any] = image[y0:y1, x0:x1]
    if upscale > 1:
        crop = cv2.resize(
            crop, (crop.shape[1] * upscale, crop.shape[0] * upscale), interpolation=cv2.INTER_CUBIC
        )
    return np.ascontiguousarray(crop, dtype=np.uint8)


def run_close_up_probe(
    engine: FaceEngine,
    lfw_dir: Path,
    *,
    identities: int = 120,
    seed: int = 0,
    fractions: Sequence[float] = FRACTIONS,
    upscales: Sequence[int] = UPSCALES,
    progress: Callable[[int], None] | None = None,
) -> CloseUpReport:
    """Run the probe (see the module doc). The crop's face is the largest detected, as IndexFaces and
    CompareFaces' source take it."""
    from glasshouse.engine.decode import decode_image
    from glasshouse.evaluation.embedding import nearest_centre

    start = time.perf_counter()
    paths = sample_identities(lfw_dir, identities, seed)
    names = [p.parent.name for p in paths]
    images, boxes, gallery, gallery_misses = [], [], [], []
    for name, path in zip(names, paths, strict=True):
        image = decode_image(path.read_bytes())
        found = engine.detect(image)
        if not found:
            gallery_misses.append(name)
            continue
        d = nearest_centre(found, image.shape[1], image.shape[0])
        images.append((name, image))
        boxes.append((d.box.left, d.box.top, d.box.right, d.box.bottom))
        gallery.append(engine.embed_faces(image, [d])[0])
    gallery_names = [n for n, _ in images]
    matrix = np.stack(gallery) if gallery else np.zeros((0, embedding_width(engine)), np.float32)
    cells = {(f, u): CloseUpCell() for f in fractions for u in upscales}
    for (name, image), box in zip(images, boxes, strict=True):
        for (fraction, upscale), cell in cells.items():
            crop = close_up(image, box, fraction, upscale)
            cell.crops += 1
            faces = engine.detect(crop)
            if not faces:
                cell.missed.append(name)
                continue
            cell.found += 1
            embedding = engine.embed_faces(crop, faces[:1])[0]  # engine.detect sorts largest first
            if gallery_names[int(np.argmax(matrix @ embedding))] == name:
                cell.same_top1 += 1
            else:
                cell.wrong.append(name)
        if progress is not None:
            progress(1)
    return CloseUpReport(identities, seed, cells, gallery_misses, time.perf_counter() - start)
