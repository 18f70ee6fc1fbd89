"""The calibration conditions: how each probe view is built and which pairs each condition holds."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from glasshouse.engine.types import Box
from glasshouse.evaluation.conditions import (
    CLOSE_UP_BOX_FRACTION,
    CLOSE_UP_UPSCALE,
    POSED_YAW_PROXY,
    ViewResult,
    close_up,
    embed_views,
    low_resolution,
    view_rng,
    yaw_proxy,
)
from glasshouse.evaluation.embedding import PipelineConfig, build_engine
from glasshouse.evaluation.runner import calibration_sample, condition_histograms, condition_sets


def _marks(nose_dx: float) -> np.ndarray:
    # eyes 40 px apart, nose shifted by nose_dx from their midpoint
    return np.array([[80, 100], [120, 100], [100 + nose_dx, 125], [85, 145], [115, 145]], dtype=np.float32)


def test_yaw_proxy_is_zero_frontal_signed_and_scale_free() -> None:
    assert yaw_proxy(_marks(0)) == pytest.approx(0.0)
    assert yaw_proxy(_marks(12)) == pytest.approx(0.3) and yaw_proxy(_marks(-12)) == pytest.approx(-0.3)
    assert yaw_proxy(_marks(12) * 3) == pytest.approx(0.3)
    assert abs(yaw_proxy(_marks(12))) >= POSED_YAW_PROXY > abs(yaw_proxy(_marks(4)))


def _textured(h: int = 250, w: int = 250) -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_low_resolution_keeps_the_size_and_loses_the_detail() -> None:
    image, box = _textured(), Box(78, 64, 173, 191)  # a 95 px face box, LFW-like
    out = low_resolution(image, box, view_rng(0, Path("a/a_0001.jpg")))
    assert out.shape == image.shape and out.dtype == np.uint8
    sharp = float(cv2.Laplacian(image, cv2.CV_64F).var())
    assert float(cv2.Laplacian(out, cv2.CV_64F).var()) < 0.05 * sharp  # faces 32-64 px wide, JPEG 20-30
    again = low_resolution(image, box, view_rng(0, Path("a/a_0001.jpg")))
    assert np.array_equal(out, again)  # same seed and file: same view
    other = low_resolution(image, box, view_rng(1, Path("a/a_0001.jpg")))
    assert not np.array_equal(out, other)


def test_close_up_cuts_inside_the_box_and_upscales() -> None:
    image, box = _textured(), Box(78, 64, 173, 191)
    for seed in range(20):
        out = close_up(image, box, view_rng(seed, Path("b/b_0002.jpg")))
        h, w = out.shape[:2]
        lo = CLOSE_UP_BOX_FRACTION[0] * CLOSE_UP_UPSCALE[0]
        hi = CLOSE_UP_BOX_FRACTION[1] * CLOSE_UP_UPSCALE[1]
        assert lo * box.width - 2 <= w <= hi * box.width + 2
        assert lo * box.height - 2 <= h <= hi * box.height + 2
        assert abs(w / h - box.width / box.height) < 0.05  # the box's shape, not the image's


def _views(frontal: list[list[float]], posed: list[bool], low: dict[int, list[float]]) -> list[ViewResult]:
    out = []
    for i, v in enumerate(frontal):
        e = {"frontal": np.asarray(v, np.float32) / np.linalg.norm(v)}
        if i in low:
            e["low-resolution"] = np.asarray(low[i], np.float32) / np.linalg.norm(low[i])
            e["close-up"] = None  # detector missed it: left out, counted
        out.append(ViewResult(i, e, yaw_proxy=0.4 if posed[i] else 0.0))
    return out


def test_condition_pairs_are_built_as_documented() -> None:
    # 5 images of identities a a b b c; image 1 turned; images 0 and 2 also transformed
    ids = ["a", "a", "b", "b", "c"]
    frontal = [[1, 0, 0], [1, 0.1, 0], [0, 1, 0], [0, 1, 0.1], [0, 0, 1]]
    results = _views(frontal, [False, True, False, False, False], {0: [1, 0, 0.2], 2: [0, 1, 0.2]})
    results.append(ViewResult(5, {"frontal": None}))  # no face: in no condition
    sets = condition_sets(results, [*ids, "c"], n_transformed=3)
    assert sets.counts["frontal"] == {"images": 6, "undecodable": 0, "no_face": 1, "used": 5}
    assert sets.counts["low-resolution"] == {"images": 3, "no_face": 1, "used": 2}
    assert sets.counts["close-up"] == {"images": 3, "no_face": 3, "used": 0}
    h = condition_histograms(sets)
    # frontal: all 10 unordered pairs, 2 genuine (a-a, b-b)
    assert (h["frontal"].n_genuine, h["frontal"].n_impostor) == (2, 8)
    # cross-pose: the 4 pairs with image 1, once each; genuine: (1, 0)
    assert (h["cross-pose"].n_genuine, h["cross-pose"].n_impostor) == (1, 3)
    # low resolution: probes 0 and 2 against the 4 other frontal images each, never themselves
    assert (h["low-resolution"].n_genuine, h["low-resolution"].n_impostor) == (2, 6)
    assert h["close-up"].n_genuine == h["close-up"].n_impostor == 0


def test_calibration_sample_keeps_whole_people_with_two_or_more_images() -> None:
    ids = ["solo"] + ["a"] * 6 + ["b"] * 2 + ["c"] * 3
    picked = calibration_sample(ids, None, per_identity=4, seed=1)
    names = [ids[i] for i in picked]
    assert "solo" not in names and names.count("a") == 4 and names.count("b") == 2 and names.count("c") == 3
    assert calibration_sample(ids, None, 4, seed=1) == picked  # reproducible
    assert len(calibration_sample(ids, 5, 4, seed=1)) == 5


def test_real_faces_keep_their_identity_in_every_view(shared_data: Path, model_cache_dir: Path) -> None:
    folder = shared_data / "lfw" / "lfw-deepfunneled" / "Colin_Powell"
    engine = build_engine(PipelineConfig(model_cache_dir=model_cache_dir))
    views = [embed_views(engine, i, folder / f"Colin_Powell_000{i + 1}.jpg", (0, True)) for i in range(2)]
    other = embed_views(
        engine, 2, shared_data / "lfw/lfw-deepfunneled/Tony_Blair/Tony_Blair_0001.jpg", (0, True)
    )
    for v in [*views, other]:
        assert v.error is None and all(e is not None for e in v.embeddings.values())
        assert set(v.embeddings) == {"frontal", "low-resolution", "close-up"}
    a, b, c = views[0].embeddings, views[1].embeddings, other.embeddings
    for name in ("low-resolution", "close-up"):
        same = float(a[name] @ b["frontal"])  # type: ignore[operator]
        different = float(a[name] @ c["frontal"])  # type: ignore[operator]
        assert same > different + 0.05, name
