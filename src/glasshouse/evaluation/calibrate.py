"""Genuine / impostor cosine distributions over all pairs of a labelled embedding set, and the cosine at a
target false-match rate. Scores are counted into fine histograms (``BINS`` over [-1, 1], 1e-5 wide) so that
87 million LFW impostor pairs need no sorting and little memory; thresholds are exact to one bin."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

BINS = 200_000
#: FMR targets and the similarity each one anchors (see glasshouse.engine.similarity.CALIBRATION).
ANCHORS: tuple[tuple[float, float], ...] = ((1e-1, 50.0), (1e-3, 80.0), (1e-6, 99.0))


@dataclass(frozen=True, slots=True)
class ScoreHistograms:
    """Counts of genuine (same identity) and impostor pair cosines per bin; bin b covers
    ``[-1 + 2b/BINS, -1 + 2(b+1)/BINS)`` (cosines of exactly 1 fall into the last bin)."""

    genuine: npt.NDArray[np.int64]
    impostor: npt.NDArray[np.int64]

    @property
    def n_genuine(self) -> int:
        return int(self.genuine.sum())

    @property
    def n_impostor(self) -> int:
        return int(self.impostor.sum())


def bin_edge(b: int) -> float:
    return -1.0 + 2.0 * b / BINS


def _bins(cos: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
    return np.clip(((cos.astype(np.float64) + 1.0) * (BINS / 2.0)).astype(np.int64), 0, BINS - 1)


def pair_histograms(
    embeddings: npt.NDArray[np.float32],
    identities: Sequence[str],
    *,
    chunk: int = 1024,
    progress: Callable[[int], None] | None = None,
) -> ScoreHistograms:
    """Histogram the cosine of every unordered pair ``i < j`` (chunked ``E @ E.T``), split by identity."""
    e = np.ascontiguousarray(embeddings, dtype=np.float32)
    _, ids = np.unique(np.asarray(identities), return_inverse=True)
    n = e.shape[0]
    genuine = np.zeros(BINS, dtype=np.int64)
    impostor = np.zeros(BINS, dtype=np.int64)
    cols = np.arange(n)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        cos = e[start:stop] @ e.T
        rows = np.arange(start, stop)
        upper = cols[None, :] > rows[:, None]
        same = ids[start:stop, None] == ids[None, :]
        b = _bins(cos)
        genuine += np.bincount(b[upper & same], minlength=BINS)
        impostor += np.bincount(b[upper & ~same], minlength=BINS)
        if progress is not None:
            progress(stop - start)
    return ScoreHistograms(genuine, impostor)


@dataclass(frozen=True, slots=True)
class CalibrationPoint:
    """At ``cosine``: the measured false-match rate (<= target) and false-non-match rate."""

    target_fmr: float
    similarity: float
    cosine: float
    fmr: float
    fnmr: float
    impostors_above: int

    @property
    def tar(self) -> float:
        return 1.0 - self.fnmr


def calibration_point(h: ScoreHistograms, target_fmr: float, similarity: float) -> CalibrationPoint:
    """The lowest bin edge whose FMR (impostor cosines at or above it) is at most ``target_fmr``."""
    tail = np.cumsum(h.impostor[::-1])[::-1]  # tail[b] = impostors in bins >= b
    allowed = math.floor(target_fmr * h.n_impostor + 1e-9)
    ok = np.flatnonzero(tail <= allowed)
    b = int(ok[0]) if ok.size else BINS - 1
    genuine_below = int(h.genuine[:b].sum())
    return CalibrationPoint(
        target_fmr=target_fmr,
        similarity=similarity,
        cosine=bin_edge(b),
        fmr=int(tail[b]) / max(h.n_impostor, 1),
        fnmr=genuine_below / max(h.n_genuine, 1),
        impostors_above=int(tail[b]),
    )


def calibrate(h: ScoreHistograms) -> tuple[CalibrationPoint, ...]:
    return tuple(calibration_point(h, fmr, sim) for fmr, sim in ANCHORS)


def calibration_table(points: Sequence[CalibrationPoint]) -> tuple[tuple[float, float, float], ...]:
    """The ``similarity.CALIBRATION`` rows (cosine, similarity, measured FMR) for these points."""
    rows = [(-1.0, 0.0, 1.0)]
    rows += [(round(p.cosine, 4), p.similarity, float(f"{p.fmr:.3g}")) for p in points]
    rows.append((1.0, 100.0, 0.0))
    cos = [r[0] for r in rows]
    if any(b <= a for a, b in itertools.pairwise(cos)):
        raise ValueError(f"calibration cosines are not increasing: {cos}")
    return tuple(rows)
