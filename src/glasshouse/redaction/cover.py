"""Cover a face on an RGB image: pad its box, then blur it beyond recognition or paint it solid.

The blur is a Gaussian on a copy shrunk to ``BLUR_CELLS`` pixels across the face, enlarged back: as strong as
a Gaussian of a quarter face width on the full-size region (no feature survives), at a fraction of the cost,
and the same whatever the face's size.
"""

from __future__ import annotations

from enum import StrEnum

import cv2
import numpy as np
import numpy.typing as npt

from glasshouse.engine.types import RGBImage
from glasshouse.video.track import NormBox

#: An RGB image or one plane of a YUV picture (uint8).
Plane = npt.NDArray[np.uint8]

BLUR_CELLS = 6  # the padded face is shrunk to this many pixels across before blurring
BLUR_SIGMA = 1.0  # in shrunk pixels: a sixth of the padded face
BOX_COLOUR = (0, 0, 0)


class Method(StrEnum):
    BLUR = "blur"
    BOX = "box"


def padded(box: NormBox, padding: float) -> NormBox:
    """``box`` grown by ``padding`` × its width (height) on the left and right (top and bottom)."""
    dx, dy = box.width * padding, box.height * padding
    return NormBox(box.left - dx, box.top - dy, box.width + 2 * dx, box.height + 2 * dy)


def pixel_bounds(box: NormBox, width: int, height: int) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)`` of ``box`` in an image of that size, rounded outwards and clipped; ``None`` if
    nothing of it is inside."""
    x0 = max(0, int(np.floor(box.left * width)))
    y0 = max(0, int(np.floor(box.top * height)))
    x1 = min(width, int(np.ceil((box.left + box.width) * width)))
    y1 = min(height, int(np.ceil((box.top + box.height) * height)))
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def cover(image: RGBImage, boxes: list[NormBox], method: Method, padding: float) -> int:
    """Cover every box on ``image`` in place (boxes as fractions of the image); returns how many were."""
    h, w = image.shape[:2]
    done = 0
    for box in boxes:
        bounds = pixel_bounds(padded(box, padding), w, h)
        if bounds is None:
            continue
        x0, y0, x1, y1 = bounds
        if method is Method.BOX:
            image[y0:y1, x0:x1] = BOX_COLOUR
        else:
            image[y0:y1, x0:x1] = _blurred(image[y0:y1, x0:x1])
        done += 1
    return done


def cover_yuv420(
    planes: tuple[Plane, Plane, Plane],
    boxes: list[NormBox],
    method: Method,
    padding: float,
    *,
    full_range: bool = False,
) -> int:
    """:func:`cover` on a YUV 4:2:0 picture's ``(Y, U, V)`` planes in place (chroma at half size), so a
    decoded frame is covered without a round trip through RGB. Blurring is linear, so blurring each plane is
    blurring the picture; a box is black (Y 16, or 0 in full range; U and V 128). Chroma bounds are rounded
    outwards, so the covered area is never smaller than :func:`cover`'s."""
    luma, cb, cr = planes
    h, w = luma.shape
    black = 0 if full_range else 16
    done = 0
    for box in boxes:
        bounds = pixel_bounds(padded(box, padding), w, h)
        if bounds is None:
            continue
        x0, y0, x1, y1 = bounds
        c0, r0, c1, r1 = x0 // 2, y0 // 2, -(-x1 // 2), -(-y1 // 2)
        if method is Method.BOX:
            luma[y0:y1, x0:x1] = black
            cb[r0:r1, c0:c1] = 128
            cr[r0:r1, c0:c1] = 128
        else:
            # The chroma region's own size sets its shrink factor: the same cells across the face.
            luma[y0:y1, x0:x1] = _blurred(luma[y0:y1, x0:x1])
            cb[r0:r1, c0:c1] = _blurred(cb[r0:r1, c0:c1])
            cr[r0:r1, c0:c1] = _blurred(cr[r0:r1, c0:c1])
        done += 1
    return done


def _blurred(region: Plane) -> Plane:
    h, w = region.shape[:2]
    s = BLUR_CELLS / max(h, w)
    small = cv2.resize(region, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), BLUR_SIGMA, borderType=cv2.BORDER_REPLICATE)
    return np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), dtype=np.uint8)
