"""Aligners: cut one RGB chip per detection, in the geometry the face model was trained on: dlib's 150x150
chip (padding 0.25) or the standard five-point 112x112 ArcFace template."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from glasshouse.engine import model_files
from glasshouse.engine.runtime import Lazy
from glasshouse.engine.types import Box, Chips, Detection, RGBImage, landmarks_usable
from glasshouse.errors import InvalidParameterError

CHIP_SIZE = 150
CHIP_PADDING = 0.25

#: Where the detector's five landmarks (``types.LANDMARK_NAMES`` order: eye_left, eye_right, nose,
#: mouth_left, mouth_right; x, y in chip pixels) land in dlib's chips. Measured on 1,500 LFW deep-funneled
#: images of 1,500 different people: CenterFace landmarks of the largest face were mapped into the chip that
#: ``dlib.get_face_chip(image, shape_predictor_5(image, box), size=150, padding=0.25)`` cuts (the image→chip
#: map recovered exactly by extracting chips of x/y coordinate images), then averaged. Per-point standard
#: deviations were 2.5–8 px (largest for the nose x, which follows head yaw).
DLIB_CHIP_TEMPLATE: npt.NDArray[np.float64] = np.array(
    [
        [46.72, 46.64],
        [102.13, 45.61],
        [73.64, 79.20],
        [50.30, 105.53],
        [96.76, 104.53],
    ]
)


#: The standard five-point template of 112x112 ArcFace/InsightFace chips (same landmark order).
ARCFACE_112_TEMPLATE: npt.NDArray[np.float64] = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ]
)
ARCFACE_CHIP_SIZE = 112


def _empty(size: int = CHIP_SIZE) -> Chips:
    return np.zeros((0, size, size, 3), dtype=np.uint8)


def _as_image(image: RGBImage) -> RGBImage:
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise InvalidParameterError(f"image must be uint8 (h, w, 3) RGB; got {arr.dtype} {arr.shape}")
    return np.ascontiguousarray(arr)


def _dlib_rect(box: Box) -> Any:
    """Our box (right/bottom exclusive, float) as dlib's integer rectangle (right/bottom inclusive)."""
    import dlib

    return dlib.rectangle(
        round(box.left),
        round(box.top),
        max(round(box.left), round(box.right) - 1),
        max(round(box.top), round(box.bottom) - 1),
    )


class DlibAligner:
    """dlib's reference alignment: 5-point shape predictor in the detection box, then ``get_face_chip``.

    Exactly what dlib's face recognition pipeline does (``size=150, padding=0.25``); the detector's own
    landmarks are ignored. The 68-point model is never used.
    """

    def __init__(self) -> None:
        self._predictor: Lazy[Any] = Lazy(self._load)

    @staticmethod
    def _load() -> Any:
        import dlib

        return dlib.shape_predictor(str(model_files.dlib_shape_predictor_5()))

    def align(self, image: RGBImage, detections: list[Detection]) -> Chips:
        if not detections:
            return _empty()
        import dlib

        img = _as_image(image)
        predictor = self._predictor.get()
        chips = [
            np.asarray(
                dlib.get_face_chip(
                    img, predictor(img, _dlib_rect(d.box)), size=CHIP_SIZE, padding=CHIP_PADDING
                )
            )
            for d in detections
        ]
        return np.stack(chips).astype(np.uint8, copy=False)


def similarity_transform(src: npt.NDArray[Any], dst: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Least-squares rotation, uniform scale and shift taking ``src`` points to ``dst`` (Umeyama), 2x3."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    var_s = (s**2).sum() / len(src)
    u, sig, vt = np.linalg.svd(d.T @ s / len(src))
    sign = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rot = u @ sign @ vt
    scale = float((sig * np.diag(sign)).sum() / var_s)
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def warp_chip(image: RGBImage, m: npt.NDArray[np.float64], size: int = CHIP_SIZE) -> npt.NDArray[np.uint8]:
    """Bilinear warp by the 2x3 image→chip map ``m``, black outside the image (like dlib's chips).

    When the chip shrinks the face by more than ~1.25x, the covered region is first area-averaged down to
    chip scale (dlib uses an image pyramid for the same reason), so large faces do not alias.
    """
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    if scale < 0.8:
        inv = cv2.invertAffineTransform(m)
        corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], dtype=np.float64) @ inv.T
        h, w = image.shape[:2]
        x0, y0 = (max(0, int(np.floor(v)) - 2) for v in corners.min(0))
        x1, y1 = min(w, int(np.ceil(corners[:, 0].max())) + 2), min(h, int(np.ceil(corners[:, 1].max())) + 2)
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            cw, ch = max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))
            crop = cv2.resize(image[y0:y1, x0:x1], (cw, ch), interpolation=cv2.INTER_AREA)
            fx, fy = cw / (x1 - x0), ch / (y1 - y0)
            # resized pixel u covers original [u/f, (u+1)/f): its centre is x0 + (u + 0.5)/f - 0.5
            to_orig = np.array(
                [[1 / fx, 0, x0 + 0.5 / fx - 0.5], [0, 1 / fy, y0 + 0.5 / fy - 0.5], [0, 0, 1]]
            )
            m = m @ to_orig
            image = np.asarray(crop, dtype=np.uint8)
    out = cv2.warpAffine(
        image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0)
    )
    return np.asarray(out, dtype=np.uint8)


class LandmarkAligner:
    """Aligns from the detector's own five landmarks onto ``template`` in ``size`` x ``size`` chips: by
    default :data:`DLIB_CHIP_TEMPLATE` (150), or :data:`ARCFACE_112_TEMPLATE` (112) for five-point packs.

    Cheaper than :class:`DlibAligner` (no shape predictor). Raises :class:`InvalidParameterError` for a
    detection whose landmarks are missing (non-finite or collapsed eyes), e.g. from a box-only detector;
    :meth:`FaceEngine.detect <glasshouse.engine.pipeline.FaceEngine.detect>` never passes it such a one.
    """

    def __init__(self, template: npt.NDArray[np.float64] = DLIB_CHIP_TEMPLATE, size: int = CHIP_SIZE) -> None:
        self.template = np.asarray(template, dtype=np.float64)
        self.size = size

    def align(self, image: RGBImage, detections: list[Detection]) -> Chips:
        if not detections:
            return _empty(self.size)
        img = _as_image(image)
        chips = []
        for d in detections:
            if not landmarks_usable(d.landmarks):
                raise InvalidParameterError("LandmarkAligner needs five finite detector landmarks per face")
            pts = np.asarray(d.landmarks, dtype=np.float64).reshape(5, 2)
            chips.append(warp_chip(img, similarity_transform(pts, self.template), self.size))
        return np.stack(chips)
