"""Redact a still: every face the detector finds is covered; the copy keeps the original's format (JPEG or
PNG) and orientation (EXIF rotation is applied to the pixels), and carries no metadata (EXIF, GPS)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from glasshouse.engine.decode import decode_image, sniff_format
from glasshouse.engine.pipeline import FaceEngine
from glasshouse.errors import InvalidImageError, InvalidParameterError
from glasshouse.redaction.cover import cover
from glasshouse.redaction.record import RedactionRecord, RedactionSettings, engine_version, sha256_file
from glasshouse.video.track import NormBox

JPEG_QUALITY = 95


def redact_image(engine: FaceEngine, source: Path, out: Path, settings: RedactionSettings) -> RedactionRecord:
    """Write ``source`` (JPEG/PNG) with its faces covered to ``out`` in the same format."""
    data = source.read_bytes()
    fmt = sniff_format(data)
    image = np.array(decode_image(data))  # a writable copy
    assert fmt is not None  # decode_image accepted it
    detections = engine.detect(image)  # largest first, as `glasshouse detect` numbers them
    unknown = sorted(i for i in settings.keep_persons if not 0 <= i < len(detections))
    if unknown:
        raise InvalidParameterError(
            f"no face {unknown} in the image: it has {len(detections)} (numbered from 0, largest first)"
        )
    h, w = image.shape[:2]
    boxes = [
        NormBox.from_box(d.box, w, h) for i, d in enumerate(detections) if i not in settings.keep_persons
    ]
    covered = cover(image, boxes, settings.method, settings.padding)
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ext, params = (".jpg", [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]) if fmt == "JPEG" else (".png", [])
    ok, encoded = cv2.imencode(ext, bgr, params)
    if not ok:
        raise InvalidImageError("could not encode the redacted image")
    payload = np.asarray(encoded).tobytes()
    out.write_bytes(payload)
    return RedactionRecord(
        kind="image",
        original_sha256=sha256_file(source),
        output_sha256=sha256_file(out),
        original_bytes=len(data),
        output_bytes=len(payload),
        settings=settings,
        engine=engine_version(engine.options.detection_threshold),
        media={"format": fmt, "width": w, "height": h, "metadata": "stripped"},
        faces={"found": len(detections), "covered": covered, "kept": sorted(settings.keep_persons)},
    )
