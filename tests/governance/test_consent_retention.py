"""Consent and retention (Illinois BIPA style) with an injected clock: consent references required where
a collection says so, expiry sweeps with deletion certificates, deletion on a person's request."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from aws_clients import make_client
from clock import ManualClock
from glasshouse.audit.service import AuditFilter
from glasshouse.bench.live_server import live_server
from glasshouse.collections.service import ConsentRequired
from glasshouse.config import Settings
from glasshouse.errors import NotFoundError
from glasshouse.governance.actor import Actor
from glasshouse.governance.policy import Capability
from glasshouse.services import Services


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def svc(settings: Settings, clock: ManualClock) -> Iterator[Services]:
    services = Services(settings, clock=clock)
    yield services
    services.close()


def _actor(svc: Services, name: str = "local") -> Actor:
    org = svc.organisations.get_by_id(svc.org_id(name))
    return Actor(org_id=org.id, org_name=org.name, surface="cli", person="tester")


def _enrol(
    svc: Services, actor: Actor, collection: str, photo: Path, external_id: str, consent: str | None = None
) -> None:
    with svc.gate.guard(actor, Capability.FACE_INDEX):
        outcome = svc.collections.index_image(
            actor.org_id,
            collection,
            photo.read_bytes(),
            external_image_id=external_id,
            consent_reference=consent,
        )
    assert len(outcome.indexed) == 1


def _count(svc: Services, actor: Actor, collection: str) -> int:
    return svc.collections.face_count(svc.collections.get(actor.org_id, collection))


def test_consent_required_collections_refuse_enrolment_without_a_reference(
    svc: Services, shared_data: Path
) -> None:
    actor = _actor(svc)
    photo = shared_data / "face_recognition/examples/obama.jpg"
    svc.collections.create(actor.org_id, "members", consent_required=True)
    with pytest.raises(ConsentRequired, match="consent"):
        _enrol(svc, actor, "members", photo, "obama")
    assert _count(svc, actor, "members") == 0
    _enrol(svc, actor, "members", photo, "obama", consent="release-form-2026-117")
    [face] = svc.collections.list_faces(actor.org_id, "members")
    assert face.external_image_id == "obama"
    with svc.sessions() as session:
        from glasshouse.collections.models import Face

        assert session.get(Face, face.id).consent_reference == "release-form-2026-117"  # type: ignore[union-attr]


def test_retention_sweep_deletes_expired_faces_with_a_certificate(
    svc: Services, clock: ManualClock, shared_data: Path
) -> None:
    actor = _actor(svc)
    photos = shared_data / "face_recognition/examples"
    svc.collections.create(actor.org_id, "visitors", retention_days=30)
    svc.collections.create(actor.org_id, "staff", retention_days=90)
    svc.collections.create(actor.org_id, "forever")
    for name in ("visitors", "staff", "forever"):
        _enrol(svc, actor, name, photos / "obama.jpg", "obama")
        _enrol(svc, actor, name, photos / "biden.jpg", "biden")
    # Faces are stamped by the database's clock as they are stored (enrolling takes seconds under load).
    stamps = [
        f.created_at.replace(tzinfo=UTC) if f.created_at.tzinfo is None else f.created_at.astimezone(UTC)
        for f in svc.collections.list_faces(actor.org_id, "visitors")
    ]
    first, last = min(stamps), max(stamps)
    enrolled_at = last

    clock.now = first + timedelta(days=30) - timedelta(seconds=5)  # one edge: not yet expired
    assert svc.retention.sweep() == []
    clock.now = last + timedelta(days=30, seconds=5)
    [certificate] = svc.retention.sweep()
    assert (certificate.collection, certificate.reason, certificate.face_count) == (
        "visitors",
        "retention",
        2,
    )
    assert len(certificate.face_ids_sha256) == 64
    assert [_count(svc, actor, n) for n in ("visitors", "staff", "forever")] == [0, 2, 2]
    with svc.gate.guard(actor, Capability.FACE_SEARCH):
        gone = svc.collections.search_by_image(actor.org_id, "visitors", (photos / "obama2.jpg").read_bytes())
    assert gone.matches == []  # the in-memory index forgot them too

    clock.now = enrolled_at + timedelta(days=400)
    [later] = svc.retention.sweep()
    assert later.collection == "staff" and _count(svc, actor, "forever") == 2
    entries = svc.audit.search(AuditFilter(action="face.delete"))
    assert [e.details["reason"] for e in entries] == ["retention", "retention"]
    assert [c.id for c in svc.retention.certificates(actor.org_id)] == [certificate.id, later.id]
    assert svc.audit.verify().ok


def test_deletion_on_request_by_external_image_id_and_user_id(svc: Services, shared_data: Path) -> None:
    actor = _actor(svc)
    photos = shared_data / "face_recognition/examples"
    svc.collections.create(actor.org_id, "people")
    _enrol(svc, actor, "people", photos / "obama.jpg", "obama")
    _enrol(svc, actor, "people", photos / "obama2.jpg", "obama")
    _enrol(svc, actor, "people", photos / "biden.jpg", "biden")
    _enrol(svc, actor, "people", photos / "alex-lacamoire.png", "alex")
    alex = next(
        f.id for f in svc.collections.list_faces(actor.org_id, "people") if f.external_image_id == "alex"
    )
    svc.users.create(actor.org_id, "people", "alex-user")
    with svc.gate.guard(actor, Capability.FACE_INDEX):
        svc.users.associate(actor.org_id, "people", "alex-user", [alex])

    by_external = svc.retention.delete_subject(actor, "people", external_image_id="obama")
    assert (by_external.reason, by_external.face_count) == ("subject_request", 2)
    by_user = svc.retention.delete_subject(actor, "people", user_id="alex-user")
    assert by_user.face_count == 1
    assert [f.external_image_id for f in svc.collections.list_faces(actor.org_id, "people")] == ["biden"]
    entries = svc.audit.search(AuditFilter(action="face.delete"))
    assert [e.details["selector"] for e in entries] == [
        {"external_image_id": "obama"},
        {"user_id": "alex-user"},
    ]
    assert all(e.actor_person == "tester" for e in entries)

    other = _actor(svc, "other-org")
    with pytest.raises(NotFoundError):  # another organisation's collection answers like a missing one
        svc.retention.delete_subject(other, "people", external_image_id="biden")
    assert _count(svc, actor, "people") == 1


def test_deletion_on_request_reaches_a_collection_in_any_region(svc: Services, shared_data: Path) -> None:
    """Collections are regional: one made through the Rekognition API in eu-west-1 is reached by naming its
    region, and a collection of the same name elsewhere is left alone."""
    actor = _actor(svc)
    photo = (shared_data / "face_recognition/examples/obama.jpg").read_bytes()
    for region in ("eu-west-1", None):
        svc.collections.create(actor.org_id, "visitors", region=region)
        with svc.gate.guard(actor, Capability.FACE_INDEX):
            svc.collections.index_image(
                actor.org_id, "visitors", photo, external_image_id="obama", region=region
            )
    cert = svc.retention.delete_subject(actor, "visitors", external_image_id="obama", region="eu-west-1")
    assert cert.face_count == 1
    eu = svc.collections.get(actor.org_id, "visitors", region="eu-west-1")
    assert svc.collections.face_count(eu) == 0 and _count(svc, actor, "visitors") == 1
    with pytest.raises(NotFoundError):
        svc.retention.delete_subject(actor, "visitors", external_image_id="obama", region="ap-south-1")


def test_consent_headers_through_boto3(tmp_path: Path, model_cache_dir: Path, shared_data: Path) -> None:
    data = tmp_path / "var"
    svc = Services(Settings(data_dir=data, model_cache_dir=model_cache_dir))
    key = svc.keys.create(svc.org_id("clinic"))
    svc.close()
    photo = (shared_data / "face_recognition/examples/obama.jpg").read_bytes()
    with live_server(data, model_cache_dir, throttle_rate="0") as server:
        rek = make_client(server.url, key.access_key_id, key.secret)
        headers: dict[str, str] = {
            "X-Glasshouse-Consent-Required": "true",
            "X-Glasshouse-Retention-Days": "30",
        }

        def add(request, **_):  # type: ignore[no-untyped-def]
            for name, value in headers.items():
                request.headers[name] = value

        rek.meta.events.register("before-sign.rekognition.*", add)
        rek.create_collection(CollectionId="patients")
        with pytest.raises(ClientError) as exc:
            rek.index_faces(CollectionId="patients", Image={"Bytes": photo})
        assert exc.value.response["Error"]["Code"] == "AccessDeniedException"
        assert "consent" in exc.value.response["Error"]["Message"]
        headers = {"X-Glasshouse-Consent": "consent-form-88"}
        assert len(rek.index_faces(CollectionId="patients", Image={"Bytes": photo})["FaceRecords"]) == 1
