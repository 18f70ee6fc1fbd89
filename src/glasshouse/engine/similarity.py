"""Similarity on Rekognition's 0–100 scale, from the cosine of two L2-normalised embeddings.

The mapping is piecewise linear in cosine through anchor points (``CALIBRATION``), read from
``calibration.json`` beside this module, which ``glasshouse evaluate calibrate --anchors-out`` writes (the
command, sample, machine and per-condition figures are recorded in it). Each anchor pins a similarity to a
false-match rate (FMR) that is an *upper bound over every calibrated condition* — frontal, cross-pose, low
resolution and close-up photos (see :mod:`glasshouse.evaluation.conditions`) — not an average: the anchor's
cosine is the largest any condition needs for its FMR (its 95% Wilson upper bound where the impostor pairs
allow) to stay within the target. So ``similarity >= 80`` means FMR at most 1e-3 on each kind of photo,
``>= 90`` at most 1e-4, ``>= 95`` at most 1e-5 and ``>= 99`` at most 1e-6 (the last two as measured on the
calibration sample; see the README's similarity table for every condition's FMR and FNMR with intervals).
Re-run the command after any engine change (detector, aligner, embedder, quantisation).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import overload

import numpy as np
import numpy.typing as npt

#: The anchors file: ``calibration_table`` rows are (cosine, similarity, FMR bound), cosine increasing.
ANCHORS_FILE = Path(__file__).with_name("calibration.json")


Rows = tuple[tuple[float, float, float], ...]


def check_table(rows: Rows, origin: object = "calibration") -> Rows:
    """``rows`` if they map cosine [-1, 1] increasingly onto similarity [0, 100]; ValueError otherwise."""
    cos, sim = [r[0] for r in rows], [r[1] for r in rows]
    increasing = all(b > a for xs in (cos, sim) for a, b in itertools.pairwise(xs))
    if len(rows) < 2 or not increasing or (cos[0], sim[0], cos[-1], sim[-1]) != (-1.0, 0.0, 1.0, 100.0):
        raise ValueError(f"{origin}: the calibration table must map cosine -1..1 increasingly onto 0..100")
    return rows


def load_calibration(path: Path = ANCHORS_FILE) -> Rows:
    """The (cosine, similarity, FMR bound) rows of an anchors file, checked to be a monotone map of [-1, 1]
    onto [0, 100]."""
    rows = tuple(
        (float(c), float(s), float(f)) for c, s, f in json.loads(path.read_text())["calibration_table"]
    )
    return check_table(rows, path)


class Calibration:
    """One model's similarity scale (its anchors); the module functions below are the default model's."""

    def __init__(self, rows: Rows) -> None:
        self.rows = check_table(tuple((float(c), float(s), float(f)) for c, s, f in rows))
        self._cos = np.array([r[0] for r in self.rows], dtype=np.float64)
        self._sim = np.array([r[1] for r in self.rows], dtype=np.float64)

    @overload
    def similarity(self, cosine: float) -> float: ...
    @overload
    def similarity(self, cosine: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]: ...
    def similarity(self, cosine: float | npt.NDArray[np.floating]) -> float | npt.NDArray[np.float64]:
        """Map cosine similarity in [-1, 1] to a 0–100 similarity (monotone)."""
        mapped = np.interp(np.asarray(cosine, dtype=np.float64), self._cos, self._sim)
        if np.ndim(mapped) == 0:
            return float(mapped)
        return np.asarray(mapped, dtype=np.float64)

    def cosine(self, similarity: float) -> float:
        """The smallest cosine whose similarity is at least ``similarity`` (inverse of the mapping)."""
        return float(np.interp(similarity, self._sim, self._cos))


#: (cosine, similarity, FMR bound across the calibrated conditions at that cosine).
CALIBRATION: tuple[tuple[float, float, float], ...] = load_calibration()

_COS = np.array([c for c, _, _ in CALIBRATION], dtype=np.float64)
_SIM = np.array([s for _, s, _ in CALIBRATION], dtype=np.float64)


@overload
def similarity_from_cosine(cosine: float) -> float: ...
@overload
def similarity_from_cosine(cosine: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]: ...
def similarity_from_cosine(
    cosine: float | npt.NDArray[np.floating],
) -> float | npt.NDArray[np.float64]:
    """Map cosine similarity in [-1, 1] to a 0–100 similarity (monotone)."""
    mapped = np.interp(np.asarray(cosine, dtype=np.float64), _COS, _SIM)
    if np.ndim(mapped) == 0:
        return float(mapped)
    return np.asarray(mapped, dtype=np.float64)


def cosine_for_similarity(similarity: float) -> float:
    """The smallest cosine whose similarity is at least ``similarity`` (inverse of the mapping)."""
    return float(np.interp(similarity, _SIM, _COS))
