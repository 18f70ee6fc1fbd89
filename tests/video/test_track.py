"""The tracker on synthetic detections: linking, gaps, identity veto, best-face selection, crops."""

from __future__ import annotations

import numpy as np

from glasshouse.engine.types import Box, Detection, Face, Pose, Quality
from glasshouse.video.track import NormBox, Tracker, crop_face, face_score

IMAGE = np.zeros((200, 400, 3), dtype=np.uint8)


def face(x: float, y: float, side: float = 40, conf: float = 0.9, emb: list[float] | None = None) -> Face:
    box = Box(x, y, x + side, y + side)
    marks = np.array(
        [[x + 10, y + 15], [x + 30, y + 15], [x + 20, y + 24], [x + 12, y + 32], [x + 28, y + 32]]
    )
    vec = None if emb is None else np.asarray(emb, dtype=np.float32) / np.linalg.norm(emb)
    return Face(
        Detection(box, conf, (marks * side / 40).astype(np.float32)),
        Pose(0, 0, 0),
        Quality(50, 80),
        embedding=vec,
    )


def test_two_moving_faces_stay_two_tracks() -> None:
    tracker = Tracker()
    for step in range(5):
        new, ended = tracker.update(step * 200, IMAGE, [face(20 + 8 * step, 50), face(300 - 8 * step, 60)])
        assert len(new) == (2 if step == 0 else 0) and not ended
    tracks = tracker.finish()
    assert [len(t.sightings) for t in tracks] == [5, 5]
    assert tracks[0].sightings[-1].box.left == (20 + 32) / 400
    assert tracks[1].sightings[0].box == NormBox(300 / 400, 60 / 200, 40 / 400, 40 / 200)


def test_a_track_ends_after_the_gap_and_a_far_face_starts_a_new_one() -> None:
    tracker = Tracker(max_gap_ms=500)
    tracker.update(0, IMAGE, [face(20, 50)])
    new, ended = tracker.update(400, IMAGE, [face(300, 50)])  # too far to be the same face
    assert len(new) == 1 and not ended
    new, ended = tracker.update(600, IMAGE, [face(302, 50)])
    assert not new and [t.id for t in ended] == [0]
    assert [t.id for t in tracker.finish()] == [1]


def test_size_jump_is_not_a_link() -> None:
    tracker = Tracker()
    tracker.update(0, IMAGE, [face(20, 20, side=30)])
    new, _ = tracker.update(200, IMAGE, [face(20, 20, side=90)])
    assert len(new) == 1


def test_embeddings_veto_a_link_between_different_people() -> None:
    tracker = Tracker()
    tracker.update(0, IMAGE, [face(20, 50, emb=[1, 0, 0])])
    new, _ = tracker.update(200, IMAGE, [face(22, 50, emb=[0, 1, 0])])
    assert len(new) == 1
    new, _ = tracker.update(400, IMAGE, [face(24, 50, emb=[0.99, 0.05, 0])])
    assert not new and len(tracker.live[0].sightings) == 2
    assert tracker.live[0].embedding is not None


def test_keeps_only_the_best_faces() -> None:
    tracker = Tracker(keep_best=2)
    confidences = [0.5, 0.9, 0.6, 0.95, 0.55]
    for i, c in enumerate(confidences):
        tracker.update(i * 200, IMAGE, [face(20, 50, conf=c)])
    (track,) = tracker.finish()
    assert sorted(c.timestamp_ms for c in track.best) == [200, 600]


def test_face_score_prefers_big_sharp_frontal_confident_faces() -> None:
    good = face(0, 0, side=100)
    assert face_score(good) > face_score(face(0, 0, side=30))
    assert face_score(good) > face_score(face(0, 0, side=100, conf=0.5))
    turned = Face(good.detection, Pose(0, 60, 0), good.quality)
    blurred = Face(good.detection, good.pose, Quality(50, 5))
    assert face_score(good) > face_score(turned) and face_score(good) > face_score(blurred)
    assert 0.0 <= face_score(blurred) <= face_score(good) <= 1.0


def test_crop_face_moves_the_detection_into_the_crop() -> None:
    image = np.random.default_rng(0).integers(0, 255, (200, 400, 3), dtype=np.uint8)
    det = face(100, 60).detection
    crop, moved = crop_face(image, det)
    x0, y0 = (100 - 30), (60 - 30)
    assert crop.shape == (40 + 60, 40 + 60, 3)
    np.testing.assert_array_equal(crop, image[y0 : y0 + 100, x0 : x0 + 100])
    assert moved.box == Box(30, 30, 70, 70)
    np.testing.assert_allclose(moved.landmarks, det.landmarks - np.array([x0, y0], dtype=np.float32))
