"""Engine and store objects rendered as Rekognition's response shapes.

Only what the engine really computes is returned: bounding box, confidence, five landmarks, pose and
quality. Age, gender, emotions and other attributes are never inferred, whatever ``Attributes`` asks for.
Landmark names: ``eyeLeft`` is the eye on the image's left, as for the engine's ``eye_left``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from typing import Any

from glasshouse.collections.models import FaceRecord
from glasshouse.engine.types import REKOGNITION_LANDMARK_TYPES, Box, Face
from glasshouse.rekognition.model import service_model

#: The quality filter's own reasons that Rekognition's ``Reason`` enum has no name for.
_REASONS = {"EXPOSURE": "LOW_FACE_QUALITY"}
#: ``Face.IndexFacesModelVersion`` must match this (the top-level ``FaceModelVersion`` has no pattern).
_NUMERIC_VERSION = re.compile(r"[0-9.]+")


@cache
def _reason_enum() -> frozenset[str]:
    return frozenset(service_model().shape_for("Reason").enum)


def unindexed_reasons(reasons: Iterable[str]) -> list[str]:
    """Rekognition's ``Reason`` values for the engine's refusal reasons: SDKs that type enums reject
    unknown values, so a reason outside the service model's enum becomes ``LOW_FACE_QUALITY`` (an
    over-exposed face, the quality filter's ``EXPOSURE``, included)."""
    known = _reason_enum()
    out: list[str] = []
    for reason in reasons:
        mapped = _REASONS.get(reason, reason)
        mapped = mapped if mapped in known else "LOW_FACE_QUALITY"
        if mapped not in out:
            out.append(mapped)
    return out


def _clip01(v: float) -> float:
    return min(1.0, max(0.0, v))


def bounding_box(box: Box, width: int, height: int) -> dict[str, float]:
    """Rekognition's ratios of the image's width and height."""
    b = box.clipped(width, height)
    return {
        "Width": _clip01(b.width / width),
        "Height": _clip01(b.height / height),
        "Left": _clip01(b.left / width),
        "Top": _clip01(b.top / height),
    }


def face_detail(face: Face, width: int, height: int) -> dict[str, Any]:
    """Rekognition's FaceDetail for an engine face."""
    d = face.detection
    return {
        "BoundingBox": bounding_box(d.box, width, height),
        "Landmarks": [
            {"Type": t, "X": _clip01(float(x) / width), "Y": _clip01(float(y) / height)}
            for t, (x, y) in zip(REKOGNITION_LANDMARK_TYPES, d.landmarks, strict=True)
        ],
        "Pose": {"Roll": face.pose.roll, "Yaw": face.pose.yaw, "Pitch": face.pose.pitch},
        "Quality": {"Brightness": face.quality.brightness, "Sharpness": face.quality.sharpness},
        "Confidence": round(d.confidence * 100.0, 5),
    }


def compare_face(face: Face, width: int, height: int) -> dict[str, Any]:
    """Rekognition's ComparedFace (CompareFaces) for an engine face."""
    detail = face_detail(face, width, height)
    return {k: detail[k] for k in ("BoundingBox", "Confidence", "Landmarks", "Pose", "Quality")}


def stored_face(face: FaceRecord, model_version: str) -> dict[str, Any]:
    """Rekognition's Face for an enrolled face."""
    box = Box(face.box_left, face.box_top, face.box_left + face.box_width, face.box_top + face.box_height)
    out: dict[str, Any] = {
        "FaceId": face.id,
        "BoundingBox": bounding_box(box, face.image_width, face.image_height),
        "ImageId": face.image_id,
        "Confidence": round(face.confidence * 100.0, 5),
    }
    if _NUMERIC_VERSION.fullmatch(model_version):  # Glasshouse's identifiers are not numeric: left out
        out["IndexFacesModelVersion"] = model_version
    if face.external_image_id is not None:
        out["ExternalImageId"] = face.external_image_id
    if face.user_id is not None:
        out["UserId"] = face.user_id
    return out
