"""Small JPEG crops of a face region (never the whole picture), for people who must compare faces by eye.

A crop is re-encoded smaller (lower quality, then fewer pixels) until it fits ``max_bytes``, so a stored
crop never exceeds its bound whatever the image.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from glasshouse.engine.types import Box, RGBImage

#: The bound on a kept crop (a collection's enrolled faces, a lead's probe).
MAX_CROP_BYTES = 64 * 1024
#: Longest side of an enrolled face's crop: enough to compare faces by eye, too small for much else.
ENROLLED_CROP_SIDE = 256
_QUALITIES = (85, 75, 65, 50, 35)
_MIN_SIDE = 16


def jpeg_bytes(picture: Image.Image, quality: int = 85) -> bytes:
    out = io.BytesIO()
    picture.convert("RGB").save(out, format="JPEG", quality=quality, optimize=True)
    return out.getvalue()


def crop_jpeg(
    image: RGBImage,
    box: Box,
    *,
    margin: float = 0.2,
    max_side: int = ENROLLED_CROP_SIDE,
    max_bytes: int = MAX_CROP_BYTES,
    quality: int = 85,
) -> bytes:
    """A JPEG of the face region (``margin`` of the box size around it), at most ``max_side`` pixels on
    its longest side and at most ``max_bytes`` long."""
    h, w = image.shape[:2]
    mx, my = box.width * margin, box.height * margin
    region = Box(box.left - mx, box.top - my, box.right + mx, box.bottom + my).clipped(w, h)
    left, top = int(region.left), int(region.top)
    right, bottom = max(left + 1, round(region.right)), max(top + 1, round(region.bottom))
    crop = Image.fromarray(np.ascontiguousarray(image[top:bottom, left:right]))
    side = max_side
    while True:
        picture = crop.copy()
        picture.thumbnail((side, side), Image.Resampling.LANCZOS)
        for q in (quality, *(q for q in _QUALITIES if q < quality)):
            data = jpeg_bytes(picture, quality=q)
            if len(data) <= max_bytes:
                return data
        if side <= _MIN_SIDE:
            raise ValueError(f"a face crop does not fit in {max_bytes} bytes")
        side = max(_MIN_SIDE, side * 3 // 4)
