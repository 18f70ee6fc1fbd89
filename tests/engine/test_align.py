"""Aligners on real photographs: dlib's reference chips, order, empty input, and the landmark template."""

from __future__ import annotations

from pathlib import Path

import cv2
import dlib
import numpy as np
import pytest

from dlib_reference import hog_detections
from glasshouse.engine import model_files
from glasshouse.engine.align import (
    DLIB_CHIP_TEMPLATE,
    DlibAligner,
    LandmarkAligner,
    similarity_transform,
)
from glasshouse.engine.centerface import CenterFaceDetector
from glasshouse.engine.decode import decode_image
from glasshouse.engine.embed import OnnxResNetEmbedder
from glasshouse.engine.types import Box, Detection, RGBImage
from glasshouse.errors import InvalidParameterError

LFW_SAMPLES = (
    "Aaron_Eckhart/Aaron_Eckhart_0001.jpg",
    "Colin_Powell/Colin_Powell_0001.jpg",
    "AJ_Cook/AJ_Cook_0001.jpg",
)


def load(path: Path) -> RGBImage:
    return decode_image(path.read_bytes())


def reference_chip(image: RGBImage, det: Detection) -> np.ndarray:
    sp = dlib.shape_predictor(str(model_files.dlib_shape_predictor_5()))
    b = det.box
    rect = dlib.rectangle(int(b.left), int(b.top), int(b.right) - 1, int(b.bottom) - 1)
    return np.asarray(dlib.get_face_chip(image, sp(image, rect), size=150, padding=0.25))


def ideal_landmarks(image: RGBImage, det: Detection) -> np.ndarray:
    """The template points mapped back into the image through dlib's own chip geometry for this face."""
    sp = dlib.shape_predictor(str(model_files.dlib_shape_predictor_5()))
    b = det.box
    shape = sp(image, dlib.rectangle(int(b.left), int(b.top), int(b.right) - 1, int(b.bottom) - 1))
    details = dlib.get_face_chip_details(shape, 150, 0.25)
    ys, xs = np.mgrid[0 : image.shape[0], 0 : image.shape[1]].astype(np.float32)
    cx, cy = dlib.extract_image_chip(xs, details), dlib.extract_image_chip(ys, details)
    map_x, map_y = (DLIB_CHIP_TEMPLATE[None, :, i].astype(np.float32) for i in (0, 1))
    points = [cv2.remap(c, map_x, map_y, cv2.INTER_LINEAR)[0] for c in (cx, cy)]
    return np.stack(points, axis=1).astype(np.float32)


@pytest.fixture(scope="module")
def group(shared_data: Path) -> tuple[RGBImage, list[Detection]]:
    image = load(shared_data / "face_recognition" / "examples" / "two_people.jpg")
    dets = hog_detections(image)
    assert len(dets) == 2
    return image, dets


def test_dlib_aligner_reproduces_dlib_chips_in_detection_order(
    group: tuple[RGBImage, list[Detection]],
) -> None:
    image, dets = group
    chips = DlibAligner().align(image, dets)
    assert chips.shape == (2, 150, 150, 3) and chips.dtype == np.uint8
    for chip, det in zip(chips, dets, strict=True):
        np.testing.assert_array_equal(chip, reference_chip(image, det))
    reversed_chips = DlibAligner().align(image, dets[::-1])
    np.testing.assert_array_equal(reversed_chips, chips[::-1])


@pytest.mark.parametrize("aligner", [DlibAligner(), LandmarkAligner()])
def test_no_detections_give_an_empty_batch(aligner: DlibAligner | LandmarkAligner) -> None:
    chips = aligner.align(np.zeros((40, 40, 3), dtype=np.uint8), [])
    assert chips.shape == (0, 150, 150, 3) and chips.dtype == np.uint8


def test_landmark_aligner_matches_dlib_geometry_for_ideal_landmarks(shared_data: Path) -> None:
    lfw = shared_data / "lfw" / "lfw-deepfunneled"
    for name in LFW_SAMPLES:
        image = load(lfw / name)
        det = hog_detections(image)[0]
        with_points = Detection(det.box, det.confidence, ideal_landmarks(image, det))
        ours = LandmarkAligner().align(image, [with_points])[0].astype(np.float64)
        ref = reference_chip(image, det).astype(np.float64)
        assert np.abs(ours - ref)[5:-5, 5:-5].mean() < 1.0, name


def test_landmark_aligner_on_detector_landmarks(shared_data: Path, model_cache_dir: Path) -> None:
    lfw = shared_data / "lfw" / "lfw-deepfunneled"
    detector = CenterFaceDetector(model_cache_dir, threads=2)
    embedder = OnnxResNetEmbedder(model_cache_dir, threads=2, flip=False)
    for name in LFW_SAMPLES:
        image = load(lfw / name)
        det = max(detector.detect(image), key=lambda d: d.box.area)
        chips = np.concatenate([LandmarkAligner().align(image, [det]), DlibAligner().align(image, [det])])
        assert chips.shape == (2, 150, 150, 3) and chips.dtype == np.uint8
        a, b = embedder.embed(chips)
        assert float(a @ b) > 0.95, name
        # a 4x larger copy of the photo gives (nearly) the same chip: large faces are area-averaged first
        big = np.asarray(cv2.resize(image, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC), dtype=np.uint8)
        big_det = Detection(
            Box(det.box.left * 4, det.box.top * 4, det.box.right * 4, det.box.bottom * 4),
            det.confidence,
            (det.landmarks * 4 + 1.5).astype(np.float32),  # pixel centres: x_big = 4 x + 1.5
        )
        c = embedder.embed(LandmarkAligner().align(big, [big_det]))[0]
        assert float(a @ c) > 0.98, name


def test_landmark_aligner_refuses_missing_landmarks(group: tuple[RGBImage, list[Detection]]) -> None:
    image, dets = group  # HOG detections carry zero landmarks
    with pytest.raises(InvalidParameterError):
        LandmarkAligner().align(image, dets)


def test_similarity_transform_recovers_a_known_map() -> None:
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -4.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = DLIB_CHIP_TEMPLATE
    m = similarity_transform(src, src @ rot.T + shift)
    np.testing.assert_allclose(m[:, :2], rot, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], shift, atol=1e-9)


def test_aligners_reject_non_rgb(group: tuple[RGBImage, list[Detection]]) -> None:
    image, dets = group
    with pytest.raises(InvalidParameterError):
        DlibAligner().align(image[:, :, 0], dets)
