"""Enrolled faces' crops, kept only where a collection opted in at creation with a stated reason: encrypted
at rest with the server key (the stored bytes are not the JPEG), at most 64 KB, deleted with the face by
DeleteFaces, DeleteCollection, the retention sweep and a person's deletion request (whose certificate counts
them). Runs on both databases (GLASSHOUSE_TEST_DATABASE=postgresql for the PostgreSQL pass)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from clock import ManualClock
from glasshouse.audit.service import AuditFilter
from glasshouse.collections.models import FaceCrop
from glasshouse.config import Settings
from glasshouse.engine.types import Box
from glasshouse.errors import InvalidParameterError
from glasshouse.faces.crops import MAX_CROP_BYTES, crop_jpeg
from glasshouse.governance.actor import Actor
from glasshouse.governance.policy import Capability
from glasshouse.keys.crypto import UnsealError
from glasshouse.services import Services

REASON = "Reviewers must compare faces before a lead goes to the case team (DPIA 2026-14)."
JPEG_MAGIC = b"\xff\xd8\xff"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def svc(settings: Settings, clock: ManualClock) -> Iterator[Services]:
    services = Services(settings, clock=clock)
    yield services
    services.close()


def _actor(svc: Services) -> Actor:
    org = svc.organisations.get_by_id(svc.org_id("local"))
    return Actor(org_id=org.id, org_name=org.name, surface="cli", person="tester")


def _enrol(svc: Services, actor: Actor, collection: str, photo: Path, external_id: str) -> list[str]:
    with svc.gate.guard(actor, Capability.FACE_INDEX):
        outcome = svc.collections.index_image(
            actor.org_id, collection, photo.read_bytes(), external_image_id=external_id
        )
    return [record.id for record, _ in outcome.indexed]


def _crops(svc: Services) -> dict[str, bytes]:
    with svc.sessions() as session:
        return {c.face_id: c.sealed for c in session.scalars(select(FaceCrop))}


def _crop_count(svc: Services) -> int:
    with svc.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(FaceCrop)) or 0)


@pytest.fixture
def photos(shared_data: Path) -> Path:
    return shared_data / "face_recognition/examples"


def test_opting_in_needs_a_reason_and_is_audited_without_image_bytes(svc: Services) -> None:
    actor = _actor(svc)
    for reason in ("", "   "):
        with pytest.raises(InvalidParameterError, match="reason"):
            svc.collections.create(actor.org_id, "refused", face_crops_reason=reason, by=actor)
    with pytest.raises(InvalidParameterError):
        svc.collections.create(actor.org_id, "refused", face_crops_reason="x" * 2001, by=actor)
    assert svc.collections.get_all(actor.org_id) == []  # bad input changes nothing

    created = svc.collections.create(actor.org_id, "kept", face_crops_reason=f"  {REASON} ", by=actor)
    assert created.keeps_face_crops and created.face_crops_reason == REASON
    assert not svc.collections.create(actor.org_id, "plain").keeps_face_crops
    [entry] = svc.audit.search(AuditFilter(action="collection.face_crops"))
    assert entry.details["collection"] == "kept" and entry.details["reason"] == REASON
    assert entry.actor_person == "tester"
    assert svc.audit.verify().ok


def test_crops_are_kept_encrypted_only_where_the_collection_opted_in(svc: Services, photos: Path) -> None:
    actor = _actor(svc)
    svc.collections.create(actor.org_id, "kept", face_crops_reason=REASON, by=actor)
    svc.collections.create(actor.org_id, "plain")
    kept_ids = _enrol(svc, actor, "kept", photos / "obama.jpg", "obama")
    kept_ids += _enrol(svc, actor, "kept", photos / "biden.jpg", "biden")
    _enrol(svc, actor, "plain", photos / "obama.jpg", "obama")

    stored = _crops(svc)
    assert set(stored) == set(kept_ids)  # none for the collection that did not opt in
    for face_id, sealed in stored.items():
        assert not sealed.startswith(JPEG_MAGIC) and b"JFIF" not in sealed and b"Exif" not in sealed
        [crop] = [c for c in _rows(svc) if c.face_id == face_id]
        jpeg = svc.collections.open_crop(crop)
        assert jpeg.startswith(JPEG_MAGIC) and len(jpeg) <= MAX_CROP_BYTES
        assert jpeg not in sealed
        picture = Image.open(io.BytesIO(jpeg))
        assert picture.format == "JPEG" and max(picture.size) <= 256
    # A crop bound to one face does not open as another's (rows cannot be swapped unnoticed).
    a, b = _rows(svc)[:2]
    with pytest.raises(UnsealError):
        svc.collections.open_crop(FaceCrop(face_id=b.face_id, sealed=a.sealed))
    # Audit entries never carry image bytes.
    for entry in svc.audit.search(AuditFilter()):
        text = json.dumps(entry.details)
        assert "/9j/" not in text and "base64" not in text


def _rows(svc: Services) -> list[FaceCrop]:
    with svc.sessions() as session:
        return list(session.scalars(select(FaceCrop).order_by(FaceCrop.face_id)))


def test_crops_go_with_their_faces_collection_and_person(svc: Services, photos: Path) -> None:
    actor = _actor(svc)
    svc.collections.create(actor.org_id, "kept", face_crops_reason=REASON, by=actor)
    obama = _enrol(svc, actor, "kept", photos / "obama.jpg", "obama")
    biden = _enrol(svc, actor, "kept", photos / "biden.jpg", "biden")
    _enrol(svc, actor, "kept", photos / "obama2.jpg", "obama")
    assert _crop_count(svc) == 3

    deleted, _ = svc.collections.delete_faces(actor.org_id, "kept", biden)  # DeleteFaces
    assert deleted == biden and set(_crops(svc)).isdisjoint(biden) and _crop_count(svc) == 2

    certificate = svc.retention.delete_subject(actor, "kept", external_image_id="obama")  # a person's request
    assert (certificate.face_count, certificate.crops_deleted) == (2, 2)
    assert _crop_count(svc) == 0 and set(obama).isdisjoint(_crops(svc))
    [entry] = svc.audit.search(AuditFilter(action="face.delete"))
    assert entry.details["crops_deleted"] == 2
    assert [c.crops_deleted for c in svc.retention.certificates(actor.org_id)] == [2]

    _enrol(svc, actor, "kept", photos / "biden.jpg", "biden-again")
    assert _crop_count(svc) == 1
    svc.collections.delete(actor.org_id, "kept")  # DeleteCollection
    assert _crop_count(svc) == 0


def test_the_retention_sweep_deletes_crops_and_certifies_them(
    svc: Services, clock: ManualClock, photos: Path
) -> None:
    actor = _actor(svc)
    svc.collections.create(actor.org_id, "visitors", retention_days=30, face_crops_reason=REASON, by=actor)
    _enrol(svc, actor, "visitors", photos / "obama.jpg", "obama")
    _enrol(svc, actor, "visitors", photos / "biden.jpg", "biden")
    assert _crop_count(svc) == 2
    clock.now = datetime.now(UTC) + timedelta(days=31)
    [certificate] = svc.retention.sweep()
    assert (certificate.reason, certificate.face_count, certificate.crops_deleted) == ("retention", 2, 2)
    assert _crop_count(svc) == 0


def test_a_crop_is_re_encoded_smaller_until_it_fits(photos: Path) -> None:
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, size=(600, 600, 3), dtype=np.uint8)  # noise compresses worst
    box = Box(50.0, 50.0, 550.0, 550.0)
    assert len(crop_jpeg(noise, box, max_bytes=10**9)) > 20_000
    small = crop_jpeg(noise, box, max_bytes=8_000)
    assert small.startswith(JPEG_MAGIC) and len(small) <= 8_000
    assert len(crop_jpeg(noise, box)) <= MAX_CROP_BYTES
