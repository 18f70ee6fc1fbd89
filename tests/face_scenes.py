"""Images built from the shared data for engine and API tests (built at test time, never stored)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from glasshouse.engine.decode import decode_image
from glasshouse.engine.types import RGBImage

#: Where the real face's box lies in :func:`degenerate_face_scene` (left, top, right, bottom), roughly.
REAL_FACE_REGION = (131, 3, 381, 253)


def degenerate_face_scene(shared_data: Path) -> RGBImage:
    """A squeezed, slightly turned patch of a deepface test photo (left, a blurred profile in which
    CenterFace reports a face whose two eye landmarks lie ~0.36 px apart) beside a real frontal LFW face.

    The patch's scale, squeeze and turn came from a seeded search for the smallest eye distance; its grey
    frame and the black around it keep the detector's view of it as in that search. 384x256.
    """
    real = decode_image(
        (shared_data / "lfw/lfw-deepfunneled/George_W_Bush/George_W_Bush_0001.jpg").read_bytes()
    )
    photo = decode_image((shared_data / "deepface/tests/unit/dataset/img54.jpg").read_bytes())
    patch = photo[650:1100, 1450:1850]
    w, h = round(patch.shape[1] / 2.8763 * 0.7411), round(patch.shape[0] / 2.8763)
    small = cv2.resize(patch, (w, h), interpolation=cv2.INTER_AREA)
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), -3.091, 1.0)
    small = cv2.warpAffine(small, turn, (w, h), borderMode=cv2.BORDER_REPLICATE)
    scene = np.zeros((256, 384, 3), np.uint8)
    scene[: h + 20, : w + 20] = 128
    scene[10 : 10 + h, 10 : 10 + w] = small
    scene[3:253, 131:381] = real
    return scene


def encode_png(image: RGBImage) -> bytes:
    ok, data = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert ok
    return bytes(data)
