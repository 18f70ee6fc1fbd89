"""Similarity on Rekognition's 0–100 scale, from the cosine of two L2-normalised embeddings.

The mapping is piecewise linear in cosine through anchor points measured on LFW (see ``CALIBRATION``): each
anchor pins a similarity to the false-match rate (FMR) measured at that cosine over all impostor pairs of
LFW. So ``similarity >= 80`` and ``similarity >= 99`` each mean a documented FMR, whatever the model.
Recompute with ``glasshouse evaluate calibrate``.

Measured for the default engine (CenterFace, landmark aligner, dlib ResNet via ONNX, flip averaging) over all
13,233 LFW deep-funneled images: 87,307,271 impostor and 242,257 genuine pairs (genuine pairs are dominated by
the few people with many photos). At each anchor (true-accept rate = 1 - false-non-match rate):

* similarity 50 = cosine 0.8823: FMR 1e-1, TAR 99.96%
* similarity 80 = cosine 0.9288: FMR 1e-3 (87,287 impostor pairs at or above), TAR 96.50% — Rekognition's
  default ``FaceMatchThreshold``
* similarity 99 = cosine 0.9637: FMR 9.85e-7 (86 impostor pairs, some of them LFW label noise), TAR 28.28% —
  the floor recommended for law-enforcement use. dlib's descriptor cannot reach a one-in-a-million FMR
  without rejecting most genuine pairs; the number is reported as measured, not tuned.

With the dlib shape-predictor aligner instead (``--aligner dlib``) the anchors move by at most 0.0005 in
cosine (0.8821, 0.9285, 0.9632; TAR 99.94%, 96.01%, 27.71%).
"""

from __future__ import annotations

from typing import overload

import numpy as np
import numpy.typing as npt

#: (cosine, similarity, measured FMR at that cosine). Measured 2026-11-26 with
#: ``glasshouse evaluate calibrate ../shared/data/lfw/lfw-deepfunneled --pairs ../shared/data/lfw/pairs.txt
#: --aligner landmarks`` (flip on); full figures in var/evaluation/calibration.json of that run.
CALIBRATION: tuple[tuple[float, float, float], ...] = (
    (-1.0, 0.0, 1.0),
    (0.8823, 50.0, 0.1),
    (0.9288, 80.0, 0.001),
    (0.9637, 99.0, 9.85e-07),
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
