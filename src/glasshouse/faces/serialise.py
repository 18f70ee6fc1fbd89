"""Plain-dict views of engine results, shared by the CLI's JSON and the native REST API."""

from __future__ import annotations

from typing import Any

from glasshouse.engine.types import LANDMARK_NAMES, Face


def face_dict(face: Face) -> dict[str, Any]:
    """Box and landmarks in pixels of the decoded (orientation-corrected) image. Never the embedding."""
    d = face.detection
    return {
        "box": {
            "left": round(d.box.left, 2),
            "top": round(d.box.top, 2),
            "width": round(d.box.width, 2),
            "height": round(d.box.height, 2),
        },
        "confidence": round(d.confidence * 100.0, 4),
        "landmarks": [
            {"type": name, "x": round(float(x), 2), "y": round(float(y), 2)}
            for name, (x, y) in zip(LANDMARK_NAMES, d.landmarks, strict=True)
        ],
        "pose": {"roll": face.pose.roll, "yaw": face.pose.yaw, "pitch": face.pose.pitch},
        "quality": {"brightness": face.quality.brightness, "sharpness": face.quality.sharpness},
    }
