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
EXTREME_POSE, LOW_CONFIDENCE). Pose limits are in :func:`estimate_pose`'s degrees (a 3-D fit, ~10° typical
error): AUTO/LOW refuse only near-profile faces (|yaw| > 75°; on 48 hand-labelled faces none turned
less than 60° was refused), MEDIUM and HIGH follow Rekognition's camera advice (yaw < 45°, pitch < 30–45°).
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


#: A mean face's five landmark points in 3-D (``types.LANDMARK_NAMES`` order), in units of the distance
#: between the eyes: x to the image's right, y down, z towards the camera, origin between the eyes.
#: x and y are the mean landmark positions in aligned LFW chips (``align.DLIB_CHIP_TEMPLATE``, made
#: left/right symmetric); depths are adult anthropometric means (nose tip ~31 mm and mouth corners ~9 mm
#: in front of the eye centres, for 63 mm between the pupils).
MEAN_FACE_3D: npt.NDArray[np.float64] = np.array(
    [
        [-0.5, 0.0, 0.0],
        [0.5, 0.0, 0.0],
        [0.0, 0.6, 0.5],
        [-0.42, 1.06, 0.15],
        [0.42, 1.06, 0.15],
    ]
)


def _projections(yaw: npt.NDArray[np.float64], pitch: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The mean face turned by ``Rx(pitch) @ Ry(yaw)`` (radians, arrays) and projected orthographically,
    each centred: ``(n, 5, 2)``. Roll is left out: it is an in-image rotation, fitted in closed form."""
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    x, y, z = MEAN_FACE_3D.T
    px = cy[:, None] * x + sy[:, None] * z
    py = cp[:, None] * y - sp[:, None] * (-sy[:, None] * x + cy[:, None] * z)
    proj = np.stack([px, py], axis=-1)
    return np.asarray(proj - proj.mean(axis=1, keepdims=True))


_COARSE_ANGLES = np.stack(np.meshgrid(np.arange(-90.0, 90.1, 5.0), np.arange(-75.0, 75.1, 5.0)), -1).reshape(
    -1, 2
)
_COARSE_PROJ = _projections(np.radians(_COARSE_ANGLES[:, 0]), np.radians(_COARSE_ANGLES[:, 1]))
_COARSE_NORM = np.maximum((_COARSE_PROJ**2).sum((1, 2)), 1e-12)  # the grid's squared norms, computed once
_YAW_LIMIT, _PITCH_LIMIT = 90.0, 80.0
_LIMITS_DEG = np.array([_YAW_LIMIT, _PITCH_LIMIT])
_STEP = 0.05  # degrees: the finite difference of the Gauss-Newton Jacobian
_PROBES = np.vstack([np.zeros(2), _STEP * np.eye(2)])  # x, x + step in yaw, x + step in pitch


def _procrustes(
    proj: npt.NDArray[np.float64],
    target: npt.NDArray[np.float64],
    norm: npt.NDArray[np.float64] | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """For each candidate projection ``(n, 5, 2)``, the best in-image rotation (radians, clockwise as
    seen with y down) and scale onto ``target`` (centred), and the squared error left. ``norm``: the
    candidates' squared norms, when known."""
    px, py = proj[:, :, 0], proj[:, :, 1]
    dot = px @ target[:, 0] + py @ target[:, 1]
    cross = px @ target[:, 1] - py @ target[:, 0]
    if norm is None:
        norm = np.maximum((proj**2).sum((1, 2)), 1e-12)
    error = float((target**2).sum()) - (dot**2 + cross**2) / norm
    return np.arctan2(cross, dot), np.sqrt(dot**2 + cross**2) / norm, error


def _residuals(angles: npt.NDArray[np.float64], target: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Fit residuals ``(n, 10)`` for candidate (yaw, pitch) rows in degrees."""
    proj = _projections(np.radians(angles[:, 0]), np.radians(angles[:, 1]))
    roll, scale, _ = _procrustes(proj, target)
    c, s = np.cos(roll)[:, None], np.sin(roll)[:, None]
    fitted = np.stack([c * proj[:, :, 0] - s * proj[:, :, 1], s * proj[:, :, 0] + c * proj[:, :, 1]], -1)
    return np.asarray((scale[:, None, None] * fitted - target).reshape(len(angles), 10))


def _least_squares(jac: npt.NDArray[np.float64], rhs: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The least-squares ``delta`` of ``jac @ delta = rhs`` for a ``(10, 2)`` Jacobian, by the normal
    equations in closed form (what ``np.linalg.lstsq`` returns, without its per-call cost); ``lstsq`` only
    when the Jacobian is (nearly) rank-deficient."""
    a, b, d = float(jac[:, 0] @ jac[:, 0]), float(jac[:, 0] @ jac[:, 1]), float(jac[:, 1] @ jac[:, 1])
    det = a * d - b * b
    if det <= 1e-9 * (a + d) ** 2:
        return np.asarray(np.linalg.lstsq(jac, rhs, rcond=None)[0])
    g0, g1 = float(jac[:, 0] @ rhs), float(jac[:, 1] @ rhs)
    return np.array([(d * g0 - b * g1) / det, (a * g1 - b * g0) / det])


def estimate_pose(landmarks: npt.NDArray[np.float32]) -> Pose:
    """Head pose from the five landmarks: the turn of :data:`MEAN_FACE_3D` whose weak-perspective (scaled
    orthographic) projection, rotated, scaled and shifted in the image, best fits them (least squares:
    a 5° grid over yaw and pitch, then Gauss-Newton; roll, scale and shift in closed form).

    Degrees in Rekognition's range and sense: yaw > 0 when the face turns towards the image's right (nose
    right of the eyes' midline), pitch > 0 when it tilts up, roll > 0 when it leans clockwise as seen (the
    right eye lower). Yaw lies in [-90, 90], pitch in [-80, 80], roll in [-180, 180]. Expect ~10° error;
    beyond ±60° yaw the detector's landmarks of the far side, and with them the estimate, are less reliable.
    """
    pts = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    centred = pts - pts.mean(axis=0)
    if not np.isfinite(centred).all() or float((centred**2).sum()) < 1e-9:
        return Pose(roll=0.0, yaw=0.0, pitch=0.0)
    centred /= math.sqrt(float((centred**2).sum()))
    x = _COARSE_ANGLES[int(np.argmin(_procrustes(_COARSE_PROJ, centred, _COARSE_NORM)[2]))].copy()
    for _ in range(10):
        res = _residuals(x + _PROBES, centred)
        jac = (res[1:] - res[0]).T / _STEP
        delta = np.clip(_least_squares(jac, -res[0]), -5.0, 5.0)
        x = np.clip(x + delta, -_LIMITS_DEG, _LIMITS_DEG)
        if float(np.abs(delta).max()) < 0.01:
            break
    roll = math.degrees(float(_procrustes(_projections(np.radians(x[:1]), np.radians(x[1:])), centred)[0][0]))
    return Pose(roll=round(roll, 3), yaw=round(float(x[0]), 3), pitch=round(float(x[1]), 3))


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
