"""Link face detections across sampled frames into tracks, keeping each track's best faces for embedding.

Association is greedy on an affinity per (track, detection) pair, best first:

* geometry: the pair is a candidate only if the face kept roughly its size (ratio ≤ ``max_size_ratio``) and its
  centre moved at most ``max_shift`` face-sides since the track was last seen; affinity = IoU + closeness;
* identity: when both the track and the detection carry embeddings, a pair below ``min_link_cosine`` is
  refused and the cosine is added to the affinity (so a close box cannot steal another person's track).

A track ends when it has not been seen for ``max_gap_ms``. Each live track keeps only its ``keep_best`` best
faces (by :func:`face_score`) as small crops around the face, so memory is bounded by the number of people on
screen, not by the video's length; only those crops are embedded.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from glasshouse.engine.types import REKOGNITION_LANDMARK_TYPES, Box, Detection, Face, Pose, Quality, RGBImage

Vector = npt.NDArray[np.float32]
CROP_MARGIN = 0.75  # crop this many face-sides around the box: enough for the aligner's padded chip


@dataclass(frozen=True, slots=True)
class NormBox:
    """A box as fractions of the frame's width and height (Rekognition's ``BoundingBox``)."""

    left: float
    top: float
    width: float
    height: float

    @classmethod
    def from_box(cls, box: Box, width: int, height: int) -> NormBox:
        b = box.clipped(width, height)
        return cls(b.left / width, b.top / height, b.width / width, b.height / height)

    def to_rekognition(self) -> dict[str, float]:
        return {"Width": self.width, "Height": self.height, "Left": self.left, "Top": self.top}


@dataclass(frozen=True, slots=True)
class Sighting:
    """Where a track's face was at one sampled frame, and how the engine described it there: landmarks as
    fractions of the frame's width and height, pose and quality (a few numbers, never the pixels)."""

    timestamp_ms: int
    box: NormBox
    confidence: float
    landmarks: tuple[tuple[float, float], ...] = ()
    pose: Pose | None = None
    quality: Quality | None = None

    @classmethod
    def of(cls, timestamp_ms: int, face: Face, width: int, height: int) -> Sighting:
        d = face.detection
        landmarks = tuple(
            (min(1.0, max(0.0, float(x) / width)), min(1.0, max(0.0, float(y) / height)))
            for x, y in d.landmarks
        )
        box = NormBox.from_box(d.box, width, height)
        return cls(timestamp_ms, box, round(d.confidence, 4), landmarks, face.pose, face.quality)

    def to_rekognition(self) -> dict[str, Any]:
        """Rekognition's ``FaceDetail`` (its default attributes: box, confidence, landmarks, pose, quality)."""
        out: dict[str, Any] = {
            "BoundingBox": self.box.to_rekognition(),
            "Confidence": round(self.confidence * 100, 4),
        }
        if self.landmarks:
            out["Landmarks"] = [
                {"Type": t, "X": x, "Y": y}
                for t, (x, y) in zip(REKOGNITION_LANDMARK_TYPES, self.landmarks, strict=True)
            ]
        if self.pose is not None:
            out["Pose"] = {"Roll": self.pose.roll, "Yaw": self.pose.yaw, "Pitch": self.pose.pitch}
        if self.quality is not None:
            out["Quality"] = {"Brightness": self.quality.brightness, "Sharpness": self.quality.sharpness}
        return out


@dataclass(order=True, slots=True)
class Candidate:
    """One of a track's best faces: a crop of the frame around it, with the detection in crop coordinates."""

    score: float
    timestamp_ms: int
    crop: RGBImage = field(compare=False)
    detection: Detection = field(compare=False)


@dataclass(slots=True)
class Track:
    """A face followed across frames. ``embedding`` is set only from detections that carried one."""

    id: int
    sightings: list[Sighting] = field(default_factory=list)
    last_box: Box = field(default_factory=lambda: Box(0, 0, 0, 0))
    last_ms: int = 0
    best: list[Candidate] = field(default_factory=list)  # a min-heap on score
    embedding_sum: Vector | None = None
    moved: float = 0.0  # 1 - IoU of the latest step: how much the face just moved

    @property
    def first_ms(self) -> int:
        return self.sightings[0].timestamp_ms

    @property
    def embedding(self) -> Vector | None:
        """Normalised mean of the embeddings its detections carried (``None`` when they carried none)."""
        if self.embedding_sum is None:
            return None
        return (self.embedding_sum / max(float(np.linalg.norm(self.embedding_sum)), 1e-12)).astype(np.float32)


def face_score(face: Face) -> float:
    """How good a face is for recognition, in [0, 1]: detector confidence × size × sharpness × frontality."""
    d = face.detection
    size = min(1.0, min(d.box.width, d.box.height) / 80.0)
    sharp = min(1.0, max(0.05, face.quality.sharpness / 60.0))
    pose = max(0.05, math.cos(math.radians(min(abs(face.pose.yaw), 89.0))))
    pose *= max(0.05, math.cos(math.radians(min(abs(face.pose.pitch), 89.0))))
    return float(d.confidence * size * sharp * pose)


def crop_face(
    image: RGBImage, detection: Detection, margin: float = CROP_MARGIN
) -> tuple[RGBImage, Detection]:
    """A copy of the region around ``detection`` and the detection moved into the crop's coordinates."""
    h, w = image.shape[:2]
    b = detection.box
    pad = margin * max(b.width, b.height)
    x0, y0 = max(0, int(b.left - pad)), max(0, int(b.top - pad))
    x1, y1 = min(w, math.ceil(b.right + pad)), min(h, math.ceil(b.bottom + pad))
    crop = np.ascontiguousarray(image[y0:y1, x0:x1]).copy()
    moved = Detection(
        box=Box(b.left - x0, b.top - y0, b.right - x0, b.bottom - y0),
        confidence=detection.confidence,
        landmarks=np.asarray(detection.landmarks, dtype=np.float32) - np.array([x0, y0], dtype=np.float32),
    )
    return crop, moved


class Tracker:
    """Feed it the faces of each sampled frame in time order with :meth:`update`; collect ended tracks."""

    def __init__(
        self,
        *,
        max_gap_ms: int = 1000,
        keep_best: int = 3,
        max_shift: float = 1.0,
        max_size_ratio: float = 2.0,
        min_link_cosine: float = 0.85,
    ) -> None:
        self.max_gap_ms = max_gap_ms
        self.keep_best = keep_best
        self.max_shift = max_shift
        self.max_size_ratio = max_size_ratio
        self.min_link_cosine = min_link_cosine
        self.live: list[Track] = []
        self._next_id = 0

    def update(
        self, timestamp_ms: int, image: RGBImage, faces: Sequence[Face]
    ) -> tuple[list[Track], list[Track]]:
        """Link ``faces`` (seen at ``timestamp_ms`` in ``image``) to live tracks.

        Returns ``(new, ended)``: tracks started by this frame, and tracks that ended (not seen for longer
        than ``max_gap_ms``), which the caller now owns.
        """
        h, w = image.shape[:2]
        pairs: list[tuple[float, int, int]] = []
        for ti, track in enumerate(self.live):
            for fi, face in enumerate(faces):
                a = self._affinity(track, face)
                if a is not None:
                    pairs.append((a, ti, fi))
        pairs.sort(reverse=True)
        used_t: set[int] = set()
        used_f: set[int] = set()
        new: list[Track] = []
        for _, ti, fi in pairs:
            if ti in used_t or fi in used_f:
                continue
            used_t.add(ti)
            used_f.add(fi)
            self._extend(self.live[ti], timestamp_ms, image, faces[fi], w, h)
        for fi, face in enumerate(faces):
            if fi not in used_f:
                track = Track(id=self._next_id, moved=1.0)
                self._next_id += 1
                self._extend(track, timestamp_ms, image, face, w, h)
                self.live.append(track)
                new.append(track)
        ended = [t for t in self.live if timestamp_ms - t.last_ms > self.max_gap_ms]
        self.live = [t for t in self.live if timestamp_ms - t.last_ms <= self.max_gap_ms]
        return new, ended

    def finish(self) -> list[Track]:
        """End every live track (the video is over)."""
        ended, self.live = self.live, []
        return ended

    def _affinity(self, track: Track, face: Face) -> float | None:
        a, b = track.last_box, face.detection.box
        side_a, side_b = math.sqrt(max(a.area, 1e-6)), math.sqrt(max(b.area, 1e-6))
        if max(side_a, side_b) / min(side_a, side_b) > self.max_size_ratio:
            return None
        dx = (a.left + a.right - b.left - b.right) / 2.0
        dy = (a.top + a.bottom - b.top - b.bottom) / 2.0
        shift = math.hypot(dx, dy) / max(side_a, side_b)
        if shift > self.max_shift:
            return None
        score = a.iou(b) + (1.0 - shift / self.max_shift)
        mean = track.embedding
        if mean is not None and face.embedding is not None:
            cosine = float(np.dot(mean, face.embedding))
            if cosine < self.min_link_cosine:
                return None
            score += cosine
        return score

    def _extend(self, track: Track, ms: int, image: RGBImage, face: Face, w: int, h: int) -> None:
        box = face.detection.box
        if track.sightings:
            track.moved = 1.0 - track.last_box.iou(box)
        track.sightings.append(Sighting.of(ms, face, w, h))
        track.last_box = box
        track.last_ms = ms
        if face.embedding is not None:
            e = np.asarray(face.embedding, dtype=np.float32)
            track.embedding_sum = e.copy() if track.embedding_sum is None else track.embedding_sum + e
        score = face_score(face)
        if self.keep_best <= 0:
            return
        if len(track.best) < self.keep_best:
            crop, det = crop_face(image, face.detection)
            heapq.heappush(track.best, Candidate(score, ms, crop, det))
        elif score > track.best[0].score:
            crop, det = crop_face(image, face.detection)
            heapq.heapreplace(track.best, Candidate(score, ms, crop, det))
