"""MediaService: atomic uploads, the size limit, digests, tenancy, the S3Object mapping and the audit trail."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator

import pytest

from glasshouse.audit.service import AuditFilter
from glasshouse.errors import InvalidParameterError, NotFoundError
from glasshouse.media.service import MediaNotFoundError, MediaTooLargeError
from media.conftest import MediaWorld


class Boom(Exception):
    pass


def failing(data: bytes, fail_after: int) -> Iterator[bytes]:
    yield data[:fail_after]
    raise Boom("upload cut off")


def test_upload_records_size_and_sha256_of_the_bytes(world: MediaWorld) -> None:
    data = os.urandom(2_500_000)
    info = world.svc.media.upload(world.acme, "clips/a.mp4", [data[:7], data[7:]], "video/mp4")
    assert info.size == len(data) and info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.content_type == "video/mp4" and info.source == "upload"
    [stored] = world.stored_files()
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == info.sha256
    assert "clips" not in str(stored) and info.storage_key.startswith(world.acme.org_id + "/")
    got, stream = world.svc.media.open(world.acme.org_id, "clips/a.mp4")
    with stream:
        assert stream.read() == data
    assert got == info == world.svc.media.get(world.acme.org_id, "clips/a.mp4")
    assert world.svc.media.list(world.acme.org_id) == [info]


def test_exception_mid_upload_leaves_no_file_and_no_row(world: MediaWorld) -> None:
    with pytest.raises(Boom):
        world.svc.media.upload(world.acme, "cut.mp4", failing(os.urandom(100_000), 50_000))
    assert world.stored_files() == [] and world.rows() == 0
    with pytest.raises(MediaNotFoundError):
        world.svc.media.get(world.acme.org_id, "cut.mp4")
    assert world.svc.audit.search(AuditFilter(action_prefix="media.")) == []


def test_a_failed_database_write_removes_the_stored_bytes(
    world: MediaWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise Boom("database down")

    monkeypatch.setattr(world.svc.audit, "append", broken)
    with pytest.raises(Boom):
        world.svc.media.upload(world.acme, "x.mp4", [b"data"])
    assert world.stored_files() == [] and world.rows() == 0


def test_size_limit_is_enforced_while_streaming(small_world: MediaWorld) -> None:
    pulled = []

    def chunks() -> Iterator[bytes]:
        for i in range(100):
            pulled.append(i)
            yield b"x" * 300

    with pytest.raises(MediaTooLargeError):
        small_world.svc.media.upload(small_world.acme, "big.bin", chunks())
    assert len(pulled) == 4  # stopped at the chunk that crossed 1000 bytes, not after reading all
    assert small_world.stored_files() == [] and small_world.rows() == 0
    info = small_world.svc.media.upload(small_world.acme, "exact.bin", [b"x" * 1000])
    assert info.size == 1000


def test_replacing_an_object_swaps_the_bytes_and_drops_the_old_ones(world: MediaWorld) -> None:
    world.svc.media.upload(world.acme, "a.bin", [b"first"])
    second = world.svc.media.upload(world.acme, "a.bin", [b"second version"])
    [stored] = world.stored_files()
    assert stored.read_bytes() == b"second version" and second.size == 14
    with pytest.raises(Boom):  # a failed replacement keeps the current object
        world.svc.media.upload(world.acme, "a.bin", failing(b"third", 2))
    assert world.svc.media.get(world.acme.org_id, "a.bin") == second
    assert [p.read_bytes() for p in world.stored_files()] == [b"second version"]


@pytest.mark.parametrize(
    "name", ["", "../x", "/abs", "a//b", "a/./b", "a/../b", "tab\there", "é.mp4", "x" * 1025, 'quote"']
)
def test_bad_names_are_refused(world: MediaWorld, name: str) -> None:
    with pytest.raises(InvalidParameterError):
        world.svc.media.upload(world.acme, name, [b"x"])
    assert world.stored_files() == []


def test_bad_content_type_is_refused(world: MediaWorld) -> None:
    with pytest.raises(InvalidParameterError):
        world.svc.media.upload(world.acme, "a.bin", [b"x"], "not a type\r\nX-Evil: 1")
    assert world.stored_files() == []


def test_another_organisation_sees_nothing(world: MediaWorld) -> None:
    media, acme, other = world.svc.media, world.acme, world.other
    media.upload(acme, "secret.mp4", [b"acme's clip"])
    attempts = {
        "get": lambda: media.get(other.org_id, "secret.mp4"),
        "open": lambda: media.open(other.org_id, "secret.mp4"),
        "delete own org": lambda: media.delete(other, other.org_id, "secret.mp4"),
        "delete acme's": lambda: media.delete(other, acme.org_id, "secret.mp4"),
        "missing": lambda: media.get(acme.org_id, "secret.mp4 (absent)"),
    }
    answers = set()
    for attempt in attempts.values():
        with pytest.raises(MediaNotFoundError) as exc:
            attempt()
        answers.add((exc.value.code, exc.value.message.replace(" (absent)", "")))
    assert answers == {("MediaNotFound", "media object 'secret.mp4' not found")}
    assert media.list(other.org_id) == []
    assert media.get(acme.org_id, "secret.mp4").size == 11  # untouched


def test_resolve_s3_object_maps_the_organisation_bucket_only(world: MediaWorld) -> None:
    media, acme, other = world.svc.media, world.acme, world.other
    info = media.upload(acme, "cam/1.mp4", [b"clip"])
    assert media.resolve_s3_object(acme.org_id, "acme", "cam/1.mp4") == info
    media.upload(other, "mine.mp4", [b"other's clip"])
    answers = []
    for bucket, name in [
        ("other-org", "mine.mp4"),  # another organisation's bucket, an object that exists there
        ("other-org", "cam/1.mp4"),
        ("portal-shared", "cam/1.mp4"),  # not a clip shared with acme (see tests/portal/test_portal_video.py)
        ("ACME", "cam/1.mp4"),  # bucket names are exact
        ("acme", "missing.mp4"),
    ]:
        with pytest.raises(NotFoundError) as exc:
            media.resolve_s3_object(acme.org_id, bucket, name)
        answers.append((type(exc.value), exc.value.code, exc.value.message.replace(name, "<name>")))
    assert len(set(answers)) == 1, answers  # a foreign bucket is indistinguishable from a missing object


def test_delete_removes_row_and_bytes(world: MediaWorld) -> None:
    world.svc.media.upload(world.acme, "gone.mp4", [b"bytes"])
    world.svc.media.delete(world.acme, world.acme.org_id, "gone.mp4")
    assert world.stored_files() == [] and world.rows() == 0
    with pytest.raises(MediaNotFoundError):
        world.svc.media.delete(world.acme, world.acme.org_id, "gone.mp4")


def test_audit_entries_record_metadata_never_content(world: MediaWorld) -> None:
    marker = b"CONTENT-MARKER-" + os.urandom(8).hex().encode()
    data = marker * 100
    info = world.svc.media.upload(world.acme, "clip.mp4", [data], "video/mp4")
    world.svc.media.delete(world.acme, world.acme.org_id, "clip.mp4")
    entries = world.svc.audit.search(AuditFilter(action_prefix="media."))
    assert [e.action for e in entries] == ["media.upload", "media.delete"]
    upload, delete = entries
    assert upload.actor_org_id == world.acme.org_id and upload.actor_key == world.acme.key_id
    assert upload.details == {
        "name": "clip.mp4",
        "size": len(data),
        "sha256": info.sha256,
        "content_type": "video/mp4",
        "source": "upload",
        "replaced": False,
    }
    assert delete.details == {"name": "clip.mp4", "size": len(data), "sha256": info.sha256}
    text = json.dumps([e.to_json() for e in entries])
    assert marker.decode() not in text and info.storage_key not in text
    assert world.svc.audit.verify().ok
