"""dlib's own HOG face detector, the reference the engine tests align and embed against."""

from __future__ import annotations

from functools import cache
from typing import Any

import dlib
import numpy as np

from glasshouse.engine.types import Box, Detection, RGBImage


@cache
def _detector() -> Any:
    return dlib.get_frontal_face_detector()  # builds the model each call: ~0.4 s, more than a detection


def hog_detections(image: RGBImage) -> list[Detection]:
    """dlib's HOG boxes (upsampled once), with no landmarks."""
    rects = _detector()(image, 1)
    zeros = np.zeros((5, 2), dtype=np.float32)
    return [Detection(Box(r.left(), r.top(), r.right() + 1, r.bottom() + 1), 1.0, zeros) for r in rects]
