"""Calibration over all pairs: histogram counting and the cosine at a target false-match rate."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from glasshouse.evaluation.calibrate import (
    BINS,
    ScoreHistograms,
    calibration_point,
    calibration_table,
    pair_histograms,
)


def _unit(v: list[float]) -> np.ndarray:
    a = np.asarray(v, dtype=np.float32)
    return a / np.linalg.norm(a)


def test_pair_histograms_count_every_unordered_pair() -> None:
    rng = np.random.default_rng(0)
    e = rng.normal(size=(37, 8)).astype(np.float32)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    ids = [str(i % 5) for i in range(37)]
    h = pair_histograms(e, ids, chunk=10)
    same = sum(1 for i in range(37) for j in range(i + 1, 37) if ids[i] == ids[j])
    assert h.n_genuine == same and h.n_impostor == 37 * 36 // 2 - same


def test_pair_histogram_bins_hold_the_cosine() -> None:
    e = np.stack([_unit([1, 0]), _unit([1, 1]), _unit([0, 1])])
    h = pair_histograms(e, ["a", "a", "b"])
    # genuine pair (0, 1): cosine 0.7071; impostors: (0, 2) = 0 and (1, 2) = 0.7071
    g = np.flatnonzero(h.genuine)
    assert len(g) == 1 and -1 + 2 * g[0] / BINS == pytest.approx(np.sqrt(0.5), abs=2e-5)
    assert sorted(h.impostor[np.flatnonzero(h.impostor)].tolist()) == [1, 1]


def test_calibration_point_known_answer() -> None:
    imp = np.zeros(BINS, dtype=np.int64)
    gen = np.zeros(BINS, dtype=np.int64)
    imp[100_000:101_000] = 1  # 1000 impostors at cosines [0, 0.02)
    gen[150_000] = 3  # cosine 0.5
    gen[50_000] = 1  # cosine -0.5
    h = ScoreHistograms(gen, imp)
    p = calibration_point(h, 1e-2, 50.0)  # 10 impostors may pass
    assert p.impostors_above == 10 and p.fmr == pytest.approx(0.01)
    assert p.cosine == pytest.approx(-1 + 2 * 100_990 / BINS)
    assert p.fnmr == pytest.approx(0.25) and p.tar == pytest.approx(0.75)
    assert calibration_point(h, 1e-6, 99.0).impostors_above == 0


def test_calibration_table_shape_and_order() -> None:
    imp = np.zeros(BINS, dtype=np.int64)
    imp[np.linspace(60_000, 190_000, 2_000_000).astype(int)] += 1
    h = ScoreHistograms(np.ones(BINS, dtype=np.int64), imp)
    pts = [calibration_point(h, f, s) for f, s in ((1e-1, 50.0), (1e-3, 80.0), (1e-6, 99.0))]
    table = calibration_table(pts)
    assert table[0] == (-1.0, 0.0, 1.0) and table[-1] == (1.0, 100.0, 0.0)
    assert [r[1] for r in table] == [0.0, 50.0, 80.0, 99.0, 100.0]
    assert all(a[0] < b[0] for a, b in itertools.pairwise(table))
