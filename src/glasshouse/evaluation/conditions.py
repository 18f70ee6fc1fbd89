"""Capture conditions for calibrating similarity, built from identity-labelled photos (e.g. LFW).

Each condition is a set of pairs in which one side is a *probe* view of an image and the other side an
unmodified (frontal-set) image of another file:

* ``frontal``: every pair of unmodified images.
* ``cross-pose``: pairs in which at least one side is turned: :func:`yaw_proxy` of its detected landmarks at
  least :data:`POSED_YAW_PROXY` (about 30° of yaw for an average face).
* ``low-resolution``: the probe downscaled so that its face box is 32–64 px wide, JPEG-compressed at quality
  20–30 and scaled back up (:func:`low_resolution`).
* ``close-up``: the probe cut to 80–100% of its detected face box (forehead and chin cut by the frame) and
  upscaled 1.5–4× (:func:`close_up`).

The random parameters of each transformed view come from the run's seed and the image's file name, so a run
is reproducible image by image. A view whose face the detector does not find is left out (the API would
give it no similarity at all) and counted.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from glasshouse.engine.types import Box, Detection, RGBImage
from glasshouse.evaluation.embedding import nearest_centre

if TYPE_CHECKING:
    from glasshouse.engine.pipeline import FaceEngine

CONDITIONS: tuple[str, ...] = ("frontal", "cross-pose", "low-resolution", "close-up")
#: Conditions whose probe is a transformed copy of the image (embedded separately).
TRANSFORMED: tuple[str, ...] = ("low-resolution", "close-up")
#: |yaw proxy| at or above which a face counts as turned (three-quarter or profile).
POSED_YAW_PROXY = 0.25
LOW_RES_FACE_PX: tuple[float, float] = (32.0, 64.0)
LOW_RES_JPEG_QUALITY: tuple[int, int] = (20, 30)
CLOSE_UP_BOX_FRACTION: tuple[float, float] = (0.8, 1.0)
CLOSE_UP_UPSCALE: tuple[float, float] = (1.5, 4.0)


def yaw_proxy(landmarks: npt.NDArray[np.float32]) -> float:
    """Horizontal offset of the nose from the eyes' midpoint, in inter-ocular distances (signed).

    For a head turned by yaw θ, with the nose tip ``d`` in front of the eye line and eyes ``w`` apart, this is
    ``(d / w) · tan θ``; with ``d / w`` about 0.45 for an average face, 0.25 is about 30°. Robust to roll
    only to a few degrees, which is enough to select turned faces from a mostly upright set.
    """
    eye_l, eye_r, nose = (np.asarray(landmarks[i], dtype=np.float64) for i in range(3))
    iod = float(np.linalg.norm(eye_r - eye_l))
    mid_x = (eye_l[0] + eye_r[0]) / 2.0
    return float((nose[0] - mid_x) / max(iod, 1e-6))


def view_rng(seed: int, path: Path) -> np.random.Generator:
    """Per-image random parameters: the same image and seed always get the same transformation."""
    key = f"{path.parent.name}/{path.name}".encode()
    return np.random.default_rng([seed, zlib.crc32(key)])


def low_resolution(image: RGBImage, box: Box, rng: np.random.Generator) -> RGBImage:
    """Downscale so the face box is 32–64 px wide, JPEG at quality 20–30, scale back to the original size."""
    h, w = image.shape[:2]
    face_px = rng.uniform(*LOW_RES_FACE_PX)
    scale = min(1.0, face_px / max(box.width, 1.0))
    small = cv2.resize(
        image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
    )
    quality = int(rng.integers(LOW_RES_JPEG_QUALITY[0], LOW_RES_JPEG_QUALITY[1] + 1))
    ok, jpeg = cv2.imencode(".jpg", small[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    decoded_bgr = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    if decoded_bgr is None:
        raise ValueError("JPEG decoding failed")
    decoded = decoded_bgr[:, :, ::-1]
    return np.ascontiguousarray(cv2.resize(decoded, (w, h), interpolation=cv2.INTER_LINEAR), dtype=np.uint8)


def close_up(image: RGBImage, box: Box, rng: np.random.Generator) -> RGBImage:
    """The face cut to 80–100% of its box about the box centre (clipped to the image), upscaled 1.5–4×."""
    h, w = image.shape[:2]
    frac = rng.uniform(*CLOSE_UP_BOX_FRACTION)
    up = rng.uniform(*CLOSE_UP_UPSCALE)
    cx, cy = (box.left + box.right) / 2.0, (box.top + box.bottom) / 2.0
    half_w, half_h = frac * box.width / 2.0, frac * box.height / 2.0
    x0, x1 = max(0, round(cx - half_w)), min(w, round(cx + half_w))
    y0, y1 = max(0, round(cy - half_h)), min(h, round(cy + half_h))
    crop = image[y0:y1, x0:x1]
    if crop.size == 0:
        raise ValueError("empty close-up crop")
    size = (max(1, round((x1 - x0) * up)), max(1, round((y1 - y0) * up)))
    return np.ascontiguousarray(cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC), dtype=np.uint8)


@dataclass(slots=True)
class ViewResult:
    """One image's embeddings per view (``None`` where no face was found) and its frontal yaw proxy."""

    index: int
    embeddings: dict[str, npt.NDArray[np.float32] | None] = field(default_factory=dict)
    yaw_proxy: float = 0.0
    error: str | None = None
    seconds: float = 0.0


def _embed_choice(engine: FaceEngine, image: RGBImage) -> tuple[npt.NDArray[np.float32], Detection] | None:
    """The centre-nearest face's embedding; ``None`` without a face or where the aligner refuses it."""
    from glasshouse.errors import InvalidParameterError

    detections = engine.detect(image)
    if not detections:
        return None
    h, w = image.shape[:2]
    chosen = nearest_centre(detections, w, h)
    try:
        return np.asarray(engine.embed_faces(image, [chosen])[0], dtype=np.float32), chosen
    except InvalidParameterError:  # a degenerate detection (< 1 px between the eyes)
        return None


def embed_views(engine: FaceEngine, index: int, path: Path, option: tuple[int, bool]) -> ViewResult:
    """The frontal view and, when ``transform`` is set, each transformed view of one image file.
    ``option`` is ``(seed, transform)``; a :data:`glasshouse.evaluation.embedding.ImageTask`."""
    from glasshouse.engine.decode import decode_image
    from glasshouse.errors import InvalidImageError

    seed, transform = option
    start = time.perf_counter()
    result = ViewResult(index)
    try:
        image: RGBImage = decode_image(path.read_bytes(), max_bytes=64 * 1024 * 1024)
    except (OSError, InvalidImageError) as exc:
        result.error = str(exc)
        return result
    found = _embed_choice(engine, image)
    result.embeddings["frontal"] = found[0] if found else None
    if found is not None:
        result.yaw_proxy = yaw_proxy(found[1].landmarks)
        if transform:
            rng = view_rng(seed, path)
            low = _embed_choice(engine, low_resolution(image, found[1].box, rng))
            result.embeddings["low-resolution"] = low[0] if low else None
            close = _embed_choice(engine, close_up(image, found[1].box, rng))
            result.embeddings["close-up"] = close[0] if close else None
    result.seconds = time.perf_counter() - start
    return result
