"""Multipart uploads over the media store: parts assemble into one audited object only on completion;
bad part lists change nothing; aborted and stale uploads leave no bytes behind."""

from __future__ import annotations

from datetime import timedelta

import pytest

from glasshouse.config import Settings
from glasshouse.governance.actor import Actor
from glasshouse.media.multipart import (
    MIN_PART_BYTES,
    EntityTooSmallError,
    InvalidPartError,
    InvalidPartOrderError,
    NoSuchUploadError,
    RequestedPart,
)
from glasshouse.media.service import MediaNotFoundError
from glasshouse.services import Services


def _stored_files(settings: Settings) -> list[str]:
    root = settings.media_path
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and ".tmp" not in p.parts)


def test_parts_become_one_object_only_when_completed(settings: Settings) -> None:
    svc = Services(settings)
    org = svc.org_id("studio")
    actor = Actor(org_id=org, org_name="studio", surface="s3-api")
    big, small = b"a" * MIN_PART_BYTES, b"tail"
    upload = svc.multipart.create(actor, "clip.mp4", "video/mp4")
    one = svc.multipart.upload_part(actor, "clip.mp4", upload, 1, iter([big]))
    two = svc.multipart.upload_part(actor, "clip.mp4", upload, 2, iter([small]))
    with pytest.raises(MediaNotFoundError):
        svc.media.get(org, "clip.mp4")  # nothing visible before completion
    bad_lists = {
        InvalidPartOrderError: [RequestedPart(2, two.sha256), RequestedPart(1, one.sha256)],
        InvalidPartError: [RequestedPart(1, one.sha256), RequestedPart(2, "0" * 64)],
        EntityTooSmallError: [RequestedPart(2, two.sha256), RequestedPart(3, two.sha256)],
    }
    svc.multipart.upload_part(actor, "clip.mp4", upload, 3, iter([small]))
    for error, parts in bad_lists.items():
        with pytest.raises(error):
            svc.multipart.complete(actor, "clip.mp4", upload, parts)
    info = svc.multipart.complete(
        actor, "clip.mp4", upload, [RequestedPart(1, one.sha256), RequestedPart(2, two.sha256)]
    )
    _, stream = svc.media.open(org, "clip.mp4")
    with stream:
        assert stream.read() == big + small
    assert info.content_type == "video/mp4"
    assert _stored_files(settings) == [info.storage_key]  # every part's bytes deleted, part 3 included
    with pytest.raises(NoSuchUploadError):
        svc.multipart.complete(actor, "clip.mp4", upload, [RequestedPart(1, one.sha256)])
    svc.close()


def test_aborted_and_stale_uploads_leave_nothing(settings: Settings) -> None:
    svc = Services(settings)
    org = svc.org_id("studio")
    actor = Actor(org_id=org, org_name="studio", surface="s3-api")
    aborted = svc.multipart.create(actor, "a.bin", None)
    svc.multipart.upload_part(actor, "a.bin", aborted, 1, iter([b"x" * 100]))
    stale = svc.multipart.create(actor, "b.bin", None)
    svc.multipart.upload_part(actor, "b.bin", stale, 1, iter([b"y" * 100]))
    assert len(_stored_files(settings)) == 2
    svc.multipart.abort(actor, "a.bin", aborted)
    assert len(_stored_files(settings)) == 1
    assert svc.multipart.purge_stale() == 0  # younger than a week
    assert svc.multipart.purge_stale(timedelta(0)) == 1
    assert _stored_files(settings) == []
    with pytest.raises(NoSuchUploadError):
        svc.multipart.upload_part(actor, "b.bin", stale, 2, iter([b"z"]))
    svc.close()
