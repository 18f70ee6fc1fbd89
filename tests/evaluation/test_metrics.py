"""Metrics and the 10-fold protocol on synthetic scores with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from glasshouse.evaluation.metrics import (
    accuracy_at,
    best_threshold,
    det_curve,
    error_rates,
    kfold_accuracy,
    tar_at_far,
    threshold_at_fmr,
)
from glasshouse.evaluation.protocol import (
    MIN_PAIRS_PER_CLASS_FOR_KFOLD,
    subgroup_reports,
    verification_report,
)


def test_accuracy_and_error_rates() -> None:
    scores = np.array([0.9, 0.8, 0.3, 0.6, 0.2, 0.1])
    labels = np.array([True, True, True, False, False, False])
    assert accuracy_at(scores, labels, 0.5) == pytest.approx(4 / 6)
    assert error_rates(scores, labels, 0.5) == pytest.approx((1 / 3, 1 / 3))
    assert error_rates(scores, labels, 0.95) == pytest.approx((0.0, 1.0))


def test_best_threshold_separable_is_midpoint() -> None:
    scores = np.array([0.2, 0.3, 0.4, 0.6, 0.7, 0.8])
    labels = np.array([False, False, False, True, True, True])
    assert best_threshold(scores, labels) == pytest.approx(0.5)
    assert accuracy_at(scores, labels, best_threshold(scores, labels)) == 1.0


def test_best_threshold_edges() -> None:
    assert best_threshold(np.array([0.1, 0.2]), np.array([True, True])) == pytest.approx(0.1)
    t = best_threshold(np.array([0.1, 0.2]), np.array([False, False]))
    assert t > 0.2 and accuracy_at(np.array([0.1, 0.2]), np.array([False, False]), t) == 1.0


def test_kfold_known_answer() -> None:
    scores, labels, folds = [], [], []
    for k in range(10):
        s = [0.6, 0.7, 0.8, 0.2, 0.3, 0.4] + ([0.45] if k == 0 else [])
        y = [True, True, True, False, False, False] + ([True] if k == 0 else [])
        scores += s
        labels += y
        folds += [k] * len(s)
    r = kfold_accuracy(np.array(scores), np.array(labels), folds)
    # fold 0 is tested with the threshold learnt without its 0.45 positive (0.5), so it misses it
    assert r.thresholds[0] == pytest.approx(0.5)
    assert r.accuracies[0] == pytest.approx(6 / 7)
    assert all(t == pytest.approx(0.425) for t in r.thresholds[1:])
    assert r.accuracies[1:] == (1.0,) * 9
    assert r.mean == pytest.approx((6 / 7 + 9) / 10)
    assert r.std == pytest.approx(float(np.std([6 / 7] + [1.0] * 9)))


def test_kfold_random_scores_near_chance() -> None:
    rng = np.random.default_rng(0)
    scores = rng.random(6000)
    labels = rng.random(6000) < 0.5
    r = kfold_accuracy(scores, labels, np.arange(6000) % 10)
    assert 0.45 < r.mean < 0.55


def test_tar_at_far_hand_made() -> None:
    neg = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    pos = [0.5, 0.85, 0.95, 0.99]
    scores = np.array(neg + pos)
    labels = np.array([False] * 10 + [True] * 4)
    tar, thr = tar_at_far(scores, labels, 0.1)  # one impostor (1.0) may pass: threshold just above 0.9
    assert 0.9 < thr <= 0.95 and tar == pytest.approx(0.5)
    tar, thr = tar_at_far(scores, labels, 0.3)  # three may pass: just above 0.7
    assert 0.7 < thr < 0.71 and tar == pytest.approx(0.75)
    tar, thr = tar_at_far(scores, labels, 0.0)
    assert thr > 1.0 and tar == 0.0
    assert threshold_at_fmr(np.array(neg), 1.0) == -math.inf


def test_det_curve_is_monotone() -> None:
    rng = np.random.default_rng(1)
    scores = np.concatenate([rng.normal(0.8, 0.1, 500), rng.normal(0.3, 0.1, 500)])
    labels = np.array([True] * 500 + [False] * 500)
    c = det_curve(scores, labels, max_points=100)
    assert len(c.thresholds) == 100
    assert np.all(np.diff(c.fmr) <= 0) and np.all(np.diff(c.fnmr) >= 0)
    assert c.fmr[0] == 1.0 and c.fnmr[0] == 0.0


def test_verification_report_and_subgroups() -> None:
    n = MIN_PAIRS_PER_CLASS_FOR_KFOLD
    scores = np.concatenate([np.full(n, 0.99), np.full(n, 0.1), np.full(5, 0.99), np.full(5, 0.1)])
    labels = np.array([True] * n + [False] * n + [True] * 5 + [False] * 5)
    groups = ["big"] * (2 * n) + ["small"] * 10
    folds = [i % 10 for i in range(len(scores))]
    whole = verification_report(scores, labels, folds)
    assert whole.kfold is not None and whole.kfold.mean == 1.0
    assert [p.similarity for p in whole.operating_points] == [80.0, 99.0]
    subs = subgroup_reports(scores, labels, groups, folds)
    assert subs["big"].kfold is not None and subs["small"].kfold is None  # too few pairs for 10 folds
    small = subs["small"].to_json()
    assert small["pairs"] == 10 and "kfold" not in small
    assert all(p["fmr"] == 0.0 for p in small["operating_points"])
