"""Decode untrusted image bytes into an RGB array, or refuse with a typed error.

Only JPEG and PNG are accepted (Rekognition's formats). Limits are checked before pixels are decoded, so a
decompression bomb costs nothing. EXIF orientation is applied; grayscale, palette, alpha (composited onto white),
CMYK and 16-bit images all come out as 8-bit RGB.

With ``max_side``, a larger image is reduced to that working size as early as the decoder allows: a JPEG is
decoded at 1/2, 1/4 or 1/8 scale by its DCT (never at full size); a PNG is decoded (16-bit samples straight to
8-bit) then box-reduced before any colour conversion, so every later copy is of the small image.
"""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
from PIL import Image, ImageOps

from glasshouse.engine.types import RGBImage
from glasshouse.errors import ImageTooLargeError, InvalidImageError

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000

_SIGNATURES: dict[bytes, str] = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG"}


def sniff_format(data: bytes) -> str | None:
    """``"JPEG"``, ``"PNG"`` or ``None``, from the magic bytes alone."""
    for magic, name in _SIGNATURES.items():
        if data.startswith(magic):
            return name
    return None


def decode_image(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int | None = None,
) -> RGBImage:
    """Decode JPEG/PNG ``data`` to ``(h, w, 3)`` uint8 RGB.

    Raises :class:`ImageTooLargeError` above ``max_bytes`` or ``max_pixels`` and :class:`InvalidImageError`
    for anything else that is not a complete, decodable JPEG or PNG. Never raises anything else.
    """
    if not data:
        raise InvalidImageError("image is empty (0 bytes)")
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"image is {len(data)} bytes; the limit is {max_bytes} bytes")
    fmt = sniff_format(data)
    if fmt is None:
        raise InvalidImageError("image format not supported: only JPEG and PNG are accepted")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data), formats=[fmt])
            width, height = image.size
            if width <= 0 or height <= 0:
                raise InvalidImageError("image has no pixels")
            if width * height > max_pixels:
                raise ImageTooLargeError(
                    f"image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}"
                )
            if max_side is not None and max(width, height) > max_side:
                scale = max_side / max(width, height)
                image.draft(None, (max(1, int(width * scale)), max(1, int(height * scale))))  # JPEG only
            image.load()
            if max_side is not None:
                image = _reduce(image, max_side)  # the full-size decode is freed here
            return _to_rgb(ImageOps.exif_transpose(image))
    except (InvalidImageError, ImageTooLargeError):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"image refused as a decompression bomb: {exc}") from exc
    except Exception as exc:  # PIL signals corrupt data with many unrelated exception types
        raise InvalidImageError(f"image is truncated or corrupt ({fmt}): {exc}") from exc


#: Pixels per strip while reducing: a strip and its conversions are all that exists beside the decoded image.
_STRIP_PIXELS = 2_000_000


def _reduce(image: Image.Image, max_side: int) -> Image.Image:
    """``image`` box-reduced by the smallest whole factor that brings its longer side within ``max_side``.

    Strip by strip (whole blocks of rows, so the result equals a one-pass reduce): Pillow's own reduce of an
    image with alpha first makes a premultiplied full-size copy, and palette or 16-bit images need a wider
    mode first; here only one strip at a time is ever converted.
    """
    factor = math.ceil(max(image.size) / max_side)
    if factor <= 1:
        return image
    width, height = image.size
    rows = factor * max(1, _STRIP_PIXELS // (width * factor))
    reduced: Image.Image | None = None
    for top in range(0, height, rows):
        piece = _reducible(image.crop((0, top, width, min(height, top + rows)))).reduce(factor)
        if reduced is None:
            reduced = Image.new(piece.mode, (math.ceil(width / factor), math.ceil(height / factor)))
        reduced.paste(piece, (0, top // factor))
    assert reduced is not None
    reduced.info = dict(image.info)  # EXIF orientation still to apply
    return reduced


def _reducible(strip: Image.Image) -> Image.Image:
    """A mode whose pixels may be averaged: palettes to colour, bilevel to gray, 16-bit to 32-bit."""
    if strip.mode in ("P", "PA"):
        return strip.convert("RGBA" if strip.mode == "PA" or "transparency" in strip.info else "RGB")
    if strip.mode == "1":
        return strip.convert("L")
    if strip.mode.startswith("I;16"):
        return strip.convert("I")
    return strip


def _to_rgb(image: Image.Image) -> RGBImage:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grayscale: PIL's convert("L") clips at 255 instead of scaling.
        wide = np.asarray(image, dtype=np.uint32)
        gray = (np.clip(wide, 0, 65535) >> 8).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))  # onto white, in place: one copy, not four
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(rgb)
