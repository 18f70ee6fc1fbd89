"""Verification metrics over similarity scores (higher = more alike). A pair is declared "same" when
``score >= threshold``. Pure numpy; no I/O."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Scores = npt.NDArray[np.float64]
Labels = npt.NDArray[np.bool_]


def as_arrays(
    scores: Sequence[float] | npt.NDArray[np.floating], labels: Sequence[bool] | Labels
) -> tuple[Scores, Labels]:
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(labels, dtype=np.bool_).reshape(-1)
    if s.shape != y.shape:
        raise ValueError(f"{s.size} scores but {y.size} labels")
    return s, y


def accuracy_at(scores: Scores, labels: Labels, threshold: float) -> float:
    s, y = as_arrays(scores, labels)
    return float(np.mean((s >= threshold) == y)) if s.size else math.nan


def error_rates(scores: Scores, labels: Labels, threshold: float) -> tuple[float, float]:
    """(false-match rate over different pairs, false-non-match rate over same pairs); NaN for no pairs."""
    s, y = as_arrays(scores, labels)
    neg, pos = s[~y], s[y]
    fmr = float(np.mean(neg >= threshold)) if neg.size else math.nan
    fnmr = float(np.mean(pos < threshold)) if pos.size else math.nan
    return fmr, fnmr


def best_threshold(scores: Scores, labels: Labels) -> float:
    """The threshold maximising accuracy on these scores (lowest such on ties).

    Returned as the midpoint between the chosen score and the next lower one, so it classifies the given
    scores exactly as the chosen score does while generalising more evenly.
    """
    s, y = as_arrays(scores, labels)
    if s.size == 0:
        raise ValueError("no scores")
    pos, neg = np.sort(s[y]), np.sort(s[~y])
    cand = np.unique(s)  # ascending; candidate t = cand[i] means "same iff score >= cand[i]"
    pos_ge = pos.size - np.searchsorted(pos, cand, side="left")
    neg_lt = np.searchsorted(neg, cand, side="left")
    correct = np.append(pos_ge + neg_lt, neg.size)  # last: threshold above every score
    i = int(np.argmax(correct))
    if i == cand.size:
        return float(np.nextafter(cand[-1], np.inf))
    if i == 0:
        return float(cand[0])
    return float((cand[i] + cand[i - 1]) / 2.0)


@dataclass(frozen=True, slots=True)
class KFoldResult:
    """Per-fold test accuracies and the thresholds chosen on the other folds. ``std`` is the population
    standard deviation over folds (numpy's default, as dlib and most LFW tables report)."""

    accuracies: tuple[float, ...]
    thresholds: tuple[float, ...]

    @property
    def mean(self) -> float:
        return float(np.mean(self.accuracies))

    @property
    def std(self) -> float:
        return float(np.std(self.accuracies))


def kfold_accuracy(
    scores: Scores, labels: Labels, folds: Sequence[int] | npt.NDArray[np.integer]
) -> KFoldResult:
    """LFW protocol: for each fold, pick the accuracy-maximising threshold on the other folds, test on it."""
    s, y = as_arrays(scores, labels)
    f = np.asarray(folds).reshape(-1)
    if f.shape != s.shape:
        raise ValueError("one fold index per score is needed")
    accs, thrs = [], []
    for k in np.unique(f):
        test = f == k
        t = best_threshold(s[~test], y[~test])
        thrs.append(t)
        accs.append(accuracy_at(s[test], y[test], t))
    return KFoldResult(tuple(accs), tuple(thrs))


def threshold_at_fmr(impostor: Scores, fmr: float) -> float:
    """The smallest threshold whose false-match rate over ``impostor`` scores is at most ``fmr``."""
    neg = np.sort(np.asarray(impostor, dtype=np.float64))[::-1]
    allowed = math.floor(fmr * neg.size + 1e-9)  # number of impostor scores allowed at or above
    if allowed >= neg.size:
        return -math.inf
    return float(np.nextafter(neg[allowed], np.inf))


def tar_at_far(scores: Scores, labels: Labels, far: float) -> tuple[float, float]:
    """(true-accept rate, threshold) at the threshold where the false-accept rate is at most ``far``."""
    s, y = as_arrays(scores, labels)
    t = threshold_at_fmr(s[~y], far)
    return float(np.mean(s[y] >= t)), t


@dataclass(frozen=True, slots=True)
class DetCurve:
    """Error trade-off: at ``thresholds[i]``, false-match rate ``fmr[i]`` and false-non-match ``fnmr[i]``."""

    thresholds: npt.NDArray[np.float64]
    fmr: npt.NDArray[np.float64]
    fnmr: npt.NDArray[np.float64]


def det_curve(scores: Scores, labels: Labels, max_points: int = 2000) -> DetCurve:
    """DET points at (up to ``max_points``) distinct score thresholds."""
    s, y = as_arrays(scores, labels)
    pos, neg = np.sort(s[y]), np.sort(s[~y])
    t = np.unique(s)
    if t.size > max_points:
        t = t[np.linspace(0, t.size - 1, max_points).round().astype(int)]
    fmr = (neg.size - np.searchsorted(neg, t, side="left")) / max(neg.size, 1)
    fnmr = np.searchsorted(pos, t, side="left") / max(pos.size, 1)
    return DetCurve(t.astype(np.float64), fmr.astype(np.float64), fnmr.astype(np.float64))
