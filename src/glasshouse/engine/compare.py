"""CompareFaces' face choice: which source face is compared and which target faces are scored.

One definition, called by the API (:meth:`glasshouse.faces.service.FaceAnalyser.compare`) and by
``glasshouse evaluate --face-choice api``, so that evaluated accuracy is what API users get.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from glasshouse.engine.types import Detection, Embeddings

#: Rekognition's limit on faces considered in one image.
MAX_FACES_PER_IMAGE = 100


def _largest_first(detections: Sequence[Detection]) -> list[int]:
    return sorted(range(len(detections)), key=lambda i: detections[i].box.area, reverse=True)


def source_face(detections: Sequence[Detection]) -> int | None:
    """Index of the face CompareFaces compares from the source image: the largest box; ``None`` if none."""
    order = _largest_first(detections)
    return order[0] if order else None


def target_faces(detections: Sequence[Detection]) -> list[int]:
    """Indices of the target image's faces CompareFaces scores: every face, largest first, at most
    :data:`MAX_FACES_PER_IMAGE`."""
    return _largest_first(detections)[:MAX_FACES_PER_IMAGE]


def match_cosines(probe: npt.NDArray[np.float32], targets: Embeddings) -> npt.NDArray[np.float64]:
    """Cosine of the probe embedding against each target embedding (all L2-normalised)."""
    if len(targets) == 0:
        return np.zeros(0, dtype=np.float64)
    return np.asarray(targets, dtype=np.float64) @ np.asarray(probe, dtype=np.float64)
