"""Close-ups and degenerate detections (issue 13, item 1): faces that fill the frame are found and keep
their identity, group photos lose nothing, and a degenerate false face never reaches alignment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from face_scenes import REAL_FACE_REGION, degenerate_face_scene
from glasshouse.engine.centerface import CenterFaceDetector
from glasshouse.engine.pipeline import EngineOptions, FaceEngine
from glasshouse.engine.types import Box, Detection, RGBImage, landmarks_usable
from glasshouse.evaluation.closeups import run_close_up_probe


@pytest.fixture(scope="module")
def engine(model_cache_dir: Path) -> FaceEngine:
    return FaceEngine(EngineOptions(model_cache_dir=model_cache_dir, threads=2))


@pytest.mark.slow
def test_close_ups_yield_their_face_and_identity(engine: FaceEngine, shared_data: Path) -> None:
    """30 LFW identities (seed 0), each cut to 80, 90 and 100% of its box and enlarged 1-4x: 360 crops.
    Without the close-up pass (``detection_close_up_side=0``) 4 of them have no face (3 at 80% x4); with 60
    identities, 10 of 720 (7 at 80% x4). ``glasshouse evaluate close-ups`` runs the full 120."""
    report = run_close_up_probe(engine, shared_data / "lfw" / "lfw-deepfunneled", identities=30, seed=0)
    summary = report.to_json()
    print(f"\nclose-ups: {summary['found']}/{summary['crops']} found, {summary['same_top1']} same top-1")
    assert report.gallery_misses == []
    problems = [c for c in summary["cells"] if c["found"] < c["crops"] or c["same_top1"] < c["crops"]]
    assert report.crops == 360 and problems == []


def test_the_close_up_pass_finds_what_the_main_pass_misses(model_cache_dir: Path, shared_data: Path) -> None:
    from glasshouse.engine.decode import decode_image
    from glasshouse.evaluation.closeups import close_up

    photo = decode_image(
        (shared_data / "lfw/lfw-deepfunneled/Sheldon_Silver/Sheldon_Silver_0001.jpg").read_bytes()
    )
    # At full resolution (the default) the main pass misses this close-up; at the fitted working size
    # (min_face=40: a 40 px face becomes 24 px), the main pass finds it on its own as well.
    with_pass = CenterFaceDetector(model_cache_dir, threads=2)
    without = CenterFaceDetector(model_cache_dir, threads=2, close_up_side=0)
    box = max(with_pass.detect(photo), key=lambda d: d.box.area).box
    crop = close_up(photo, (box.left, box.top, box.right, box.bottom), 0.8, 4)
    assert without.detect(crop) == []
    assert len(CenterFaceDetector(model_cache_dir, threads=2, close_up_side=0, min_face=40).detect(crop)) == 1
    (face,) = with_pass.detect(crop)
    h, w = crop.shape[:2]
    assert face.box.width > 0.8 * w and face.box.height > 0.8 * h, "the face fills the frame"
    eyes, mouth = face.landmarks[:2], face.landmarks[3:]
    assert (eyes[:, 1] < 0.5 * h).all() and (mouth[:, 1] > 0.5 * h).all()
    assert eyes[0, 0] < w / 2 < eyes[1, 0]


def test_a_degenerate_false_face_is_dropped_and_the_real_one_kept(
    engine: FaceEngine, model_cache_dir: Path, shared_data: Path
) -> None:
    scene = degenerate_face_scene(shared_data)
    detector = CenterFaceDetector(model_cache_dir, threads=2)
    raw = detector._candidates(scene, detector.max_side)  # what the network reports, before filtering
    eye_gaps = np.hypot(*(raw[2][:, 1] - raw[2][:, 0]).T)
    assert (eye_gaps < 1.0).any(), "the scene still holds a detection whose eyes are < 1 px apart"
    (face,) = engine.analyse(scene)
    left, top, right, bottom = REAL_FACE_REGION
    b = face.detection.box
    assert left <= (b.left + b.right) / 2 <= right and top <= (b.top + b.bottom) / 2 <= bottom
    assert face.embedding is not None and np.isfinite(face.embedding).all()
    # At the fitted working size (min_face=40) the profile is small: the full-size pass decides, the same.
    fitted = FaceEngine(EngineOptions(model_cache_dir=model_cache_dir, threads=2, detection_min_face=40))
    assert [f.detection.box for f in fitted.analyse(scene)] == [b]


class _Fixed:
    """A detector that reports given detections (stands in for any other detector's odd output)."""

    def __init__(self, found: list[Detection]) -> None:
        self.found = found

    def detect(self, image: RGBImage) -> list[Detection]:
        return list(self.found)


def test_the_engine_drops_any_detectors_unusable_landmarks(model_cache_dir: Path, shared_data: Path) -> None:
    from glasshouse.engine.decode import decode_image

    image = decode_image((shared_data / "lfw/lfw-deepfunneled/AJ_Cook/AJ_Cook_0001.jpg").read_bytes())
    (real,) = [
        d
        for d in CenterFaceDetector(model_cache_dir, threads=2).detect(image)
        if d.box.left < 125 < d.box.right
    ]
    tiny = Box(10, 10, 14, 14)
    collapsed = Detection(tiny, 0.9, np.full((5, 2), 12.0, np.float32))
    nan = Detection(tiny, 0.9, np.full((5, 2), np.nan, np.float32))
    assert not landmarks_usable(collapsed.landmarks) and not landmarks_usable(nan.landmarks)
    assert landmarks_usable(real.landmarks)
    engine = FaceEngine(
        EngineOptions(model_cache_dir=model_cache_dir, threads=2), detector=_Fixed([collapsed, real, nan])
    )
    faces = engine.analyse(image)
    assert [f.detection for f in faces] == [real]
