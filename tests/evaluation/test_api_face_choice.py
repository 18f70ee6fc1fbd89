"""``evaluate --face-choice api`` scores a pair as CompareFaces does, through the same code."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from glasshouse.engine.similarity import similarity_from_cosine
from glasshouse.evaluation.embedding import PipelineConfig, build_engine, embed_paths
from glasshouse.evaluation.pairs import Pair
from glasshouse.evaluation.runner import evaluate_pairs, pair_scores
from glasshouse.faces.service import FaceAnalyser


def _lfw(shared: Path, name: str, i: int) -> np.ndarray:
    img = cv2.imread(str(shared / "lfw" / "lfw-deepfunneled" / name / f"{name}_{i:04d}.jpg"))
    assert img is not None
    return img


def _canvas(parts: list[tuple[np.ndarray, int, int, int]]) -> np.ndarray:
    """A grey 640x400 picture with each (image, size, x, y) pasted in."""
    out = np.full((400, 640, 3), 128, np.uint8)
    for img, size, x, y in parts:
        out[y : y + size, x : x + size] = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    return out


@pytest.fixture
def photos(shared_data: Path, tmp_path: Path) -> dict[str, Path]:
    powell, powell2 = _lfw(shared_data, "Colin_Powell", 1), _lfw(shared_data, "Colin_Powell", 2)
    blair, bush = _lfw(shared_data, "Tony_Blair", 1), _lfw(shared_data, "George_W_Bush", 1)
    files = {
        # source: Powell large at the left, Blair small nearer the centre
        "source": _canvas([(powell, 300, 0, 50), (blair, 140, 330, 130)]),
        # target: Bush large in the centre, Powell (another photo) small in a corner
        "target": _canvas([(bush, 300, 170, 50), (powell2, 150, 485, 245)]),
        "blank": np.full((300, 300, 3), 128, np.uint8),
    }
    paths = {}
    for name, img in files.items():
        paths[name] = tmp_path / f"{name}.jpg"
        cv2.imwrite(str(paths[name]), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return paths


def test_api_face_choice_scores_what_compare_faces_answers(
    photos: dict[str, Path], model_cache_dir: Path, tmp_path: Path
) -> None:
    pairs = [Pair(photos["source"], photos["target"], True), Pair(photos["blank"], photos["target"], False)]
    cfg = PipelineConfig(model_cache_dir=model_cache_dir, face_choice="api")
    summary = evaluate_pairs(pairs, cfg, tmp_path, name="api", folds=None, command="t", workers=1)
    assert summary["config"]["face_choice"] == "api" and summary["no_face"] == 1

    images = [photos["source"], photos["target"], photos["blank"]]
    outcome = embed_paths(images, cfg, workers=1)
    api_scores = pair_scores(outcome, pairs, images)
    centre_cfg = PipelineConfig(model_cache_dir=model_cache_dir)
    centre_scores = pair_scores(embed_paths(images, centre_cfg, workers=1), pairs, images)
    # the api pass also yields the centre choice's scores (one embedding pass reports both)
    assert pair_scores(outcome.as_centre(), pairs, images) == pytest.approx(centre_scores, abs=1e-5)
    assert "results_centre_choice" in summary

    analyser = FaceAnalyser(
        build_engine(cfg), max_image_bytes=10_000_000, max_image_pixels=50_000_000, enforce_gate=False
    )
    answer = analyser.compare(
        photos["source"].read_bytes(), photos["target"].read_bytes(), similarity_threshold=0
    )
    assert answer is not None and len(answer.matches) == 2  # both target faces scored
    best = answer.matches[0]
    assert similarity_from_cosine(float(api_scores[0])) == pytest.approx(best.similarity, abs=1e-3)
    assert best.face.detection.box.width < 200  # the small Powell in the corner, not the central Bush
    # the centre choice compares Blair (nearest the source's centre) with Bush: a different person
    assert api_scores[0] > 0.93 > centre_scores[0]
    # no face in the source: the API answers "no faces", the pair is a certain non-match
    assert analyser.compare(photos["blank"].read_bytes(), photos["target"].read_bytes()) is None
    assert api_scores[1] == -1.0
