"""Verification reports: the 10-fold protocol, TAR at fixed FAR and the calibrated operating points."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glasshouse.engine.similarity import Calibration, cosine_for_similarity
from glasshouse.evaluation.metrics import (
    KFoldResult,
    Labels,
    Scores,
    accuracy_at,
    as_arrays,
    error_rates,
    kfold_accuracy,
    tar_at_far,
)

#: Similarity thresholds reported as operating points: Rekognition's default and the law-enforcement floor.
OPERATING_SIMILARITIES: tuple[float, ...] = (80.0, 99.0)
#: False-accept rates at which the true-accept rate is reported (over all pairs, no folds).
REPORTED_FARS: tuple[float, ...] = (1e-2, 1e-3)
#: The 10-fold protocol is run only when each class has at least this many pairs (5 per fold).
MIN_PAIRS_PER_CLASS_FOR_KFOLD = 50


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """Accuracy and error rates when "same" means ``similarity >= similarity`` (i.e. cosine >= ``cosine``)."""

    similarity: float
    cosine: float
    accuracy: float
    fmr: float
    fnmr: float


@dataclass(frozen=True, slots=True)
class VerificationReport:
    n_pairs: int
    n_same: int
    kfold: KFoldResult | None
    tar: dict[float, tuple[float, float]] = field(default_factory=dict)  # far -> (tar, cosine threshold)
    operating_points: tuple[OperatingPoint, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pairs": self.n_pairs,
            "same": self.n_same,
            "different": self.n_pairs - self.n_same,
        }
        if self.kfold is not None:
            out["kfold"] = {
                "folds": len(self.kfold.accuracies),
                "accuracy_mean": self.kfold.mean,
                "accuracy_std": self.kfold.std,
                "fold_accuracies": list(self.kfold.accuracies),
                "fold_thresholds_cosine": list(self.kfold.thresholds),
            }
        out["tar_at_far"] = [
            {"far": far, "tar": t, "threshold_cosine": thr} for far, (t, thr) in self.tar.items()
        ]
        out["operating_points"] = [
            {
                "similarity": p.similarity,
                "cosine": p.cosine,
                "accuracy": p.accuracy,
                "fmr": p.fmr,
                "fnmr": p.fnmr,
            }
            for p in self.operating_points
        ]
        return out


def operating_points(
    scores: Scores, labels: Labels, calibration: Calibration | None = None
) -> tuple[OperatingPoint, ...]:
    """Error rates at the similarity thresholds, on ``calibration``'s scale (default: the built-in model's)."""
    points = []
    for sim in OPERATING_SIMILARITIES:
        cos = calibration.cosine(sim) if calibration is not None else cosine_for_similarity(sim)
        fmr, fnmr = error_rates(scores, labels, cos)
        points.append(OperatingPoint(sim, cos, accuracy_at(scores, labels, cos), fmr, fnmr))
    return tuple(points)


def verification_report(
    scores: Scores | Sequence[float],
    labels: Labels | Sequence[bool],
    folds: Sequence[int] | None = None,
    calibration: Calibration | None = None,
) -> VerificationReport:
    """Everything for one pair set. ``folds=None`` skips the k-fold protocol (too few pairs, or unwanted)."""
    s, y = as_arrays(scores, labels)
    n_same = int(y.sum())
    enough = min(n_same, s.size - n_same) >= MIN_PAIRS_PER_CLASS_FOR_KFOLD
    several = folds is not None and len(set(folds)) >= 2  # one fold leaves nothing to choose a threshold on
    kfold = kfold_accuracy(s, y, folds) if folds is not None and enough and several else None
    tar = {far: tar_at_far(s, y, far) for far in REPORTED_FARS} if 0 < n_same < s.size else {}
    return VerificationReport(int(s.size), n_same, kfold, tar, operating_points(s, y, calibration))


def subgroup_reports(
    scores: Scores, labels: Labels, subgroups: Sequence[str | None], folds: Sequence[int] | None
) -> dict[str, VerificationReport]:
    """One report per subgroup value (pairs without a value are grouped under ``""``)."""
    s, y = as_arrays(scores, labels)
    groups = np.asarray([g or "" for g in subgroups])
    fold_arr = np.asarray(folds) if folds is not None else None
    reports = {}
    for g in sorted(set(groups.tolist())):
        m = groups == g
        sub_folds = fold_arr[m].tolist() if fold_arr is not None else None
        reports[str(g)] = verification_report(s[m], y[m], sub_folds)
    return reports
