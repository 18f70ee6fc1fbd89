"""Value types the engine passes around. Plain data over numpy arrays; no behaviour that does I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

#: A decoded image: ``(height, width, 3)`` uint8, RGB channel order, orientation already applied.
RGBImage: TypeAlias = npt.NDArray[np.uint8]
#: Aligned face chips: ``(n, 150, 150, 3)`` uint8 RGB, as dlib's ``get_face_chip`` produces them.
Chips: TypeAlias = npt.NDArray[np.uint8]
#: L2-normalised embeddings: ``(n, 128)`` float32.
Embeddings: TypeAlias = npt.NDArray[np.float32]

#: Order of the five detector landmarks. "left"/"right" are as seen in the image
#: (``left_eye`` has the smaller x for an upright frontal face), like Rekognition's ``eyeLeft``.
LANDMARK_NAMES: tuple[str, ...] = ("eye_left", "eye_right", "nose", "mouth_left", "mouth_right")
#: The same landmarks by Rekognition's ``Landmark.Type`` names (every surface speaking Rekognition's shapes).
REKOGNITION_LANDMARK_TYPES: tuple[str, ...] = ("eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight")


@dataclass(frozen=True, slots=True)
class Box:
    """Axis-aligned box in pixel coordinates of the decoded image (right/bottom exclusive)."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return max(0.0, self.right - self.left)

    @property
    def height(self) -> float:
        return max(0.0, self.bottom - self.top)

    @property
    def area(self) -> float:
        return self.width * self.height

    def iou(self, other: Box) -> float:
        """Intersection over union; 0 for disjoint or empty boxes."""
        iw = min(self.right, other.right) - max(self.left, other.left)
        ih = min(self.bottom, other.bottom) - max(self.top, other.top)
        if iw <= 0 or ih <= 0:
            return 0.0
        inter = iw * ih
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def clipped(self, width: int, height: int) -> Box:
        return Box(
            max(0.0, self.left),
            max(0.0, self.top),
            min(float(width), self.right),
            min(float(height), self.bottom),
        )


def landmarks_usable(landmarks: npt.NDArray[np.float32]) -> bool:
    """Five finite points with the eyes at least a pixel apart: what alignment and pose need.

    A detector can report a degenerate face (a tiny false positive whose eyes collapse onto one pixel);
    such a detection is dropped rather than allowed to fail the image it came with.
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (5, 2) or not np.isfinite(pts).all():
        return False
    return bool(np.hypot(*(pts[1] - pts[0])) >= 1.0)


@dataclass(frozen=True, slots=True)
class Detection:
    """One detected face: box, detector confidence in [0, 1] and five landmarks ``(5, 2)`` (x, y)."""

    box: Box
    confidence: float
    landmarks: npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Pose:
    """Head pose in degrees estimated from the five landmarks (coarse: ±10° is typical error)."""

    roll: float
    yaw: float
    pitch: float


@dataclass(frozen=True, slots=True)
class Quality:
    """Image quality of the face region, each 0–100 (higher is better)."""

    brightness: float
    sharpness: float


@dataclass(frozen=True, slots=True)
class Face:
    """A detected face with everything the engine computes about it. ``embedding`` is ``(128,)`` float32."""

    detection: Detection
    pose: Pose
    quality: Quality
    embedding: npt.NDArray[np.float32] | None = field(default=None, compare=False)
