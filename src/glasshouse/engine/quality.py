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
from collections.abc import Sequence
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
_STEP = 0.05  # degrees: the finite difference of the Gauss-Newton Jacobian


def _grid_errors(target: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """For each turn of the coarse grid, the squared error left after the best in-image rotation, scale
    and shift of its projection onto ``target`` (centred) — the closed form :func:`_fit` uses per turn."""
    px, py = _COARSE_PROJ[:, :, 0], _COARSE_PROJ[:, :, 1]
    dot = px @ target[:, 0] + py @ target[:, 1]
    cross = px @ target[:, 1] - py @ target[:, 0]
    return np.asarray(float((target**2).sum()) - (dot**2 + cross**2) / _COARSE_NORM)


_FACE_POINTS = [tuple(point) for point in MEAN_FACE_3D.tolist()]


def _fit(yaw: float, pitch: float, target: Sequence[float]) -> tuple[list[float], float]:
    """The residuals (10) of the best in-image rotation, scale and shift of the mean face turned by
    (``yaw``, ``pitch``) degrees onto ``target`` (centred, ``x0..x4, y0..y4``), and that rotation (radians).

    Plain floats, not arrays: five points are too few for numpy's per-call cost (this is the inner loop of
    :func:`estimate_pose`, run for every face)."""
    cy, sy = math.cos(math.radians(yaw)), math.sin(math.radians(yaw))
    cp, sp = math.cos(math.radians(pitch)), math.sin(math.radians(pitch))
    px = [cy * x + sy * z for x, _, z in _FACE_POINTS]
    py = [cp * y - sp * (cy * z - sy * x) for x, y, z in _FACE_POINTS]
    mx, my = sum(px) / 5.0, sum(py) / 5.0
    px = [v - mx for v in px]
    py = [v - my for v in py]
    tx, ty = target[:5], target[5:]
    dot = sum(a * b for a, b in zip(px, tx, strict=True)) + sum(a * b for a, b in zip(py, ty, strict=True))
    cross = sum(a * b for a, b in zip(px, ty, strict=True)) - sum(a * b for a, b in zip(py, tx, strict=True))
    norm = max(sum(v * v for v in px) + sum(v * v for v in py), 1e-12)
    c, s = dot / norm, cross / norm  # scale · (cos, sin) of the rotation
    residuals = [c * x - s * y - t for x, y, t in zip(px, py, tx, strict=True)]
    residuals += [s * x + c * y - t for x, y, t in zip(px, py, ty, strict=True)]
    return residuals, math.atan2(cross, dot)


def _gauss_newton_step(r0: list[float], r_yaw: list[float], r_pitch: list[float]) -> tuple[float, float]:
    """The least-squares step ``delta`` of ``J @ delta = -r0``, ``J``'s columns the finite differences
    ``(r_yaw - r0) / step`` and ``(r_pitch - r0) / step``, by the normal equations in closed form (what
    ``np.linalg.lstsq`` returns, without its per-call cost); ``lstsq`` only when ``J`` is (nearly)
    rank-deficient."""
    j0 = [(a - b) / _STEP for a, b in zip(r_yaw, r0, strict=True)]
    j1 = [(a - b) / _STEP for a, b in zip(r_pitch, r0, strict=True)]
    a = sum(v * v for v in j0)
    b = sum(u * v for u, v in zip(j0, j1, strict=True))
    d = sum(v * v for v in j1)
    det = a * d - b * b
    if det <= 1e-9 * (a + d) ** 2:
        step = np.linalg.lstsq(np.array([j0, j1]).T, -np.array(r0), rcond=None)[0]
        return float(step[0]), float(step[1])
    g0 = -sum(u * v for u, v in zip(j0, r0, strict=True))
    g1 = -sum(u * v for u, v in zip(j1, r0, strict=True))
    return (d * g0 - b * g1) / det, (a * g1 - b * g0) / det


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
    yaw, pitch = _COARSE_ANGLES[int(np.argmin(_grid_errors(centred)))].tolist()
    target = centred.T.reshape(10).tolist()
    for _ in range(10):
        r0, _ = _fit(yaw, pitch, target)
        d_yaw, d_pitch = _gauss_newton_step(
            r0, _fit(yaw + _STEP, pitch, target)[0], _fit(yaw, pitch + _STEP, target)[0]
        )
        d_yaw, d_pitch = min(max(d_yaw, -5.0), 5.0), min(max(d_pitch, -5.0), 5.0)
        yaw = min(max(yaw + d_yaw, -_YAW_LIMIT), _YAW_LIMIT)
        pitch = min(max(pitch + d_pitch, -_PITCH_LIMIT), _PITCH_LIMIT)
        if max(abs(d_yaw), abs(d_pitch)) < 0.01:
            break
    roll = math.degrees(_fit(yaw, pitch, target)[1])
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
