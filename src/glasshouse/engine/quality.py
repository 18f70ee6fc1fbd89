"""Face quality (brightness, sharpness), head pose from five landmarks, and the quality filter.

Quality filter levels (Rekognition's names) and what each refuses, checked in this order:

=========  ==========  ===========  ==============  =========  ===========================
level      min side    sharpness    brightness      |yaw|      |pitch|, detector confidence
=========  ==========  ===========  ==============  =========  ===========================
NONE       –           –            –               –          –
LOW        20 px       ≥ 4          5 – 98          ≤ 75°      – , ≥ 0.5
AUTO       = LOW       (Glasshouse's choice for AUTO: drop only faces that cannot be matched)
MEDIUM     32 px       ≥ 12         10 – 95         ≤ 55°      ≤ 45°, ≥ 0.6
HIGH       56 px       ≥ 25         20 – 90         ≤ 35°      ≤ 30°, ≥ 0.75
=========  ==========  ===========  ==============  =========  ===========================

Each refusal names Rekognition's reason (SMALL_BOUNDING_BOX, LOW_SHARPNESS, LOW_BRIGHTNESS, EXPOSURE,
EXTREME_POSE, LOW_CONFIDENCE).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np
import numpy.typing as npt

from glasshouse.engine.types import Box, Detection, Pose, Quality, RGBImage


class QualityFilter(StrEnum):
    NONE = "NONE"
    AUTO = "AUTO"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


@dataclass(frozen=True, slots=True)
class _Limits:
    min_side: float
    min_sharpness: float
    brightness: tuple[float, float]
    max_yaw: float
    max_pitch: float
    min_confidence: float


_LIMITS: dict[QualityFilter, _Limits] = {
    QualityFilter.LOW: _Limits(20, 4, (5, 98), 75, 90, 0.5),
    QualityFilter.MEDIUM: _Limits(32, 12, (10, 95), 55, 45, 0.6),
    QualityFilter.HIGH: _Limits(56, 25, (20, 90), 35, 30, 0.75),
}
_LIMITS[QualityFilter.AUTO] = _LIMITS[QualityFilter.LOW]

_PATCH = 64  # quality is measured on the face resized to a fixed size, so it does not depend on resolution


def estimate_quality(image: RGBImage, box: Box) -> Quality:
    """Brightness = mean luma (0–100); sharpness = variance of the Laplacian, squashed to 0–100."""
    h, w = image.shape[:2]
    b = box.clipped(w, h)
    x0, y0, x1, y1 = int(b.left), int(b.top), math.ceil(b.right), math.ceil(b.bottom)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return Quality(brightness=0.0, sharpness=0.0)
    gray = cv2.cvtColor(np.ascontiguousarray(image[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    patch = cv2.resize(gray, (_PATCH, _PATCH), interpolation=cv2.INTER_AREA)
    brightness = float(patch.mean()) / 255.0 * 100.0
    lap_var = float(cv2.Laplacian(patch, cv2.CV_64F).var())
    sharpness = 100.0 * (1.0 - math.exp(-lap_var / 400.0))
    return Quality(brightness=round(brightness, 3), sharpness=round(sharpness, 3))


def estimate_pose(landmarks: npt.NDArray[np.float32]) -> Pose:
    """Roll from the eye line; yaw from the nose's offset from the eye/mouth midline; pitch from the nose's
    height between eye line and mouth line (0 at the frontal-face ratio). Coarse, about ±10°."""
    pts = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    eye_l, eye_r, nose, mouth_l, mouth_r = pts
    eye_mid = (eye_l + eye_r) / 2.0
    mouth_mid = (mouth_l + mouth_r) / 2.0
    dx, dy = eye_r - eye_l
    roll = math.degrees(math.atan2(dy, dx))
    inter_ocular = math.hypot(dx, dy)
    face_height = float(np.linalg.norm(mouth_mid - eye_mid))
    if inter_ocular < 1e-6 or face_height < 1e-6:
        return Pose(roll=round(roll, 3), yaw=0.0, pitch=0.0)
    # Rotate into the face's frame (undo roll) before measuring offsets.
    c, s = math.cos(math.radians(-roll)), math.sin(math.radians(-roll))
    rot = np.array([[c, -s], [s, c]])
    mid = (eye_mid + mouth_mid) / 2.0
    nose_f = rot @ (nose - mid)
    axis = rot @ (mouth_mid - eye_mid)
    yaw_ratio = float(np.clip(nose_f[0] / (inter_ocular / 2.0), -1.0, 1.0))
    yaw = math.degrees(math.asin(yaw_ratio))
    # On a frontal face the nose tip sits ~55% of the way from the eye line to the mouth line.
    along = float((rot @ (nose - eye_mid))[1] / max(axis[1], 1e-6))
    pitch = float(np.clip((0.55 - along) * 180.0, -90.0, 90.0))
    return Pose(roll=round(roll, 3), yaw=round(yaw, 3), pitch=round(pitch, 3))


def quality_refusal(
    detection: Detection, quality: Quality, pose: Pose, level: QualityFilter | str
) -> str | None:
    """``None`` when the face passes ``level``; otherwise Rekognition's reason name for the first failure."""
    limits = _LIMITS.get(QualityFilter(level))
    if limits is None:
        return None
    if min(detection.box.width, detection.box.height) < limits.min_side:
        return "SMALL_BOUNDING_BOX"
    if detection.confidence < limits.min_confidence:
        return "LOW_CONFIDENCE"
    if abs(pose.yaw) > limits.max_yaw or abs(pose.pitch) > limits.max_pitch:
        return "EXTREME_POSE"
    low, high = limits.brightness
    if quality.brightness < low:
        return "LOW_BRIGHTNESS"
    if quality.brightness > high:
        return "EXPOSURE"
    if quality.sharpness < limits.min_sharpness:
        return "LOW_SHARPNESS"
    return None
