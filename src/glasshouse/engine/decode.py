"""Decode untrusted image bytes into an RGB array, or refuse with a typed error.

Only JPEG and PNG are accepted (Rekognition's formats). Limits are checked before pixels are decoded, so a
decompression bomb costs nothing. EXIF orientation is applied; grayscale, palette, alpha (composited onto white),
CMYK and 16-bit images all come out as 8-bit RGB.
"""

from __future__ import annotations

import io
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
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_pixels: int = DEFAULT_MAX_PIXELS
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
            image = Image.open(io.BytesIO(data), formats=[fmt])
            width, height = image.size
            if width <= 0 or height <= 0:
                raise InvalidImageError("image has no pixels")
            if width * height > max_pixels:
                raise ImageTooLargeError(
                    f"image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}"
                )
            image.load()
            return _to_rgb(ImageOps.exif_transpose(image))
    except (InvalidImageError, ImageTooLargeError):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"image refused as a decompression bomb: {exc}") from exc
    except Exception as exc:  # PIL signals corrupt data with many unrelated exception types
        raise InvalidImageError(f"image is truncated or corrupt ({fmt}): {exc}") from exc


def _to_rgb(image: Image.Image) -> RGBImage:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grayscale: PIL's convert("L") clips at 255 instead of scaling.
        wide = np.asarray(image, dtype=np.uint32)
        gray = (np.clip(wide, 0, 65535) >> 8).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(rgb)
