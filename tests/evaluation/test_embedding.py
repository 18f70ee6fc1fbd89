"""Face choice and the no-face fallback, with injected fake engine parts (no models)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from glasshouse.engine.pipeline import EngineOptions, FaceEngine
from glasshouse.engine.types import Box, Chips, Detection, Embeddings, RGBImage
from glasshouse.evaluation.embedding import FALLBACK_BOX, embed_one, fallback_detection, nearest_centre


def _det(left: float, top: float, size: float) -> Detection:
    """A box with five usable landmarks (the engine drops detections whose eyes coincide)."""
    layout = np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.55], [0.35, 0.75], [0.65, 0.75]])
    marks = (layout * size + [left, top]).astype(np.float32)
    return Detection(Box(left, top, left + size, top + size), 0.9, marks)


class _Detector:
    def __init__(self, found: list[Detection]) -> None:
        self.found = found

    def detect(self, image: RGBImage) -> list[Detection]:
        return list(self.found)


class _Aligner:
    def __init__(self) -> None:
        self.seen: list[Detection] = []

    def align(self, image: RGBImage, detections: list[Detection]) -> Chips:
        self.seen += detections
        return np.zeros((len(detections), 150, 150, 3), dtype=np.uint8)


class _Embedder:
    def embed(self, chips: Chips) -> Embeddings:
        e = np.zeros((len(chips), 128), dtype=np.float32)
        e[:, 0] = 1.0
        return e


def _image(tmp_path: Path) -> Path:
    path = tmp_path / "img.png"
    Image.new("RGB", (200, 100), (90, 90, 90)).save(path)
    return path


def test_nearest_centre_beats_largest() -> None:
    big_corner, small_centre = _det(0, 0, 80), _det(80, 30, 40)
    assert nearest_centre([big_corner, small_centre], 200, 100) is small_centre


def test_embed_one_uses_centre_face(tmp_path: Path) -> None:
    aligner = _Aligner()
    big_corner, small_centre = _det(0, 0, 80), _det(80, 30, 40)
    engine = FaceEngine(
        EngineOptions(tmp_path),
        detector=_Detector([big_corner, small_centre]),
        aligner=aligner,
        embedder=_Embedder(),
    )
    r = embed_one(engine, 3, _image(tmp_path))
    assert r.index == 3 and r.faces == 2 and not r.fallback and r.embedding is not None
    assert aligner.seen == [small_centre]
    assert set(r.seconds) == {"decode", "detect", "align", "embed"}


def test_embed_one_falls_back_to_centred_box(tmp_path: Path) -> None:
    aligner = _Aligner()
    engine = FaceEngine(
        EngineOptions(tmp_path), detector=_Detector([]), aligner=aligner, embedder=_Embedder()
    )
    r = embed_one(engine, 0, _image(tmp_path))
    assert r.fallback and r.faces == 0 and r.embedding is not None
    box = aligner.seen[0].box
    assert (box.left, box.top) == (FALLBACK_BOX[0] * 200, FALLBACK_BOX[1] * 100)
    assert fallback_detection(200, 100).landmarks.shape == (5, 2)


def test_embed_one_reports_undecodable_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    engine = FaceEngine(
        EngineOptions(tmp_path), detector=_Detector([]), aligner=_Aligner(), embedder=_Embedder()
    )
    r = embed_one(engine, 0, bad)
    assert r.embedding is None and r.error
