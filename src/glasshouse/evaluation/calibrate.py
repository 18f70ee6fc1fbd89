"""Genuine / impostor cosine distributions per capture condition, and the similarity anchors: each at the
cosine where every condition's false-match rate is within its target. Scores are counted into fine
histograms (``BINS`` over [-1, 1], 1e-5 wide) so that tens of millions of impostor pairs need no sorting and
little memory; thresholds are exact to one bin."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

BINS = 200_000
#: FMR targets and the similarity each one anchors (see glasshouse.engine.similarity): similarity s means
#: "at most this false-match rate on any calibrated condition".
ANCHORS: tuple[tuple[float, float], ...] = (
    (1e-1, 50.0),
    (1e-3, 80.0),
    (1e-4, 90.0),
    (1e-5, 95.0),
    (1e-6, 99.0),
)
#: Two-sided 95% Wilson score intervals for every reported rate.
WILSON_Z = 1.959964


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


def wilson_interval(k: int, n: int, z: float = WILSON_Z) -> tuple[float, float]:
    """Wilson score interval for a proportion ``k / n`` (95% two-sided by default); (0, 1) for ``n == 0``."""
    lo, hi = wilson_bounds(np.asarray([k]), n, z)
    return float(lo[0]), float(hi[0])


def wilson_bounds(
    k: npt.NDArray[np.int64], n: int, z: float = WILSON_Z
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Vectorised :func:`wilson_interval` over counts ``k`` of one ``n``."""
    if n <= 0:
        return np.zeros(k.shape), np.ones(k.shape)
    p = k.astype(np.float64) / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def cross_histograms(
    probes: npt.NDArray[np.float32],
    probe_ids: npt.NDArray[np.int64],
    gallery: npt.NDArray[np.float32],
    gallery_ids: npt.NDArray[np.int64],
    keep: Callable[[npt.NDArray[np.int64]], npt.NDArray[np.bool_]],
    *,
    chunk: int = 1024,
    progress: Callable[[int], None] | None = None,
) -> ScoreHistograms:
    """Histogram the cosine of probe row ``i`` against gallery column ``j`` for every pair with
    ``keep(rows)[r, j]`` (``rows`` = the probe row numbers of a block), split by identity."""
    p = np.ascontiguousarray(probes, dtype=np.float32)
    g = np.ascontiguousarray(gallery, dtype=np.float32)
    genuine = np.zeros(BINS, dtype=np.int64)
    impostor = np.zeros(BINS, dtype=np.int64)
    for start in range(0, p.shape[0], chunk):
        rows = np.arange(start, min(p.shape[0], start + chunk))
        b = _bins(p[rows] @ g.T)
        valid = keep(rows)
        same = probe_ids[rows, None] == gallery_ids[None, :]
        genuine += np.bincount(b[valid & same], minlength=BINS)
        impostor += np.bincount(b[valid & ~same], minlength=BINS)
        if progress is not None:
            progress(rows.size)
    return ScoreHistograms(genuine, impostor)


def condition_bin(h: ScoreHistograms, target_fmr: float) -> tuple[int, bool]:
    """The lowest bin whose FMR stays within ``target_fmr`` on this condition, and whether that is proven by
    the Wilson upper bound (``True``) or, where the impostor pairs are too few to bound so small a rate,
    only by the measured rate (``False``)."""
    n = h.n_impostor
    tail = np.cumsum(h.impostor[::-1])[::-1]
    _, upper = wilson_bounds(np.zeros(1, dtype=np.int64), n)
    if n > 0 and upper[0] <= target_fmr:
        ok = np.flatnonzero(wilson_bounds(tail, n)[1] <= target_fmr)
        return (int(ok[0]) if ok.size else BINS - 1), True
    allowed = math.floor(target_fmr * n + 1e-9)
    ok = np.flatnonzero(tail <= allowed)
    return (int(ok[0]) if ok.size else BINS - 1), False


@dataclass(frozen=True, slots=True)
class ConditionPoint:
    """One condition's error rates at one anchor cosine, with 95% Wilson intervals."""

    condition: str
    impostors_above: int
    n_impostor: int
    genuine_below: int
    n_genuine: int
    own_cosine: float  # the lowest cosine that keeps this condition within the target
    bounded: bool  # own_cosine from the Wilson upper bound (else from the measured rate)

    @property
    def fmr(self) -> float:
        return self.impostors_above / max(self.n_impostor, 1)

    @property
    def fmr_ci(self) -> tuple[float, float]:
        return wilson_interval(self.impostors_above, self.n_impostor)

    @property
    def fnmr(self) -> float:
        return self.genuine_below / max(self.n_genuine, 1)

    @property
    def fnmr_ci(self) -> tuple[float, float]:
        return wilson_interval(self.genuine_below, self.n_genuine)


@dataclass(frozen=True, slots=True)
class Anchor:
    """A similarity pinned at the cosine where every condition's FMR is at most ``target_fmr``."""

    target_fmr: float
    similarity: float
    cosine: float
    set_by: str  # the condition needing the highest cosine
    conditions: tuple[ConditionPoint, ...]
    bin: int  # histogram bin of ``cosine``


def anchor_across(
    hists: Mapping[str, ScoreHistograms], target_fmr: float, similarity: float, *, min_bin: int = 0
) -> Anchor:
    """The largest cosine any condition needs to keep its FMR within ``target_fmr`` (its Wilson upper bound
    where the impostor count allows), so the target is an upper bound on every condition, not an average.
    At least bin ``min_bin`` (set by ``"order"``): a higher cosine only lowers every FMR."""
    own = {name: condition_bin(h, target_fmr) for name, h in hists.items()}
    setter = max(own, key=lambda name: own[name][0])
    b = own[setter][0]
    if b < min_bin:
        setter, b = "order", min_bin
    points = []
    for name, h in hists.items():
        tail_b = int(h.impostor[b:].sum())
        points.append(
            ConditionPoint(
                condition=name,
                impostors_above=tail_b,
                n_impostor=h.n_impostor,
                genuine_below=int(h.genuine[:b].sum()),
                n_genuine=h.n_genuine,
                own_cosine=bin_edge(own[name][0]),
                bounded=own[name][1],
            )
        )
    return Anchor(target_fmr, similarity, bin_edge(b), setter, tuple(points), b)


def anchors_across(hists: Mapping[str, ScoreHistograms]) -> tuple[Anchor, ...]:
    """Every :data:`ANCHORS` entry. Where too few impostor pairs separate two targets (small samples), the
    later anchor is raised one bin above the earlier (``set_by="order"``) so the map stays increasing."""
    anchors: list[Anchor] = []
    min_bin = 0
    for fmr, sim in ANCHORS:
        a = anchor_across(hists, fmr, sim, min_bin=min_bin)
        anchors.append(a)
        min_bin = a.bin + 1
    return tuple(anchors)


def anchor_table(anchors: Sequence[Anchor]) -> tuple[tuple[float, float, float], ...]:
    """Rows (cosine, similarity, FMR bound) for :mod:`glasshouse.engine.similarity`, with the ends pinned
    (cosine -1 = similarity 0, cosine 1 = similarity 100)."""
    rows = [(-1.0, 0.0, 1.0)]
    rows += [(round(a.cosine, 5), a.similarity, a.target_fmr) for a in anchors]
    rows.append((1.0, 100.0, 0.0))
    return tuple(rows)
