"""CenterFace detector on real photographs: recall, small faces, landmarks, odd inputs, the model rewrite."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from glasshouse.engine import centerface
from glasshouse.engine.centerface import CenterFaceDetector, load_cached_model, prepare, rewrite_centerface
from glasshouse.engine.decode import decode_image
from glasshouse.engine.model_files import centerface_onnx
from glasshouse.engine.types import LANDMARK_NAMES, Box, Detection, RGBImage

EYE_LEFT, EYE_RIGHT, NOSE, MOUTH_LEFT, MOUTH_RIGHT = (
    LANDMARK_NAMES.index(n) for n in ("eye_left", "eye_right", "nose", "mouth_left", "mouth_right")
)
LFW_SAMPLES = (
    "AJ_Cook/AJ_Cook_0001.jpg",
    "Aaron_Eckhart/Aaron_Eckhart_0001.jpg",
    "George_W_Bush/George_W_Bush_0001.jpg",
    "Serena_Williams/Serena_Williams_0001.jpg",
    "Colin_Powell/Colin_Powell_0001.jpg",
)


@pytest.fixture(scope="module")
def detector(model_cache_dir: Path) -> CenterFaceDetector:
    return CenterFaceDetector(model_cache_dir, threads=2)


def load(path: Path) -> RGBImage:
    return decode_image(path.read_bytes())


def resized(image: RGBImage, width: int, height: int) -> RGBImage:
    interpolation = cv2.INTER_AREA if width < image.shape[1] else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(image, (width, height), interpolation=interpolation), dtype=np.uint8)


def match(truths: Sequence[Box], found: Sequence[Detection], min_iou: float) -> dict[int, int]:
    """Greedy one-to-one matching, best IoU first: truth index → detection index."""
    pairs = sorted(
        ((t.iou(d.box), ti, di) for ti, t in enumerate(truths) for di, d in enumerate(found)), reverse=True
    )
    matched: dict[int, int] = {}
    for iou, ti, di in pairs:
        if iou >= min_iou and ti not in matched and di not in matched.values():
            matched[ti] = di
    return matched


def test_recall_on_dlib_hand_labelled_boxes(detector: CenterFaceDetector, shared_data: Path) -> None:
    """dlib's 43 hand-labelled faces (PASCAL VOC photos, faces 37–109 px).

    ``ignore=1`` marks a box dlib's imglab tool excludes from scoring (a face too small or ambiguous to
    label): it counts neither as a face to find nor, when a detection lands on it, as a false positive.
    All 43 boxes in this file have ``ignore=0``. dlib boxes are square and tight (brows to lip), CenterFace
    boxes are taller (forehead to chin), hence the IoU bar of 0.4.
    """
    with (shared_data / "dlib" / "face_boxes.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 43
    scored = hits = false_positives = 0
    for file in sorted({r["file"] for r in rows}):
        boxes = [(labelled_box(r), r["ignore"] == "1") for r in rows if r["file"] == file]
        found = detector.detect(load(shared_data / "dlib" / "examples" / "faces" / file))
        matched = match([b for b, _ in boxes], found, 0.4)
        scored += sum(not ignored for _, ignored in boxes)
        hits += sum(not boxes[ti][1] for ti in matched)
        false_positives += len(found) - len(matched)
    recall = hits / scored
    print(
        f"\ndlib face_boxes: recall {recall:.1%} ({hits}/{scored}) at IoU>=0.4, {false_positives} false pos."
    )
    assert recall >= 0.95
    assert false_positives <= 3


def labelled_box(row: dict[str, str]) -> Box:
    left, top = float(row["left"]), float(row["top"])
    return Box(left, top, left + float(row["width"]), top + float(row["height"]))


def test_all_six_faces_of_insightface_group_photo(detector: CenterFaceDetector, shared_data: Path) -> None:
    image = load(shared_data / "insightface" / "t1.jpg")
    found = detector.detect(image)
    print(f"\nt1.jpg: {len(found)} detections, confidences {[round(d.confidence, 2) for d in found]}")
    assert 6 <= len(found) <= 7, "six people, at most one extra detection"
    best = sorted(found, key=lambda d: d.confidence, reverse=True)[:6]
    assert all(d.confidence >= 0.8 for d in best)
    assert all(a.box.iou(b.box) == 0 for i, a in enumerate(best) for b in best[i + 1 :]), "six distinct faces"
    for d in best:
        assert_plausible_face(d)


def test_forty_pixel_face_in_full_hd_photo(
    detector: CenterFaceDetector, shared_data: Path, model_cache_dir: Path
) -> None:
    """A real LFW face shrunk so that its detector box is 40 px wide (about 40x55: forehead to chin), pasted
    onto a real photograph without people (dlib's ``dogs.jpg`` stretched to 1920x1080). At the default
    working size (1152: a 40 px face becomes 24 px) the face is ~24 px wide there; at ``max_side=1920``
    and ``min_face=0`` it is processed at full size."""
    face = load(shared_data / "lfw" / "lfw-deepfunneled" / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg")
    reference = central(detector.detect(face), face)
    factor = 40 / reference.box.width
    small = resized(face, round(face.shape[1] * factor), round(face.shape[0] * factor))
    background = resized(load(shared_data / "dlib" / "examples" / "faces" / "dogs.jpg"), 1920, 1080)
    assert detector.detect(background) == [], "the background alone has no face"
    x, y = 1500, 700
    scene = background.copy()
    scene[y : y + small.shape[0], x : x + small.shape[1]] = small
    r = reference.box
    expected = Box(x + r.left * factor, y + r.top * factor, x + r.right * factor, y + r.bottom * factor)
    for det in (detector, CenterFaceDetector(model_cache_dir, threads=2, max_side=1920, min_face=0)):
        found = det.detect(scene)
        best = max(found, key=lambda d: d.box.iou(expected))
        iou = best.box.iou(expected)
        print(
            f"\nmax_side={det.max_side}: {len(found)} found, IoU {iou:.2f}, confidence {best.confidence:.2f}"
        )
        assert iou >= 0.6 and best.confidence >= 0.6
        assert len(found) == 1


def test_large_image_maps_back_to_original_pixels(detector: CenterFaceDetector, shared_data: Path) -> None:
    image = load(shared_data / "insightface" / "t1.jpg")
    doubled = resized(image, image.shape[1] * 2, image.shape[0] * 2)
    base, big = detector.detect(image), detector.detect(doubled)
    assert len(big) == len(base) >= 6
    for d in base:
        twice = Box(d.box.left * 2, d.box.top * 2, d.box.right * 2, d.box.bottom * 2)
        assert max(b.box.iou(twice) for b in big) >= 0.8


@pytest.mark.parametrize("name", LFW_SAMPLES)
def test_lfw_central_face_and_landmarks(detector: CenterFaceDetector, shared_data: Path, name: str) -> None:
    image = load(shared_data / "lfw" / "lfw-deepfunneled" / name)
    d = central(detector.detect(image), image)
    assert d.confidence >= 0.8
    assert d.landmarks.shape == (5, 2) and d.landmarks.dtype == np.float32
    assert_plausible_face(d)


def central(found: Sequence[Detection], image: RGBImage) -> Detection:
    cy, cx = image.shape[0] / 2, image.shape[1] / 2
    containing = [d for d in found if d.box.left <= cx <= d.box.right and d.box.top <= cy <= d.box.bottom]
    assert containing, f"no detection covers the image centre: {found}"
    return max(containing, key=lambda d: d.box.area)


def assert_plausible_face(d: Detection) -> None:
    lm, b = d.landmarks, d.box
    assert np.all((lm[:, 0] >= b.left) & (lm[:, 0] <= b.right) & (lm[:, 1] >= b.top) & (lm[:, 1] <= b.bottom))
    assert lm[EYE_LEFT, 0] < lm[EYE_RIGHT, 0]
    assert lm[MOUTH_LEFT, 0] < lm[MOUTH_RIGHT, 0]
    assert max(lm[EYE_LEFT, 1], lm[EYE_RIGHT, 1]) < lm[NOSE, 1] < min(lm[MOUTH_LEFT, 1], lm[MOUTH_RIGHT, 1])
    assert 0.0 <= d.confidence <= 1.0


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((480, 640, 3), np.uint8),
        np.full((1, 1, 3), 128, np.uint8),
        np.random.default_rng(0).integers(90, 170, (200, 3000, 3), dtype=np.uint8),
        np.full((3000, 200, 3), 200, np.uint8),
        np.zeros((0, 0, 3), np.uint8),
        np.full((7, 5000, 3), 255, np.uint8),
        np.zeros((40, 40), np.uint8),
    ],
    ids=["black", "1x1", "3000x200-noise", "200x3000", "empty", "7x5000", "gray-2d"],
)
def test_odd_images_give_nothing(detector: CenterFaceDetector, image: RGBImage) -> None:
    assert detector.detect(image) == []


def test_working_resolution_is_bounded_and_never_enlarged() -> None:
    blob, scale = prepare(np.zeros((250, 250, 3), np.uint8), 1280)
    assert blob.shape == (1, 3, 256, 256) and scale == (1.0, 1.0)
    blob, scale = prepare(np.zeros((1080, 1920, 3), np.uint8), 1280)
    assert blob.shape == (1, 3, 736, 1280) and scale == pytest.approx((2 / 3, 2 / 3), abs=1e-3)
    blob, _ = prepare(np.zeros((1, 1, 3), np.uint8), 1280)
    assert blob.shape == (1, 3, 32, 32)
    rgb = np.zeros((10, 20, 3), np.uint8)
    rgb[..., 0] = 255
    blob, _ = prepare(rgb, 1280)
    assert blob.dtype == np.float32
    assert blob[0, 0, 0, 0] == 255 and blob[0, 2, 0, 0] == 0, "RGB order, 0–255, no normalisation"


def test_working_size_fits_the_image_and_the_smallest_face_worth_finding(model_cache_dir: Path) -> None:
    """A face of ``min_face`` px comes out :data:`RELIABLE_FACE` px, the longest side rounded up to the
    network's 32 px; never above ``max_side`` or the image's own size; ``min_face=0`` keeps full size."""
    assert CenterFaceDetector(model_cache_dir).min_face == centerface.DEFAULT_MIN_FACE == 0
    fitted = CenterFaceDetector(model_cache_dir, min_face=40)  # Rekognition's smallest face
    assert centerface.RELIABLE_FACE == 24
    assert fitted.working_side(250, 250) == 160  # LFW: 0.64x, 2.6x fewer pixels than 256x256
    assert fitted.working_side(500, 375) == 320  # a group photo
    assert fitted.working_side(1920, 1080) == 1152
    assert fitted.working_side(4000, 3000) == 1280  # max_side still bounds it
    assert fitted.working_side(20, 20) == 20  # never enlarged
    full = CenterFaceDetector(model_cache_dir, min_face=0)
    assert [full.working_side(*s) for s in ((250, 250), (1920, 1080), (20, 20))] == [250, 1280, 20]
    assert CenterFaceDetector(model_cache_dir, min_face=20).working_side(250, 250) == 250


def test_a_small_face_at_the_fitted_size_sends_the_image_to_a_full_size_pass(
    detector: CenterFaceDetector, model_cache_dir: Path, shared_data: Path
) -> None:
    """Group photos' faces are under :data:`PRECISE_FACE` px at the fitted size: their boxes and landmarks
    come from the full-size pass, exactly as with ``min_face=0``; LFW's large faces stay at the fitted size."""
    fitted = CenterFaceDetector(model_cache_dir, threads=2, min_face=40)
    for file in ("2008_002079.jpg", "2008_004176.jpg"):
        image = load(shared_data / "dlib" / "examples" / "faces" / file)
        full, fast = detector.detect(image), fitted.detect(image)
        assert len(full) == len(fast) >= 6
        for a, b in zip(full, fast, strict=True):
            assert a.box == b.box and np.array_equal(a.landmarks, b.landmarks)
    portrait = load(shared_data / "lfw" / "lfw-deepfunneled" / LFW_SAMPLES[0])
    assert fitted.working_side(250, 250) == 160
    assert central(fitted.detect(portrait), portrait).box != central(detector.detect(portrait), portrait).box


def test_decode_and_nms_on_a_synthetic_map() -> None:
    h, w = 8, 8
    heat = np.zeros((1, h, w), np.float32)
    heat[0, 2, 3], heat[0, 2, 4], heat[0, 6, 6] = 0.9, 0.7, 0.6
    sizes = np.full((2, h, w), np.log(10.0), np.float32)  # 40x40 boxes
    offsets = np.zeros((2, h, w), np.float32)
    landmarks = np.full((10, h, w), 0.5, np.float32)  # every point at the box centre
    boxes, scores, points = centerface.decode(heat, sizes, offsets, landmarks, 0.5)
    assert len(boxes) == 3
    first = int(np.argmax(scores))
    np.testing.assert_allclose(boxes[first], [-6, -10, 34, 30], atol=1e-4)  # centre (14, 10)
    np.testing.assert_allclose(points[first], np.tile([14, 10], (5, 1)), atol=1e-4)
    keep = centerface.nms(boxes, scores, 0.4)
    assert scores[keep].tolist() == pytest.approx([0.9, 0.6]), "the 0.7 neighbour overlaps the 0.9 box"
    assert len(centerface.nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.4)) == 0


def test_rewritten_graph_is_valid_and_accepts_several_sizes() -> None:
    import onnx
    import onnxruntime as ort

    data = rewrite_centerface(centerface_onnx())
    model = onnx.load_model_from_string(data)
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ["input.1"], "weights are no longer graph inputs"
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
    for n, height, width in [(1, 32, 32), (2, 64, 96), (1, 480, 640), (1, 736, 1280)]:
        outputs = session.run(None, {"input.1": np.zeros((n, 3, height, width), np.float32)})
        assert [o.shape for o in outputs] == [(n, c, height // 4, width // 4) for c in (1, 2, 2, 10)]


def summary(found: Sequence[Detection]) -> list[tuple[Box, float, list[list[float]]]]:
    return [(d.box, d.confidence, d.landmarks.tolist()) for d in found]


def test_model_is_lazy_and_the_cache_is_reused_and_repaired(
    tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = load(shared_data / "lfw" / "lfw-deepfunneled" / LFW_SAMPLES[0])
    first = CenterFaceDetector(tmp_path, threads=1)
    assert list(tmp_path.iterdir()) == [], "nothing is loaded or written before the first detect"
    expected = summary(first.detect(image))
    (cached,) = tmp_path.glob("centerface-*.onnx")
    assert hashlib.sha256(cached.read_bytes()).hexdigest()[:16] == cached.stem.rsplit("-", 1)[1]

    def no_rewrite(src: Path) -> bytes:
        raise AssertionError("the cached model should have been used")

    with monkeypatch.context() as m:
        m.setattr(centerface, "rewrite_centerface", no_rewrite)
        assert summary(CenterFaceDetector(tmp_path, threads=1).detect(image)) == expected

    good = cached.read_bytes()
    cached.write_bytes(good[: len(good) // 2])  # truncated: a crash mid-copy, a full disk
    assert summary(CenterFaceDetector(tmp_path, threads=1).detect(image)) == expected
    assert cached.read_bytes() == good and len(list(tmp_path.glob("centerface-*.onnx"))) == 1

    import onnx

    changed = onnx.load_model_from_string(centerface_onnx().read_bytes())
    changed.doc_string = "another release of the bundled model"
    new_source = tmp_path / "src" / "centerface.onnx"  # outside the cache glob
    new_source.parent.mkdir()
    new_source.write_bytes(changed.SerializeToString())
    rebuilt = load_cached_model(tmp_path, new_source)  # the old entry is stale for the new source
    assert onnx.load_model_from_string(rebuilt).doc_string == changed.doc_string
    assert len(list(tmp_path.glob("centerface-*.onnx"))) == 2
