"""Decoder: every refusal is typed, every odd-but-valid image comes out as 8-bit RGB."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from glasshouse.engine.decode import decode_image
from glasshouse.errors import ImageTooLargeError, InvalidImageError


def _encode(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


@pytest.fixture(scope="module")
def portrait_jpeg(shared_data: Path) -> bytes:
    return (shared_data / "face_recognition" / "examples" / "biden.jpg").read_bytes()


def test_real_jpeg_and_png_decode_to_rgb(shared_data: Path) -> None:
    jpeg = decode_image((shared_data / "face_recognition/examples/obama.jpg").read_bytes())
    png = decode_image((shared_data / "face_recognition/examples/alex-lacamoire.png").read_bytes())
    for image in (jpeg, png):
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert image.flags["C_CONTIGUOUS"]


def test_truncated_jpeg_is_refused(portrait_jpeg: bytes) -> None:
    with pytest.raises(InvalidImageError, match="truncated or corrupt"):
        decode_image(portrait_jpeg[: len(portrait_jpeg) // 2])


def test_png_decompression_bomb_is_refused_before_decoding() -> None:
    width = height = 20_000  # 400 megapixels of 1-bit gray: ~50 KB compressed
    row = b"\x00" + b"\x00" * (width // 8)
    idat = zlib.compress(row * height, 9)
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    bomb = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )
    assert len(bomb) < 5 * 1024 * 1024
    with pytest.raises(ImageTooLargeError, match="pixels"):
        decode_image(bomb)


def test_gif_is_refused() -> None:
    gif = _encode(Image.new("RGB", (32, 32), (200, 10, 10)), "GIF")
    with pytest.raises(InvalidImageError, match="only JPEG and PNG"):
        decode_image(gif)


def test_text_file_is_refused() -> None:
    with pytest.raises(InvalidImageError, match="only JPEG and PNG"):
        decode_image(b"hello, this is not an image\n" * 10)


def test_empty_bytes_are_refused() -> None:
    with pytest.raises(InvalidImageError, match="empty"):
        decode_image(b"")


def test_six_megabyte_image_is_refused() -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, size=(1500, 1500, 3), dtype=np.uint8)
    data = _encode(Image.fromarray(noise), "PNG", compress_level=0)
    assert len(data) > 6 * 1024 * 1024
    with pytest.raises(ImageTooLargeError, match="bytes"):
        decode_image(data)
    # ... and the limit is configurable.
    assert decode_image(data, max_bytes=10 * 1024 * 1024).shape == (1500, 1500, 3)


def test_exif_orientation_is_applied(portrait_jpeg: bytes) -> None:
    original = Image.open(io.BytesIO(portrait_jpeg))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    rotated = decode_image(_encode(original, "JPEG", exif=exif.tobytes(), quality=95))
    assert rotated.shape[:2] == (original.width, original.height)


def test_grayscale_alpha_palette_and_16bit_come_out_as_rgb() -> None:
    gray = Image.fromarray(np.full((20, 30), 77, dtype=np.uint8))
    rgba = Image.new("RGBA", (30, 20), (10, 20, 30, 0))  # fully transparent -> white background
    palette = Image.new("RGB", (30, 20), (0, 128, 0)).quantize(colors=2)
    wide = Image.fromarray(np.full((20, 30), 0xABCD, dtype=np.uint16))
    cases = {
        "gray": (_encode(gray, "PNG"), (77, 77, 77)),
        "gray-jpeg": (_encode(gray, "JPEG", quality=100), (77, 77, 77)),
        "rgba": (_encode(rgba, "PNG"), (255, 255, 255)),
        "palette": (_encode(palette, "PNG"), (0, 128, 0)),
        "16-bit": (_encode(wide, "PNG"), (0xAB, 0xAB, 0xAB)),
    }
    for name, (data, pixel) in cases.items():
        image = decode_image(data)
        assert image.shape == (20, 30, 3), name
        assert image.dtype == np.uint8, name
        assert tuple(int(v) for v in image[10, 15]) == pytest.approx(pixel, abs=1), name


def test_pixel_limit_is_configurable() -> None:
    data = _encode(Image.new("RGB", (100, 100)), "PNG")
    with pytest.raises(ImageTooLargeError):
        decode_image(data, max_pixels=9_999)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048), st.sampled_from([b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"]))
def test_arbitrary_bytes_never_crash(payload: bytes, prefix: bytes) -> None:
    try:
        image = decode_image(prefix + payload)
    except InvalidImageError:
        return
    assert image.dtype == np.uint8 and image.ndim == 3
