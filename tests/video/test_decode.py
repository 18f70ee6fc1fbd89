"""Video decoding: metadata of a real clip, lazy frames, containers, VFR, rotation, and every refusal."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from glasshouse.errors import InvalidInputError
from glasshouse.video.decode import InvalidVideoError, VideoReader, apply_rotation, iter_frames, probe
from video.helpers import pattern, write_audio_only, write_video


@pytest.fixture(scope="module")
def clip(shared_data: Path) -> Path:
    return shared_data / "video" / "hamilton" / "short_hamilton_clip.mp4"


def test_hamilton_metadata_is_the_video_tracks(clip: Path) -> None:
    meta = probe(clip)
    assert (meta.format, meta.codec, meta.width, meta.height, meta.rotation) == ("MP4", "h264", 640, 360, 0)
    assert meta.frame_count == 275
    assert meta.frame_rate == pytest.approx(29.97, abs=0.01)
    assert meta.duration_ms == pytest.approx(9176, abs=5)  # the video track, not the container's 10.02 s
    assert meta.container_duration_ms == pytest.approx(10020, abs=5)
    assert meta.start_ms == 852  # where the stream's own timeline starts; frames are timed from 0
    assert meta.to_rekognition()["DurationMillis"] == meta.duration_ms


def test_frames_are_lazy_timed_by_pts_and_same_from_bytes(clip: Path) -> None:
    stamps = [ms for ms, _ in iter_frames(clip)]
    assert len(stamps) == 275
    assert stamps[0] == 0.0  # relative to the start of the video, not the stream's 852 ms offset
    assert stamps[1] == pytest.approx(33.4, abs=0.5)
    assert all(b > a for a, b in itertools.pairwise(stamps))
    assert stamps[-1] <= probe(clip).duration_ms
    first_ms, first = next(iter_frames(clip.read_bytes()))
    assert first_ms == stamps[0] and first.shape == (360, 640, 3) and first.dtype == np.uint8


@pytest.mark.parametrize(("ext", "fmt"), [("mp4", "MP4"), ("mov", "MP4"), ("webm", "WebM"), ("avi", "AVI")])
def test_supported_containers(tmp_path: Path, ext: str, fmt: str) -> None:
    path = write_video(tmp_path / f"v.{ext}", [pattern(64, 48, 40 * i) for i in range(5)])
    reader = VideoReader(path)
    assert reader.metadata.format == fmt and (reader.metadata.width, reader.metadata.height) == (64, 48)
    frames = list(reader.frames())
    assert [round(f.timestamp_ms) for f in frames] == [0, 40, 80, 120, 160]
    assert frames[0].rgb()[:, :32, 0].mean() > 150 and frames[0].rgb()[:, 32:, 0].mean() < 60


@pytest.mark.parametrize("ext", ["mp4", "webm"])
def test_variable_frame_rate_timestamps_come_from_pts(tmp_path: Path, ext: str) -> None:
    pts = [0, 40, 200, 230, 700]
    path = write_video(tmp_path / f"vfr.{ext}", [pattern(64, 48, 40 * i) for i in range(5)], pts_ms=pts)
    assert [round(ms) for ms, _ in iter_frames(path)] == pts
    assert probe(path).duration_ms == pytest.approx(740, abs=1)


def test_rotation_metadata_is_applied(tmp_path: Path) -> None:
    """A 64x32 frame, bright on the left, stored with a 90° (counter-clockwise) display rotation."""
    path = write_video(tmp_path / "rot.mp4", [pattern(64, 32)] * 3, rotation=90)
    meta = probe(path)
    assert (meta.rotation, meta.width, meta.height) == (90, 32, 64)
    _, frame = next(iter_frames(path))
    assert frame.shape == (64, 32, 3)
    assert (
        frame[40:, :, 0].mean() > 150 and frame[:24, :, 0].mean() < 60
    )  # the bright left half is now at the bottom


def test_apply_rotation_turns_counter_clockwise() -> None:
    image = np.arange(6, dtype=np.uint8).reshape(2, 3, 1)
    assert apply_rotation(image, 0) is image
    np.testing.assert_array_equal(apply_rotation(image, 90)[..., 0], [[2, 5], [1, 4], [0, 3]])
    np.testing.assert_array_equal(apply_rotation(image, -90)[..., 0], [[3, 0], [4, 1], [5, 2]])
    np.testing.assert_array_equal(apply_rotation(image, 180)[..., 0], [[5, 4, 3], [2, 1, 0]])


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pattern(64, 48)).save(buf, "JPEG")
    return buf.getvalue()


def refusal(source: Path | bytes) -> str:
    with pytest.raises(InvalidVideoError) as info:
        reader = VideoReader(source)
        for _ in reader.frames():
            pass
    assert isinstance(info.value, InvalidInputError) and info.value.code == "InvalidVideo"
    return info.value.message


def test_zero_length_file(tmp_path: Path) -> None:
    (tmp_path / "empty.mp4").write_bytes(b"")
    assert refusal(tmp_path / "empty.mp4") == "video is empty (0 bytes)"
    assert refusal(b"") == "video is empty (0 bytes)"


def test_missing_file(tmp_path: Path) -> None:
    assert "cannot read video" in refusal(tmp_path / "nope.mp4")


def test_jpeg_renamed_mp4(tmp_path: Path) -> None:
    (tmp_path / "photo.mp4").write_bytes(_jpeg())
    assert refusal(tmp_path / "photo.mp4") == "not a video: the data is a JPEG image"


def test_audio_only(tmp_path: Path) -> None:
    path = write_audio_only(tmp_path / "audio.mp4")
    assert refusal(path) == "no video stream in the file (it has audio)"


def test_random_bytes() -> None:
    assert "not a supported video (MP4, MOV, WebM or AVI), or the data is corrupt" in refusal(
        bytes(range(256)) * 40
    )


def test_truncated_mp4_with_index_at_the_end(clip: Path) -> None:
    data = clip.read_bytes()  # this clip's moov atom comes last, so a cut loses the index
    assert "truncated or corrupt" in refusal(data[: len(data) // 2])


def test_truncated_mp4_with_index_first(tmp_path: Path) -> None:
    data = write_video(
        tmp_path / "fs.mp4", [pattern(64, 48, 5 * i) for i in range(50)], faststart=True
    ).read_bytes()
    assert data[4:8] == b"ftyp" and b"moov" in data[:64]
    message = refusal(data[: len(data) - 100])
    assert message.startswith("video is truncated: the file is") and "index needs" in message


def test_corrupt_header(clip: Path) -> None:
    data = clip.read_bytes()
    assert "truncated or corrupt" in refusal(data[:32] + b"\x00" * 2000 + data[2032:])


def test_corrupt_stream_data(clip: Path) -> None:
    data = bytearray(clip.read_bytes())
    for i in range(40_000, len(data) - 12_000, 500):
        data[i : i + 8] = b"\xff" * 8
    assert refusal(bytes(data)).startswith("video data is corrupt")
