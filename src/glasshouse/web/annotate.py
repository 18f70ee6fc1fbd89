"""Drawing for the console: boxes and landmarks on a copy of the image, returned as a ``data:`` URI.

Nothing here writes to disk: the annotated copy lives in memory for one response. Face crops for leads
are small JPEGs of the face region only (never the whole picture).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw

from glasshouse.engine.types import Box, Face, RGBImage
from glasshouse.faces.crops import crop_jpeg, jpeg_bytes

#: Longest side of an annotated picture shown in a page (larger images are scaled down first).
DISPLAY_MAX_SIDE = 960
#: Longest side of a lead's face crop: enough to compare faces by eye, too small for much else.
CROP_MAX_SIDE = 160
#: Colours with enough contrast on photos; the first face is highlighted.
PROBE_COLOUR = (255, 196, 0)
MATCH_COLOUR = (0, 200, 120)
OTHER_COLOUR = (80, 160, 255)
LANDMARK_COLOUR = (255, 60, 60)


@dataclass(frozen=True, slots=True)
class Mark:
    """A face to draw: its box, landmarks, a short label and a colour."""

    face: Face
    label: str
    colour: tuple[int, int, int] = OTHER_COLOUR


def annotate(image: RGBImage, marks: Sequence[Mark], max_side: int = DISPLAY_MAX_SIDE) -> Image.Image:
    """A scaled copy of ``image`` with each mark's box, five landmarks and label drawn on it."""
    picture = Image.fromarray(image)
    scale = min(1.0, max_side / max(picture.size))
    if scale < 1.0:
        size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
        picture = picture.resize(size, Image.Resampling.LANCZOS)
    else:
        picture = picture.copy()
    draw = ImageDraw.Draw(picture)
    stroke = max(2, round(max(picture.size) / 300))
    for mark in marks:
        box = mark.face.detection.box
        rect = (box.left * scale, box.top * scale, box.right * scale, box.bottom * scale)
        draw.rectangle(rect, outline=mark.colour, width=stroke)
        r = stroke + 1
        for x, y in mark.face.detection.landmarks:
            cx, cy = float(x) * scale, float(y) * scale
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=LANDMARK_COLOUR)
        if mark.label:
            left, top = rect[0], max(0.0, rect[1] - 14)
            text_box = draw.textbbox((left + 3, top + 1), mark.label)
            draw.rectangle((left, top, text_box[2] + 3, text_box[3] + 2), fill=mark.colour)
            draw.text((left + 3, top + 1), mark.label, fill=(0, 0, 0))
    return picture


def data_uri(picture: Image.Image, quality: int = 85) -> str:
    """``data:image/jpeg;base64,...`` of ``picture``: the page carries the image, nothing is stored."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg_bytes(picture, quality)).decode("ascii")


def jpeg_data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def face_crop(image: RGBImage, box: Box, margin: float = 0.2, max_side: int = CROP_MAX_SIDE) -> bytes:
    """A JPEG of the face region (``margin`` of the box size around it), at most ``max_side`` pixels."""
    return crop_jpeg(image, box, margin=margin, max_side=max_side, quality=80)
