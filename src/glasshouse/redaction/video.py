"""Redact a video in two streamed passes: find and track every face (:func:`analyse_video`, as a face
detection job does, so track indexes are the jobs' ``Person.Index``), then decode → cover → encode frame by
frame while the audio packets are copied unchanged.

Memory does not grow with the clip's length: pass 1 keeps a few boxes per sampled frame, pass 2 one frame.
The copy keeps the container and, where an encoder for it is available, the codec (H.264 in MP4 stays H.264
in MP4), the frames' presentation times, the frame size and the rotation flag. Streams other than the first
video and first audio stream (subtitles, data) and the container's metadata tags (creation time, location)
are not copied: a copy for release should not carry where it was filmed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import av
import numpy as np
import numpy.typing as npt

from glasshouse.engine.pipeline import FaceEngine
from glasshouse.errors import InvalidParameterError
from glasshouse.redaction.cover import cover, cover_yuv420
from glasshouse.redaction.record import RedactionRecord, RedactionSettings, engine_version, sha256_file
from glasshouse.redaction.timeline import GrowingTimeline, Timeline
from glasshouse.video.decode import InvalidVideoError, VideoReader, apply_rotation
from glasshouse.video.pipeline import FrameObserver, Sampling, VideoAnalysis, analyse_video
from glasshouse.video.track import NormBox, Track

#: Called with (stage, done, total): stage "analyse" (total None) then "redact" (frames; total may be None).
Progress = Callable[[str, int, int | None], None]


class Boxes(Protocol):
    """Where to cover at a timestamp: a :class:`Timeline`, or one still being filled."""

    def boxes_at(self, ms: float) -> list[NormBox]: ...


#: Container (VideoMetadata.format) → the muxer that writes it.
MUXERS = {"MP4": "mp4", "WebM": "webm", "AVI": "avi"}
#: Decoder name → encoders to try, best first; the first available is used.
ENCODERS: dict[str, tuple[str, ...]] = {
    "h264": ("libx264",),
    "hevc": ("libx265", "libx264"),
    "vp8": ("libvpx",),
    "vp9": ("libvpx-vp9", "libvpx"),
    "mpeg4": ("mpeg4",),
}
#: Pixel formats covered in their own planes (:func:`~glasshouse.redaction.cover.cover_yuv420`).
PLANAR_420 = frozenset({"yuv420p", "yuvj420p"})
FULL_RANGE = 2  # AVCOL_RANGE_JPEG
FALLBACK = {"MP4": ("libx264", "mpeg4"), "WebM": ("libvpx-vp9", "libvpx"), "AVI": ("mpeg4",)}
#: Visually transparent settings, so the copy loses nothing but the faces.
ENCODER_OPTIONS: dict[str, dict[str, str]] = {
    "libx264": {"preset": "veryfast", "crf": "18"},
    "libx265": {"preset": "veryfast", "crf": "20"},
    "libvpx": {"crf": "10", "b": "4M", "deadline": "realtime", "cpu-used": "8"},
    "libvpx-vp9": {"crf": "24", "b": "0", "deadline": "realtime", "cpu-used": "8"},
    "mpeg4": {"qscale": "2"},
}


def choose_encoder(container: str, codec: str) -> str:
    """The encoder for a copy of a ``codec`` stream in ``container``: the same codec where possible."""
    for name in (*ENCODERS.get(codec, ()), *FALLBACK[container]):
        if name in av.codecs_available:
            return name
    raise InvalidVideoError(f"no encoder available to write a redacted {container} copy")


def redact_video(
    engine: FaceEngine,
    source: Path,
    out: Path,
    settings: RedactionSettings,
    *,
    progress: Progress | None = None,
    analysis: VideoAnalysis | None = None,
) -> RedactionRecord:
    """Write ``source`` with every face not kept covered to ``out``, in the same container.

    ``analysis``: pass 1's result if the caller already has it (it must be of this file, with the defaults).
    Raises :class:`InvalidVideoError` for unusable video, :class:`InvalidParameterError` for a kept index
    that is not a person in it.
    """
    reader = VideoReader(source)  # validates, before anything is written
    meta = reader.metadata
    muxer = MUXERS.get(meta.format)
    if muxer is None:
        raise InvalidVideoError(f"cannot write a redacted {meta.format} copy")
    encoder = choose_encoder(meta.format, meta.codec)
    if progress:
        progress("analyse", 0, None)
    if analysis is None and not settings.keep_persons:
        # Nobody to tell apart: faces are covered while pass 1 is still finding them, on the other core.
        look = _Lookahead(settings)
        worker = threading.Thread(target=look.run, args=(engine, source), name="redaction-pass-1")
        worker.start()
        try:
            counts = _transcode(source, out, muxer, encoder, look, settings, meta.frame_count, progress)
        finally:
            look.cancel()
            worker.join()
        analysis, cuts = look.result(), [float(c) for c in look.timeline.cuts]
    else:
        analysis = analysis or _analyse(engine, source, settings)
        unknown = sorted(settings.keep_persons - {t.index for t in analysis.tracks})
        if unknown:
            persons = sorted(t.index for t in analysis.tracks)
            raise InvalidParameterError(
                f"no person {unknown} in the video: its persons are {persons or 'none'}"
            )
        cuts = analysis.cuts_ms if analysis.cuts_ms is not None else scene_cuts(reader)
        timeline = Timeline(analysis.tracks, settings.keep_persons, hold_ms=settings.hold_ms, cuts=cuts)
        counts = _transcode(source, out, muxer, encoder, timeline, settings, meta.frame_count, progress)
    indexes = {t.index for t in analysis.tracks}
    return RedactionRecord(
        kind="video",
        original_sha256=sha256_file(source),
        output_sha256=sha256_file(out),
        original_bytes=source.stat().st_size,
        output_bytes=out.stat().st_size,
        settings=settings,
        engine=engine_version(engine.options.detection_threshold),
        media={
            "format": meta.format,
            "codec_in": meta.codec,
            "encoder": encoder,
            "encoder_options": ENCODER_OPTIONS.get(encoder, {}),
            "frames": counts["frames"],
            "duration_ms": meta.duration_ms,
            "audio": counts["audio"],
            "metadata": "stripped",
        },
        faces={
            "persons": len(analysis.tracks),
            "covered": sorted(indexes - settings.keep_persons),
            "kept": sorted(settings.keep_persons),
            "frames_with_faces_covered": counts["covered_frames"],
            "boxes_covered": counts["boxes"],
            "scene_cuts_ms": [round(c) for c in cuts],
        },
    )


def scene_cuts(reader: VideoReader, threshold: float = Sampling().scene_cut) -> list[float]:
    """Timestamps of the first frame of each new shot, by the pipeline's rule (mean absolute change of the
    luma thumbnail between consecutive frames). A decode-only pass: a few percent of the whole."""
    cuts: list[float] = []
    prev: npt.NDArray[np.int16] | None = None
    for frame in reader.frames():
        thumb = frame.thumbnail().astype(np.int16)
        if prev is not None and float(np.abs(thumb - prev).mean()) >= threshold:
            cuts.append(frame.timestamp_ms)
        prev = thumb
    return cuts


def _analyse(
    engine: FaceEngine, source: Path, settings: RedactionSettings, on_frame: FrameObserver | None = None
) -> VideoAnalysis:
    """Pass 1. Kept persons are named by a job's indexes, so then it is analysed exactly as a job does;
    otherwise nobody needs telling apart and the embeddings (about a fifth of the time) are skipped: the
    sightings, hence the boxes covered, are the same either way."""
    if settings.keep_persons:
        return analyse_video(engine, source)
    # Nobody kept: no index to match a job's, so every detector pass runs on every sampled frame.
    return analyse_video(
        engine.exhaustive, source, max_embeddings_per_track=0, merge_similarity=None, on_frame=on_frame
    )


class _Cancelled(Exception):
    """Pass 2 stopped: pass 1 has nobody left to tell."""


class _Lookahead:
    """Pass 1 in a thread feeding a :class:`GrowingTimeline`; :meth:`boxes_at` waits until pass 1 has read
    far enough past the frame for its boxes to be final. Pass 2 thus trails pass 1 by about a second of
    video and the two overlap (the detector and the encoder each keep a core busy); nothing is buffered."""

    def __init__(self, settings: RedactionSettings) -> None:
        self.settings = settings
        self.timeline = GrowingTimeline(hold_ms=settings.hold_ms)
        self._cond = threading.Condition()
        self._finished = self._cancelled = False
        self._error: BaseException | None = None
        self._analysis: VideoAnalysis | None = None

    def run(self, engine: FaceEngine, source: Path) -> None:
        try:
            self._analysis = _analyse(engine, source, self.settings, on_frame=self._frame)
        except _Cancelled:
            pass
        except BaseException as exc:  # handed to pass 2's thread, which raises it
            self._error = exc
        finally:
            with self._cond:
                self._finished = True
                self._cond.notify_all()

    def _frame(self, ms: float, cut: bool, live: Sequence[Track] | None) -> None:
        with self._cond:
            if self._cancelled:
                raise _Cancelled
            self.timeline.frame(ms, cut, live)
            self._cond.notify_all()

    def boxes_at(self, ms: float) -> list[NormBox]:
        lead = self.timeline.lead_ms
        with self._cond:
            self._cond.wait_for(lambda: self._finished or self.timeline.read_ms >= ms + lead)
            if self._error is not None:
                raise self._error
            return self.timeline.boxes_at(ms)

    def cancel(self) -> None:
        with self._cond:
            self._cancelled = True

    def result(self) -> VideoAnalysis:
        if self._error is not None:
            raise self._error
        assert self._analysis is not None, "pass 1 ended without a result"
        return self._analysis


def _transcode(
    source: Path,
    out: Path,
    muxer: str,
    encoder: str,
    timeline: Boxes,
    settings: RedactionSettings,
    total: int | None,
    progress: Progress | None,
) -> dict[str, Any]:
    counts: dict[str, Any] = {"frames": 0, "covered_frames": 0, "boxes": 0, "audio": None}
    try:
        with av.open(str(source)) as src, av.open(str(out), mode="w", format=muxer) as dst:
            vin = src.streams.video[0]
            vin.thread_type = "AUTO"
            ain = src.streams.audio[0] if src.streams.audio else None
            vout = _video_stream(dst, vin, encoder)
            aout = dst.add_stream_from_template(ain) if ain is not None else None
            if ain is not None:
                counts["audio"] = {"codec": ain.codec_context.name, "copied": True, "packets": 0}
            streams = [vin] if ain is None else [vin, ain]
            origin: float | None = None  # the first frame's time: tracks count from it, as VideoReader does
            for packet in src.demux(streams):
                if packet.stream is vin:
                    for frame in packet.decode():
                        assert isinstance(frame, av.VideoFrame)
                        at = _presented_ms(frame)
                        origin = at if origin is None else origin
                        _redact_frame(frame, at - origin, vout, dst, timeline, settings, counts)
                        if progress:
                            progress("redact", counts["frames"], total)
                elif packet.dts is not None and aout is not None:
                    packet.stream = aout
                    dst.mux(packet)
                    counts["audio"]["packets"] += 1
            for packet in vout.encode(None):
                dst.mux(packet)
    except InvalidVideoError:
        raise
    except (av.error.FFmpegError, ValueError) as exc:
        out.unlink(missing_ok=True)
        raise InvalidVideoError(f"video could not be redacted: {exc}") from exc
    return counts


def _video_stream(dst: Any, vin: Any, encoder: str) -> Any:
    ctx = vin.codec_context
    vout = dst.add_stream(encoder, rate=vin.average_rate or vin.guessed_rate or 30)
    vout.width, vout.height = ctx.width, ctx.height
    vout.pix_fmt = ctx.pix_fmt if ctx.pix_fmt in {"yuv420p", "yuvj420p"} else "yuv420p"
    vout.time_base = vin.time_base
    vout.codec_context.time_base = vin.time_base
    options = dict(ENCODER_OPTIONS.get(encoder, {}))
    if not ctx.has_b_frames:
        options["bf"] = "0"  # no reordering in the original: none in the copy (same decode delay)
    vout.codec_context.options = options
    rotation = vin.side_data.get("DISPLAYMATRIX") if hasattr(vin, "side_data") else None
    if rotation is not None:
        vout.set_display_rotation(rotation)
    return vout


def _presented_ms(frame: av.VideoFrame) -> float:
    tb = frame.time_base
    return float(frame.pts * tb) * 1000.0 if frame.pts is not None and tb is not None else 0.0


def _redact_frame(
    frame: av.VideoFrame,
    ms: float,
    vout: Any,
    dst: Any,
    timeline: Boxes,
    settings: RedactionSettings,
    counts: dict[str, Any],
) -> None:
    boxes = timeline.boxes_at(ms)
    counts["frames"] += 1
    if boxes:
        frame, done = _covered(frame, boxes, vout.pix_fmt, settings)
        counts["boxes"] += done
        counts["covered_frames"] += 1
    frame.pict_type = av.video.frame.PictureType.NONE
    for packet in vout.encode(frame):
        dst.mux(packet)


def _covered(
    frame: av.VideoFrame, boxes: list[NormBox], pix_fmt: str, settings: RedactionSettings
) -> tuple[av.VideoFrame, int]:
    """A copy of ``frame`` in ``pix_fmt`` with ``boxes`` covered, and how many were (the decoded frame itself
    is never written to: the decoder may still refer to it). With nobody kept, an unrotated 4:2:0 frame is
    covered in its own planes, everything outside the boxes left exactly as decoded; otherwise the frame
    goes through upright RGB. Kept persons stay on the RGB path, whose round trip slightly softens the
    uncovered pixels: there only the job's (default) detector decided what to cover, and a profile of the
    kept person it missed (confidence just under the threshold) reaches it in an exact copy (see README)."""
    w, h = frame.width, frame.height
    rotation = int(frame.rotation)
    planar = pix_fmt in PLANAR_420 and frame.format.name == pix_fmt and w % 2 == 0 and h % 2 == 0
    if planar and not rotation and not settings.keep_persons:
        flat = np.asarray(frame.to_ndarray(), dtype=np.uint8).reshape(-1)  # Y rows, then U, then V
        q = w * h // 4
        planes = (
            flat[: w * h].reshape(h, w),
            flat[w * h : w * h + q].reshape(h // 2, w // 2),
            flat[w * h + q :].reshape(h // 2, w // 2),
        )
        full = pix_fmt == "yuvj420p" or frame.color_range == FULL_RANGE
        done = cover_yuv420(planes, boxes, settings.method, settings.padding, full_range=full)
        covered = av.VideoFrame.from_ndarray(flat.reshape(-1, w), format=pix_fmt)
        covered.color_range = frame.color_range
    else:
        rgb = np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
        image = np.ascontiguousarray(apply_rotation(rgb, rotation))
        done = cover(image, boxes, settings.method, settings.padding)
        raw = apply_rotation(image, -rotation)
        covered = av.VideoFrame.from_ndarray(raw, format="rgb24").reformat(format=pix_fmt)
    covered.pts, covered.time_base = frame.pts, frame.time_base
    return covered, done
