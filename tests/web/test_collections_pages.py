"""Collections in the UI, end to end on real faces: create, enrol one and many images, users and their faces,
delete faces and the collection; the gate refuses enrolment under the moratorium with an audit entry; consent
and other organisations' collections hold."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from glasshouse.audit.service import AuditFilter, digest
from glasshouse.config import Settings
from glasshouse.http.app import create_app
from glasshouse.services import Services
from web_support import PASSWORD, SETUP, csrf, signed_in


@dataclass
class Site:
    svc: Services
    admin: TestClient
    officer: TestClient
    examples: Path

    def image(self, name: str) -> tuple[str, bytes, str]:
        path = self.examples / name
        return (path.name, path.read_bytes(), "image/jpeg")


@pytest.fixture
def site(settings: Settings, shared_data: Path) -> Iterator[Site]:
    svc = Services(settings)
    acme = svc.organisations.create(SETUP, "acme", sector="commercial")
    police = svc.organisations.create(SETUP, "metro-police", sector="law_enforcement")
    svc.people.create(SETUP, acme, "admin@acme.example", "Ada Admin", PASSWORD, ["org-admin"])
    svc.people.create(SETUP, police, "ida@police.example", "Ida Investigator", PASSWORD, ["investigator"])
    app = create_app(services=svc)
    yield Site(
        svc,
        signed_in(app, "admin@acme.example"),
        signed_in(app, "ida@police.example"),
        shared_data / "face_recognition/examples",
    )
    svc.close()


def squash(page: str) -> str:
    """The page without whitespace between tags."""
    return re.sub(r">\s+<", "><", page)


def face_ids(page: str) -> list[str]:
    return re.findall(r'name="face_id" value="([^"]+)"', page)


def test_a_collection_from_creation_to_deletion(site: Site) -> None:
    admin, svc = site.admin, site.svc
    created = admin.post(
        "/ui/collections/",
        data={"csrf_token": csrf(admin, "/ui/collections/"), "name": "staff", "retention_days": "30"},
    )
    assert created.status_code == 200 and "Collection created" in created.text
    assert "each face is deleted 30 days after enrolment" in created.text

    one = admin.post(
        "/ui/collections/staff/faces",
        data={"csrf_token": csrf(admin), "external_image_id": "barack", "purpose": "", "case_number": ""},
        files=[("images", site.image("obama.jpg"))],
    )
    assert one.status_code == 200, one.text
    assert "<td>obama.jpg</td><td>barack</td><td>1</td>" in squash(one.text)
    many = admin.post(
        "/ui/collections/staff/faces",
        data={"csrf_token": csrf(admin), "external_image_id": "ignored-for-several"},
        files=[("images", site.image("biden.jpg")), ("images", site.image("obama2.jpg"))],
    )
    assert many.status_code == 200
    assert "<td>biden</td><td>1</td>" in squash(many.text) and "<td>obama2</td><td>1</td>" in squash(
        many.text
    )
    collection = svc.collections.get(svc.organisations.get("acme").id, "staff")
    assert svc.collections.face_count(collection) == 3

    page = admin.get("/ui/collections/staff").text
    ids = face_ids(page)
    assert len(ids) == 3 and "barack" in page and "biden" in page

    admin.post("/ui/collections/staff/users", data={"csrf_token": csrf(admin), "user_id": "president-44"})
    faces = svc.collections.list_faces(collection.org_id, "staff")
    obama_faces = [f.id for f in faces if f.external_image_id in ("barack", "obama2")]
    associated = admin.post(
        "/ui/collections/staff/users/associate",
        data={"csrf_token": csrf(admin), "user_id": "president-44", "face_id": obama_faces},  # type: ignore[dict-item]
    )
    assert associated.status_code == 200 and "2 associated with president-44" in associated.text
    assert {
        f.user_id for f in svc.collections.list_faces(collection.org_id, "staff", user_id="president-44")
    } == {"president-44"}

    biden = next(f.id for f in faces if f.external_image_id == "biden")
    deleted = admin.post(
        "/ui/collections/staff/faces/delete", data={"csrf_token": csrf(admin), "face_id": biden}
    )
    assert "1 face deleted" in deleted.text and svc.collections.face_count(collection) == 2

    wrong = admin.post("/ui/collections/staff/delete", data={"csrf_token": csrf(admin), "confirm": "staf"})
    assert wrong.status_code == 400 and svc.collections.face_count(collection) == 2
    gone = admin.post("/ui/collections/staff/delete", data={"csrf_token": csrf(admin), "confirm": "staff"})
    assert gone.status_code == 200 and "Collection deleted" in gone.text
    assert svc.collections.get_all(collection.org_id) == []


def test_enrolment_passes_the_gate_and_is_audited(site: Site) -> None:
    """Under the moratorium a police investigator's enrolment is refused in the page, nothing is stored, and
    the refusal is in the audit log; an allowed enrolment is audited with the image's digest only."""
    svc, officer = site.svc, site.officer
    police = svc.organisations.get("metro-police")
    svc.collections.create(police.id, "suspects")
    refused = officer.post(
        "/ui/collections/suspects/faces",
        data={"csrf_token": csrf(officer), "purpose": "criminal_investigation", "case_number": "C-1"},
        files=[("images", site.image("obama.jpg"))],
    )
    assert refused.status_code == 403 and "Not allowed by policy" in refused.text
    assert svc.collections.face_count(svc.collections.get(police.id, "suspects")) == 0
    denials = svc.audit.search(AuditFilter(org_id=police.id, action="face.index", decision="deny"))
    assert len(denials) == 1

    site.admin.post(
        "/ui/collections/", data={"csrf_token": csrf(site.admin, "/ui/collections/"), "name": "staff"}
    )
    site.admin.post(
        "/ui/collections/staff/faces",
        data={"csrf_token": csrf(site.admin)},
        files=[("images", site.image("biden.jpg"))],
    )
    acme = svc.organisations.get("acme")
    (entry,) = svc.audit.search(AuditFilter(org_id=acme.id, action="face.index", decision="allow"))
    assert entry.surface == "ui"
    assert digest(site.image("biden.jpg")[1]) in json.dumps(entry.to_json())  # the digest, never the image


def test_consent_and_other_organisations(site: Site) -> None:
    svc, admin = site.svc, site.admin
    admin.post(
        "/ui/collections/",
        data={"csrf_token": csrf(admin, "/ui/collections/"), "name": "members", "consent_required": "on"},
    )
    missing = admin.post(
        "/ui/collections/members/faces",
        data={"csrf_token": csrf(admin)},
        files=[("images", site.image("biden.jpg"))],
    )
    assert missing.status_code == 403 and "requires consent" in missing.text  # a policy refusal
    acme = svc.organisations.get("acme")
    assert svc.collections.face_count(svc.collections.get(acme.id, "members")) == 0

    # Another organisation's collection does not exist for this one, whatever the page or form.
    police = svc.organisations.get("metro-police")
    svc.collections.create(police.id, "theirs")
    assert admin.get("/ui/collections/theirs").status_code == 404
    stolen = admin.post(
        "/ui/collections/theirs/delete", data={"csrf_token": csrf(admin), "confirm": "theirs"}
    )
    assert stolen.status_code == 404 and svc.collections.get_all(police.id)


def test_the_form_chooses_an_installed_face_model(site: Site) -> None:
    admin, svc = site.admin, site.svc
    page = admin.get("/ui/collections/").text
    assert '<option value="dlib" selected>' in page and "mobilefacenet" not in page  # not installed
    refused = admin.post(
        "/ui/collections/",
        data={"csrf_token": csrf(admin, "/ui/collections/"), "name": "m", "model": "mobilefacenet"},
    )
    assert refused.status_code == 400 and "glasshouse models install mobilefacenet" in refused.text
    made = admin.post(
        "/ui/collections/", data={"csrf_token": csrf(admin, "/ui/collections/"), "name": "d", "model": "dlib"}
    )
    assert made.status_code == 200
    collection = svc.collections.get(svc.organisations.get("acme").id, "d")
    assert collection.face_model_version == "glasshouse-centerface1-lm5-dlibresnet1"
