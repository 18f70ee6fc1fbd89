"""Similarity on Rekognition's 0–100 scale, from the cosine of two L2-normalised embeddings.

The mapping is piecewise linear in cosine through anchor points measured on LFW (see ``CALIBRATION``): each
anchor pins a similarity to the false-match rate (FMR) measured at that cosine over all impostor pairs of
LFW. So ``similarity >= 80`` and ``similarity >= 99`` each mean a documented FMR, whatever the model.
Recompute with ``glasshouse evaluate calibrate``.
"""

from __future__ import annotations

from typing import overload

import numpy as np
import numpy.typing as npt

#: (cosine, similarity, measured FMR at that cosine). PLACEHOLDER values until calibrated on LFW.
CALIBRATION: tuple[tuple[float, float, float], ...] = (
    (-1.0, 0.0, 1.0),
    (0.70, 50.0, 1e-1),
    (0.84, 80.0, 1e-3),
    (0.92, 99.0, 1e-6),
    (1.0, 100.0, 0.0),
)

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
