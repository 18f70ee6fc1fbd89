"""Calibration across conditions: histogram counting, Wilson intervals, and anchors that bound every
condition's false-match rate (not their average)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from glasshouse.evaluation.calibrate import (
    ANCHORS,
    BINS,
    ScoreHistograms,
    anchor_across,
    anchor_table,
    anchors_across,
    bin_edge,
    condition_bin,
    cross_histograms,
    wilson_interval,
)


def _unit(v: list[float]) -> np.ndarray:
    a = np.asarray(v, dtype=np.float32)
    return a / np.linalg.norm(a)


def _impostors_at(cosines: np.ndarray) -> ScoreHistograms:
    imp = np.bincount(((cosines + 1.0) * (BINS / 2)).astype(int), minlength=BINS).astype(np.int64)
    return ScoreHistograms(np.ones(BINS, dtype=np.int64), imp)


def test_cross_histograms_count_the_kept_pairs_split_by_identity() -> None:
    rng = np.random.default_rng(0)
    e = rng.normal(size=(37, 8)).astype(np.float32)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    ids = np.arange(37) % 5
    cols = np.arange(37)
    h = cross_histograms(e, ids, e, ids, lambda r: cols[None, :] > r[:, None], chunk=10)
    same = sum(1 for i in range(37) for j in range(i + 1, 37) if ids[i] == ids[j])
    assert h.n_genuine == same and h.n_impostor == 37 * 36 // 2 - same


def test_cross_histogram_bins_hold_the_cosine() -> None:
    e = np.stack([_unit([1, 0]), _unit([1, 1]), _unit([0, 1])])
    ids = np.array([0, 0, 1])
    cols = np.arange(3)
    h = cross_histograms(e, ids, e, ids, lambda r: cols[None, :] > r[:, None])
    # genuine pair (0, 1): cosine 0.7071; impostors: (0, 2) = 0 and (1, 2) = 0.7071
    g = np.flatnonzero(h.genuine)
    assert len(g) == 1 and bin_edge(int(g[0])) == pytest.approx(np.sqrt(0.5), abs=2e-5)
    assert sorted(h.impostor[np.flatnonzero(h.impostor)].tolist()) == [1, 1]


def test_wilson_interval_known_values() -> None:
    lo, hi = wilson_interval(0, 1000)
    assert lo == pytest.approx(0.0, abs=1e-12) and hi == pytest.approx(3.8415 / (1000 + 3.8415), rel=1e-4)
    lo, hi = wilson_interval(50, 100)  # symmetric about 0.5
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_condition_bin_uses_the_upper_bound_where_the_impostors_allow_it() -> None:
    h = _impostors_at(np.linspace(0.0, 0.5, 1_000_000))
    b, bounded = condition_bin(h, 1e-3)
    assert bounded
    above, one_bin_lower = int(h.impostor[b:].sum()), int(h.impostor[b - 1 :].sum())
    assert wilson_interval(above, h.n_impostor)[1] <= 1e-3 < wilson_interval(one_bin_lower, h.n_impostor)[1]
    assert above < 1000  # stricter than the measured rate alone, which would allow 1000

    few = _impostors_at(np.linspace(0.0, 0.5, 1000))  # too few to bound 1e-4: the measured rate decides
    b, bounded = condition_bin(few, 1e-4)
    assert not bounded and int(few.impostor[b:].sum()) == 0


def test_anchor_is_the_largest_cosine_any_condition_needs() -> None:
    easy = _impostors_at(np.linspace(-0.5, 0.3, 200_000))
    hard = _impostors_at(np.linspace(-0.2, 0.7, 200_000))  # e.g. low resolution: impostors score higher
    hists = {"frontal": easy, "low-resolution": hard}
    a = anchor_across(hists, 1e-2, 80.0)
    assert a.set_by == "low-resolution"
    assert a.cosine == max(p.own_cosine for p in a.conditions)
    for p in a.conditions:  # the target bounds every condition, not their average
        assert p.bounded and p.fmr_ci[1] <= 1e-2


def test_anchors_increase_even_when_the_sample_cannot_separate_them() -> None:
    h = _impostors_at(np.linspace(0.0, 0.4, 2000))  # nothing separates 1e-4 .. 1e-6
    anchors = anchors_across({"frontal": h})
    assert [a.similarity for a in anchors] == [s for _, s in ANCHORS]
    assert all(b.cosine > a.cosine for a, b in itertools.pairwise(anchors))
    assert anchors[-1].set_by == "order"
    table = anchor_table(anchors)
    assert table[0] == (-1.0, 0.0, 1.0) and table[-1] == (1.0, 100.0, 0.0)
    assert [r[2] for r in table[1:-1]] == [f for f, _ in ANCHORS]
