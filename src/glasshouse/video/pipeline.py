"""Faces in a video: sample frames adaptively, detect, track, embed each track's best faces, search.

Adaptive sampling (``adaptive=True``). Every frame is decoded (cheap: well under 1 ms at 640x360) and a
32x18 luma thumbnail of it compared with the previous frame's, but the detector (the dominant cost) runs only
on *sampled* frames. The next sample is due after an interval set by what the last sample saw:

* ``dense_fps`` (default 1.5 × ``sample_fps``) when faces just appeared or moved (a track started, or a box's
  IoU with its previous position fell below ``moved_iou`` = 0.3): when start times and links are least sure;
* ``sample_fps`` (default 5) while faces are on screen and steady;
* ``idle_fps`` (default 2) when the last sample had no face;
* at once, on a scene cut (mean absolute thumbnail change ≥ ``scene_cut`` grey levels between consecutive
  frames), whatever the interval, but never twice within a dense interval.

Whatever the sampling, a scene cut ends every live track: positions say nothing across a cut. Tracks of one
person in different shots are joined afterwards by embedding (``merge_similarity``).

With ``adaptive=False`` frames are sampled at ``sample_fps`` exactly. Only each track's
``max_embeddings_per_track`` best faces are embedded (see :mod:`glasshouse.video.track`). Memory is bounded by
the faces on screen: one decoded frame, the live tracks' few face crops, and the per-track timestamps.

Timestamps are the frames' presentation times in ms from the start of the video (see
:mod:`glasshouse.video.decode`). These are pure engine calls: whoever calls them applies the policy gate.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from glasshouse.engine.pipeline import FaceEngine
from glasshouse.engine.similarity import CALIBRATION, Calibration
from glasshouse.engine.types import Box, Detection, RGBImage
from glasshouse.video.decode import Frame, VideoMetadata, VideoReader, VideoSource
from glasshouse.video.track import NormBox, Sighting, Track, Tracker

Vector = npt.NDArray[np.float32]
DEFAULT_THRESHOLD = 80.0


@dataclass(frozen=True, slots=True)
class Sampling:
    """When to run the detector (see the module doc)."""

    sample_fps: float = 5.0
    adaptive: bool = True
    dense_fps: float | None = None  # default 1.5 × sample_fps
    idle_fps: float = 2.0
    scene_cut: float = 15.0
    moved_iou: float = 0.3

    def interval_ms(self, state: str) -> float:
        if not self.adaptive or state == "base":
            return 1000.0 / self.sample_fps
        if state == "dense":
            return 1000.0 / (self.dense_fps or 1.5 * self.sample_fps)
        return 1000.0 / min(self.idle_fps, self.sample_fps)


@dataclass(frozen=True, slots=True)
class VideoTrack:
    """One tracked person. ``sightings`` are in time order; ``embedding`` is the L2-normalised mean of the
    embeddings of the faces at ``embedded_ms`` (``None`` if none could be embedded); ``quality`` is the best
    :func:`~glasshouse.video.track.face_score` among them (0–1)."""

    index: int
    sightings: list[Sighting]
    embedding: Vector | None
    embedded_ms: list[int]
    quality: float

    @property
    def timestamps_ms(self) -> list[int]:
        return [s.timestamp_ms for s in self.sightings]

    @property
    def start_ms(self) -> int:
        return self.sightings[0].timestamp_ms

    @property
    def end_ms(self) -> int:
        return self.sightings[-1].timestamp_ms


@dataclass(slots=True)
class VideoStats:
    """What the analysis cost: frames decoded and sampled, faces detected and embedded, seconds per stage."""

    frames_decoded: int = 0
    frames_sampled: int = 0
    detections: int = 0
    faces_embedded: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds


@dataclass(frozen=True, slots=True)
class VideoAnalysis:
    metadata: VideoMetadata
    tracks: list[VideoTrack]
    stats: VideoStats
    #: Timestamps of the first frame of each new shot (``None`` where not recorded).
    cuts_ms: list[float] | None = None


#: Hears every decoded frame: its timestamp, whether it starts a new shot, and the live tracks after tracking
#: when it was sampled (``None`` when it was not). Sightings are only ever appended to a track.
FrameObserver = Callable[[float, bool, Sequence[Track] | None], None]


@dataclass(frozen=True, slots=True)
class _Done:
    """An ended track with its embedding, the timestamps embedded and its best face score."""

    track: Track
    embedding: Vector | None
    embedded_ms: list[int]
    quality: float


@dataclass(frozen=True, slots=True)
class FaceMatch:
    face_id: str
    similarity: float


@dataclass(frozen=True, slots=True)
class PersonMatch:
    """Rekognition's ``PersonMatch``: a tracked person at one timestamp and the collection faces it matches."""

    timestamp_ms: int
    index: int
    box: NormBox
    confidence: float
    matches: list[FaceMatch]
    sighting: Sighting | None = None  # the face as seen at this timestamp (landmarks, pose, quality)


def analyse_video(
    engine: FaceEngine,
    source: VideoSource,
    *,
    sample_fps: float = 5.0,
    adaptive: bool = True,
    max_embeddings_per_track: int = 3,
    max_gap_ms: int = 1000,
    merge_similarity: float | None = 90.0,
    merge_quality: float = 0.1,
    detect_max_side: int | None = None,
    sampling: Sampling | None = None,
    on_progress: Callable[[float], None] | None = None,
    on_frame: FrameObserver | None = None,
) -> VideoAnalysis:
    """Track every face in ``source`` and embed each track's best faces.

    ``on_progress(fraction)`` hears, frame by frame, how much of the video's duration has been read (0–1);
    ``on_frame`` what was found so far (see :data:`FrameObserver`; redaction covers faces while this runs).

    ``merge_similarity``: tracks that never overlap in time and whose embeddings are at least this similar
    are one person (e.g. across a scene cut) and share an index; ``None`` keeps every track apart. Only
    tracks whose best face scores at least ``merge_quality`` are merged: the embeddings of dark, blurred faces
    crowd together (measured: unrelated blurred audience faces at similarity 95–100 to each other).
    ``detect_max_side`` downsizes frames for the detector only (faster on HD video; boxes are mapped back).
    Raises :class:`~glasshouse.video.decode.InvalidVideoError` for unusable video.
    """
    policy = sampling or Sampling(sample_fps=sample_fps, adaptive=adaptive)
    reader = VideoReader(source)
    stats = VideoStats()
    tracker = Tracker(max_gap_ms=max_gap_ms, keep_best=max_embeddings_per_track)
    done: list[_Done] = []
    last_sample = -np.inf
    last_cut = -np.inf
    prev_thumb: npt.NDArray[np.int16] | None = None
    pending_cut = False
    state = "base"
    half_frame = 500.0 / (reader.metadata.frame_rate or 30.0)
    t_decode = time.perf_counter()
    first_ms: float | None = None
    cuts: list[float] = []
    for frame in reader.frames():
        stats.frames_decoded += 1
        ms = frame.timestamp_ms
        if on_progress is not None:
            first_ms = ms if first_ms is None else first_ms
            if reader.metadata.duration_ms > 0:
                on_progress(min(1.0, max(0.0, (ms - first_ms) / reader.metadata.duration_ms)))
        thumb = frame.thumbnail().astype(np.int16)
        cut = prev_thumb is not None and float(np.abs(thumb - prev_thumb).mean()) >= policy.scene_cut
        prev_thumb = thumb
        if cut:
            cuts.append(ms)
        pending_cut = pending_cut or cut
        due = ms - last_sample >= policy.interval_ms(state) - half_frame
        early = policy.adaptive and pending_cut and ms - last_cut >= policy.interval_ms("dense") - half_frame
        if not (due or early):
            if on_frame is not None:
                on_frame(ms, cut, None)
            continue
        stats.add("decode", time.perf_counter() - t_decode)
        if pending_cut:  # a new shot: nobody carries over by position (same people re-join by embedding)
            last_cut, pending_cut = ms, False
            t = time.perf_counter()
            done.extend(_embed_tracks(engine, tracker.finish(), stats))
            stats.add("embed", time.perf_counter() - t)
        last_sample = ms
        state = _sample(engine, frame, tracker, done, stats, policy, detect_max_side)
        if on_frame is not None:
            on_frame(ms, cut, tracker.live)
        t_decode = time.perf_counter()
    stats.add("decode", time.perf_counter() - t_decode)
    t = time.perf_counter()
    done.extend(_embed_tracks(engine, tracker.finish(), stats))
    stats.add("embed", time.perf_counter() - t)
    tracks = _finalise(done, merge_similarity, merge_quality, engine.calibration)
    return VideoAnalysis(metadata=reader.metadata, tracks=tracks, stats=stats, cuts_ms=cuts)


def _sample(
    engine: FaceEngine,
    frame: Frame,
    tracker: Tracker,
    done: list[_Done],
    stats: VideoStats,
    policy: Sampling,
    detect_max_side: int | None,
) -> str:
    """Detect, describe and track one sampled frame; embed tracks that ended. Returns the next state."""
    a = time.perf_counter()
    image = frame.rgb()
    b = time.perf_counter()
    detections = detect_scaled(engine, image, detect_max_side)
    c = time.perf_counter()
    faces = engine.describe(image, detections)
    new, ended = tracker.update(round(frame.timestamp_ms), image, faces)
    d = time.perf_counter()
    done.extend(_embed_tracks(engine, ended, stats))
    e = time.perf_counter()
    stats.frames_sampled += 1
    stats.detections += len(detections)
    for stage, secs in (("convert", b - a), ("detect", c - b), ("track", d - c), ("embed", e - d)):
        stats.add(stage, secs)
    if not faces:
        return "idle"
    now = round(frame.timestamp_ms)
    moving = any(t.moved > 1.0 - policy.moved_iou for t in tracker.live if t.last_ms == now)
    return "dense" if new or moving else "base"


def detect_scaled(engine: FaceEngine, image: RGBImage, max_side: int | None) -> list[Detection]:
    """``engine.detect`` on ``image`` shrunk to ``max_side`` (if larger), with results in ``image``'s pixels."""
    h, w = image.shape[:2]
    if max_side is None or max(h, w) <= max_side:
        return engine.detect(image)
    s = max_side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    small: RGBImage = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    sx, sy = w / small.shape[1], h / small.shape[0]
    scale = np.array([sx, sy], dtype=np.float32)
    return [
        Detection(
            Box(d.box.left * sx, d.box.top * sy, d.box.right * sx, d.box.bottom * sy),
            d.confidence,
            (np.asarray(d.landmarks, dtype=np.float32) * scale).astype(np.float32),
        )
        for d in engine.detect(small)
    ]


def _embed_tracks(engine: FaceEngine, tracks: Sequence[Track], stats: VideoStats) -> list[_Done]:
    """Embed the kept crops of ``tracks`` in one batch; free the crops. Returns (track, mean embedding, ms)."""
    chips = []
    owners: list[int] = []
    for i, track in enumerate(tracks):
        for cand in track.best:
            chips.append(engine.align(cand.crop, [cand.detection]))
            owners.append(i)
    vectors = engine.embed_chips(np.concatenate(chips)) if chips else np.zeros((0, 128), np.float32)
    stats.faces_embedded += len(vectors)
    out: list[_Done] = []
    for i, track in enumerate(tracks):
        mine = vectors[[j for j, o in enumerate(owners) if o == i]]
        embedded = sorted(c.timestamp_ms for c in track.best)
        quality = max((c.score for c in track.best), default=0.0)
        track.best = []
        out.append(_Done(track, normalise(mine.sum(axis=0)) if len(mine) else None, embedded, quality))
    return out


def normalise(v: npt.NDArray[np.floating]) -> Vector:
    return np.asarray(v / max(float(np.linalg.norm(v)), 1e-12), dtype=np.float32)


def _finalise(
    done: list[_Done], merge_similarity: float | None, merge_quality: float, calibration: Calibration
) -> list[VideoTrack]:
    """Merge tracks of one person (never overlapping in time, similar enough, each with a face good enough to
    trust its embedding), then index them by first appearance."""
    min_cos = calibration.cosine(merge_similarity) if merge_similarity is not None else None
    groups: list[list[_Done]] = []
    for item in sorted(done, key=lambda d: d.track.first_ms):
        best, best_cos = -1, -2.0
        if min_cos is not None and item.embedding is not None and item.quality >= merge_quality:
            for g, group in enumerate(groups):
                head = group[0]
                if head.embedding is None or head.quality < merge_quality or _overlaps(group, item.track):
                    continue
                cos = float(np.dot(_mean(group), item.embedding))
                if cos >= min_cos and cos > best_cos:
                    best, best_cos = g, cos
        if best < 0:
            groups.append([item])
        else:
            groups[best].append(item)
    out = []
    for index, group in enumerate(groups):
        sightings = sorted((s for d in group for s in d.track.sightings), key=lambda s: s.timestamp_ms)
        embedded = sorted(ms for d in group for ms in d.embedded_ms)
        embedding = _mean(group) if group[0].embedding is not None else None
        out.append(VideoTrack(index, sightings, embedding, embedded, max(d.quality for d in group)))
    return out


def _mean(group: list[_Done]) -> Vector:
    """Normalised mean of a group's embeddings, each weighted by how many faces it averages."""
    total = sum(d.embedding * len(d.embedded_ms) for d in group if d.embedding is not None)
    return normalise(np.asarray(total, dtype=np.float32))


def _overlaps(group: list[_Done], track: Track) -> bool:
    return any(d.track.first_ms <= track.last_ms and track.first_ms <= d.track.last_ms for d in group)


DEFAULT_CALIBRATION = Calibration(CALIBRATION)


def search_tracks(
    tracks: Sequence[VideoTrack],
    vectors: npt.NDArray[np.float32],
    ids: Sequence[str],
    threshold: float = DEFAULT_THRESHOLD,
    *,
    max_faces: int = 100,
    include_unmatched: bool = False,
    calibration: Calibration | None = None,
) -> list[PersonMatch]:
    """Match each track against a collection's ``vectors`` (rows of L2-normalised embeddings named ``ids``).

    A track matches the faces whose similarity to its embedding is at least ``threshold`` (best first, at most
    ``max_faces``); the result has one :class:`PersonMatch` for every timestamp at which a matched track is
    visible (Rekognition's ``GetFaceSearch`` ``Persons``), sorted by timestamp then index. ``calibration``
    is the collection's model's similarity scale (default: the built-in model's).
    """
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.size == 0:
        matrix = matrix.reshape(0, 128)
    if len(ids) != len(matrix):
        raise ValueError(f"{len(ids)} ids for {len(matrix)} vectors")
    out: list[PersonMatch] = []
    for track in tracks:
        matches: list[FaceMatch] = []
        if track.embedding is not None and len(matrix):
            sims = (calibration or DEFAULT_CALIBRATION).similarity(matrix @ track.embedding)
            order = np.argsort(-sims, kind="stable")[:max_faces]
            matches = [FaceMatch(ids[i], round(float(sims[i]), 4)) for i in order if sims[i] >= threshold]
        if not matches and not include_unmatched:
            continue
        out.extend(
            PersonMatch(s.timestamp_ms, track.index, s.box, s.confidence, matches, s) for s in track.sightings
        )
    out.sort(key=lambda m: (m.timestamp_ms, m.index))
    return out
