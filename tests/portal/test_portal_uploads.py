"""Clip uploads: a real video is accepted with its hash and decoded duration; anything else is refused with a
clear message and leaves no file in the media store or spool and no row in any table."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from glasshouse.media.service import MediaTooLargeError
from glasshouse.video.decode import InvalidVideoError
from portal.conftest import HOME, PortalWorld, make_video


def _nothing_left(world: PortalWorld) -> None:
    assert world.stored_files() == []
    assert world.clip_rows() == 0 and world.media_rows() == 0
    assert world.audit("portal.clip_upload") == [] and world.audit("media.upload") == []


def test_real_clip_and_synthetic_webm_are_accepted(world: PortalWorld, hamilton_clip: Path) -> None:
    _, headers = world.owner("alice")
    camera = world.camera(headers, *HOME)
    started = world.clock.now - timedelta(hours=1)
    data = hamilton_clip.read_bytes()
    r = world.upload(headers, camera, data, started, filename="C:\\Users\\alice\\hamilton.mp4")
    assert r.status_code == 201, r.text
    clip = r.json()
    assert clip["sha256"] == hashlib.sha256(data).hexdigest() and clip["size"] == len(data)
    assert clip["filename"] == "hamilton.mp4" and clip["content_type"] == "video/mp4"
    assert clip["duration_seconds"] == pytest.approx(9.18, abs=0.05)
    assert clip["started_at"] == started.isoformat()
    played = world.client.get(f"/v1/portal/clips/{clip['id']}", headers=headers)
    assert played.content == data and played.headers["x-sha256"] == clip["sha256"]

    webm = world.upload(headers, camera, make_video(1.5, fmt="webm"), started, filename="door.webm")
    assert webm.status_code == 201, webm.text
    assert webm.json()["content_type"] == "video/webm"
    assert webm.json()["duration_seconds"] == pytest.approx(1.5, abs=0.15)
    assert {c["id"] for c in world.client.get("/v1/portal/clips", headers=headers).json()["clips"]} == {
        clip["id"],
        webm.json()["id"],
    }
    [entry, _] = world.audit("portal.clip_upload")
    assert entry.details["sha256"] == clip["sha256"] and "bytes" not in str(entry.details)

    assert world.client.delete(f"/v1/portal/clips/{clip['id']}", headers=headers).status_code == 204
    assert world.client.get(f"/v1/portal/clips/{clip['id']}", headers=headers).status_code == 404
    assert len(world.stored_files()) == 1 and world.clip_rows() == 1 and world.media_rows() == 1


def _bad_uploads(hamilton: bytes, jpeg: bytes) -> dict[str, tuple[bytes, str]]:
    return {
        "empty": (b"", "empty"),
        "jpeg renamed .mp4": (jpeg, "JPEG"),
        "text": (b"this is not a video at all\n" * 50, ""),
        "truncated": (hamilton[: len(hamilton) // 2], "truncated"),
        # The index intact, the frame data overwritten with noise: it opens but does not decode.
        "corrupt": (hamilton[:48] + bytes(range(256)) * 40 + hamilton[48 + 256 * 40 :], ""),
    }


def test_bad_uploads_are_refused_and_leave_nothing(
    world: PortalWorld, shared_data: Path, hamilton_clip: Path
) -> None:
    _, headers = world.owner("alice")
    camera = world.camera(headers, *HOME)
    jpeg = (shared_data / "face_recognition/examples/obama.jpg").read_bytes()
    for case, (data, words) in _bad_uploads(hamilton_clip.read_bytes(), jpeg).items():
        r = world.upload(headers, camera, data, world.clock.now - timedelta(hours=1))
        assert r.status_code == 400, (case, r.text)
        error = r.json()["error"]
        assert error["code"] == "InvalidVideo", (case, error)
        assert words.lower() in error["message"].lower(), (case, error)
        _nothing_left(world)


def test_avi_and_oversized_uploads_are_refused(world: PortalWorld, tmp_path: Path) -> None:
    from video.helpers import pattern, write_video

    _, headers = world.owner("alice")
    camera = world.camera(headers, *HOME)
    avi = write_video(tmp_path / "v.avi", [pattern(64, 48, i) for i in range(10)]).read_bytes()
    r = world.upload(headers, camera, avi, world.clock.now - timedelta(hours=1), filename="v.avi")
    assert r.status_code == 400 and "MP4, MOV or WebM" in r.json()["error"]["message"]
    world.svc.portal.max_clip_bytes = 1000
    r = world.upload(headers, camera, make_video(), world.clock.now - timedelta(hours=1))
    assert r.status_code == 413 and r.json()["error"]["code"] == "MediaTooLarge"
    with pytest.raises(MediaTooLargeError):  # no Content-Length: the limit applies while streaming
        owner = world.owners["alice@example.org"]
        world.svc.portal.upload_clip(
            owner, camera, "x.mp4", None, iter([make_video()[:800], b"\0" * 800]), world.clock.now
        )
    _nothing_left(world)


def test_an_upload_interrupted_mid_stream_leaves_nothing(world: PortalWorld, hamilton_clip: Path) -> None:
    owner, headers = world.owner("alice")
    camera = world.camera(headers, *HOME)
    data = hamilton_clip.read_bytes()

    class ConnectionLost(Exception):
        pass

    def chunks() -> Iterator[bytes]:
        yield data[:65536]
        yield data[65536:131072]
        raise ConnectionLost("client went away")

    with pytest.raises(ConnectionLost):
        world.svc.portal.upload_clip(owner, camera, "a.mp4", "video/mp4", chunks(), world.clock.now)
    _nothing_left(world)
    # The same over HTTP: a body shorter than its Content-Length.
    r = world.client.post(
        "/v1/portal/clips",
        params={"camera_id": camera, "started_at": world.clock.now.isoformat()},
        content=iter([data[:100_000]]),
        headers={**headers, "Content-Length": str(len(data))},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "IncompleteBody", r.text
    _nothing_left(world)


def test_upload_checks_camera_and_start_time(world: PortalWorld) -> None:
    owner, headers = world.owner("alice")
    _, bob = world.owner("bob")
    bobs_camera = world.camera(bob, *HOME)
    r = world.upload(headers, bobs_camera, make_video(), world.clock.now)
    assert r.status_code == 404
    camera = world.camera(headers, *HOME)
    r = world.upload(headers, camera, make_video(), world.clock.now + timedelta(hours=1))
    assert r.status_code == 400 and "future" in r.json()["error"]["message"]
    with pytest.raises(InvalidVideoError):
        world.svc.portal.upload_clip(owner, camera, "a.mp4", None, iter([b"\x00" * 10]), world.clock.now)
    _nothing_left(world)
