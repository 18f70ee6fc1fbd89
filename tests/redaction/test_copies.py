"""Stored redacted copies: a real clip and a real photo redacted inside a ``media.redact`` grant into a media
object of the holder's organisation, with the row tying it to its original and an audit entry; another
organisation's copy does not exist for a caller; a failure leaves nothing; deleting the original deletes
its copies (rows, objects and bytes), whoever holds them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from clip_cuts import cut
from glasshouse.audit.service import AuditFilter
from glasshouse.config import Settings
from glasshouse.errors import InvalidInputError, InvalidParameterError, NotFoundError
from glasshouse.governance.actor import Actor
from glasshouse.governance.gate import UngatedAccessError
from glasshouse.governance.policy import Capability
from glasshouse.media.models import MediaObject
from glasshouse.redaction import RedactionSettings
from glasshouse.redaction.copies import CopyView, RedactedCopy
from glasshouse.services import Services
from glasshouse.video.decode import probe
from web_support import SETUP

PHOTO = "2008_002506.jpg"


@pytest.fixture
def svc(settings: Settings) -> Iterator[Services]:
    services = Services(settings)
    yield services
    services.close()


@pytest.fixture(scope="module")
def short_clip(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = shared_data / "video" / "hamilton" / "short_hamilton_clip.mp4"
    return cut(source, tmp_path_factory.mktemp("clip") / "door.mp4", 1.0)


def actor(svc: Services, name: str) -> Actor:
    org = svc.organisations.create(SETUP, name, sector="other_government")
    return Actor(org_id=org.id, org_name=org.name, surface="cli", person=f"os:{name}-clerk")


def put(svc: Services, by: Actor, name: str, path: Path, content_type: str) -> str:
    return svc.media.upload(by, name, [path.read_bytes()], content_type).sha256


def make(svc: Services, by: Actor, source: Actor, name: str, **kw: Any) -> CopyView:
    with svc.gate.guard(by, Capability.MEDIA_REDACT):
        return svc.redacted_copies.make(
            by, source_org_id=source.org_id, source_name=name, settings=RedactionSettings(), **kw
        )


def count(svc: Services, model: Any) -> int:
    with svc.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def stored(svc: Services) -> list[Path]:
    root = svc.settings.media_path
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def spooled(svc: Services) -> list[Path]:
    root = svc.settings.data_dir / "redaction-spool"
    return list(root.rglob("*")) if root.exists() else []


def test_a_real_clip_is_copied_redacted_with_its_record_and_audit(svc: Services, short_clip: Path) -> None:
    city = actor(svc, "city")
    original = put(svc, city, "cams/door.mp4", short_clip, "video/mp4")
    copy = make(svc, city, city, "cams/door.mp4", purpose="release", reason="public appeal")

    view, stream = svc.redacted_copies.open(city, copy.id)
    with stream:
        data = stream.read()
    assert hashlib.sha256(data).hexdigest() == copy.sha256 == view.sha256 != original
    assert copy.source_sha256 == original and copy.org_id == city.org_id
    assert copy.name == f"redacted/{copy.id}.mp4" and copy.content_type == "video/mp4"
    assert copy.settings == RedactionSettings().to_json() and "CenterFace" in copy.engine
    assert copy.made_by == "person:os:city-clerk" and copy.reason == "public appeal"
    assert copy.summary["media"]["frames"] == 30
    assert copy.summary["faces"]["frames_with_faces_covered"] > 0
    out = svc.settings.data_dir / "copy.mp4"
    out.write_bytes(data)
    assert probe(out).frame_count == 30
    info = svc.media.get(city.org_id, copy.name)
    assert info.source == "redacted" and info.sha256 == copy.sha256
    assert svc.redacted_copies.get(city, copy.id) == copy
    with svc.sessions() as session:
        src_id = session.scalar(select(MediaObject.id).where(MediaObject.name == "cams/door.mp4"))
    assert src_id is not None and svc.redacted_copies.list_for_source(src_id) == [copy]
    [entry] = svc.audit.search(AuditFilter(action="redaction.copy"))
    assert entry.details["copy_id"] == copy.id and entry.details["sha256"] == copy.sha256
    [grant] = svc.audit.search(AuditFilter(action="media.redact"))
    assert grant.decision == "allow" and grant.details["output_sha256"] == copy.sha256
    assert spooled(svc) == []  # the temporary original and copy are gone


def test_a_photo_copy_keeps_its_format(svc: Services, shared_data: Path) -> None:
    city = actor(svc, "city")
    photo = shared_data / "dlib" / "examples" / "faces" / PHOTO
    original = put(svc, city, "stills/group", photo, "image/jpeg")  # no suffix in the name
    copy = make(svc, city, city, "stills/group", purpose="release", copy_name="public/group.jpg")
    assert copy.name == "public/group.jpg" and copy.content_type == "image/jpeg"
    assert copy.source_sha256 == original != copy.sha256
    assert copy.summary["faces"]["covered"] >= 2


def test_another_organisations_copy_is_not_found(svc: Services, shared_data: Path) -> None:
    city, other = actor(svc, "city"), actor(svc, "other")
    put(svc, city, "group.jpg", shared_data / "dlib" / "examples" / "faces" / PHOTO, "image/jpeg")
    copy = make(svc, city, city, "group.jpg", purpose="release")
    for call in (svc.redacted_copies.get, svc.redacted_copies.open, svc.redacted_copies.delete):
        with pytest.raises(NotFoundError) as caught:
            call(other, copy.id)
        assert str(caught.value) == str(NotFoundError(f"redacted copy {copy.id!r} not found"))
    with pytest.raises(NotFoundError):
        svc.redacted_copies.get(city, "no-such-copy")
    assert svc.redacted_copies.get(city, copy.id) == copy


def test_failures_leave_nothing_behind(
    svc: Services, shared_data: Path, short_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    city = actor(svc, "city")
    put(svc, city, "door.mp4", short_clip, "video/mp4")
    put(svc, city, "notes.mp4", Path(__file__), "video/mp4")  # not a video
    before = (count(svc, MediaObject), stored(svc))

    def unchanged() -> None:
        assert (count(svc, MediaObject), stored(svc)) == before
        assert count(svc, RedactedCopy) == 0 and spooled(svc) == []
        assert svc.audit.search(AuditFilter(action="redaction.copy")) == []

    with pytest.raises(UngatedAccessError):  # outside the gate
        svc.redacted_copies.make(
            city,
            source_org_id=city.org_id,
            source_name="door.mp4",
            settings=RedactionSettings(),
            purpose="release",
        )
    unchanged()
    with pytest.raises(InvalidInputError):
        make(svc, city, city, "notes.mp4", purpose="release")
    unchanged()
    with pytest.raises(InvalidParameterError):
        make(svc, city, city, "door.mp4", purpose="souvenir")
    unchanged()
    with pytest.raises(NotFoundError):
        make(svc, city, city, "missing.mp4", purpose="release")
    unchanged()

    # The copy's bytes are stored and then its row cannot be written: bytes and object go again.
    real_append = svc.audit.append

    def refuse(session: Any, event: Any) -> Any:
        if event.action == "redaction.copy":
            raise RuntimeError("database went away")
        return real_append(session, event)

    monkeypatch.setattr(svc.audit, "append", refuse)
    with pytest.raises(RuntimeError):
        make(svc, city, city, "door.mp4", purpose="release")
    unchanged()


def test_deleting_the_original_deletes_its_copies_whoever_holds_them(
    svc: Services, shared_data: Path
) -> None:
    city, agency = actor(svc, "city"), actor(svc, "agency")
    photo = shared_data / "dlib" / "examples" / "faces" / PHOTO
    put(svc, city, "group.jpg", photo, "image/jpeg")
    put(svc, city, "kept.jpg", photo, "image/jpeg")
    own = make(svc, city, city, "group.jpg", purpose="release")
    # The caller of make() checked the agency may read the source (e.g. footage shared with it).
    held = make(svc, agency, city, "group.jpg", purpose="portal_share")
    other = make(svc, city, city, "kept.jpg", purpose="release")
    assert held.org_id == agency.org_id and svc.media.get(agency.org_id, held.name).source == "redacted"
    files = len(stored(svc))

    svc.media.delete(city, city.org_id, "group.jpg")

    assert count(svc, RedactedCopy) == 1 and svc.redacted_copies.get(city, other.id) == other
    for by, copy in ((city, own), (agency, held)):
        with pytest.raises(NotFoundError):
            svc.redacted_copies.get(by, copy.id)
        with pytest.raises(NotFoundError):
            svc.media.get(by.org_id, copy.name)
    assert len(stored(svc)) == files - 3  # the original's bytes and both copies'
    deleted = {e.details["copy_id"] for e in svc.audit.search(AuditFilter(action="redaction.copy.delete"))}
    assert deleted == {own.id, held.id}


def test_deleting_a_copy_leaves_the_original(svc: Services, shared_data: Path) -> None:
    city = actor(svc, "city")
    photo = shared_data / "dlib" / "examples" / "faces" / PHOTO
    original = put(svc, city, "group.jpg", photo, "image/jpeg")
    copy = make(svc, city, city, "group.jpg", purpose="portal_share")
    svc.redacted_copies.delete(city, copy.id)
    assert count(svc, RedactedCopy) == 0 and svc.media.get(city.org_id, "group.jpg").sha256 == original
    with pytest.raises(NotFoundError):
        svc.media.get(city.org_id, copy.name)
