"""Collections tried as an attacker, through the real UI (signed-in sessions, CSRF tokens) and the domain the
Rekognition API shares: another organisation's collections, faces and users answer like missing ones and
change nothing; roles without the area are refused; odd or oversized ids, consent references and model names
get a typed error and store nothing (PostgreSQL too, where a column's length is enforced)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from glasshouse.audit.service import AuditFilter
from glasshouse.collections.models import Face, FaceUser
from glasshouse.config import Settings
from glasshouse.errors import InvalidParameterError
from glasshouse.faces.models import MODEL_TAG
from glasshouse.governance.actor import Actor
from glasshouse.governance.policy import Capability
from glasshouse.http.app import create_app
from glasshouse.services import Services
from web_support import PASSWORD, SETUP, cheap_hashes, csrf, signed_in


@dataclass
class Site:
    svc: Services
    admin: TestClient  #: acme's org-admin
    rival: TestClient  #: another commercial organisation's org-admin
    examples: Path

    def image(self, name: str, filename: str | None = None) -> tuple[str, bytes, str]:
        path = self.examples / name
        return (filename or path.name, path.read_bytes(), "image/jpeg")

    def faces(self, org: str, collection: str) -> int:
        return self.svc.collections.face_count(
            self.svc.collections.get(self.svc.organisations.get(org).id, collection)
        )


@pytest.fixture
def site(settings: Settings, shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    cheap_hashes(monkeypatch)
    svc = Services(settings)
    acme = svc.organisations.create(SETUP, "acme", sector="commercial")
    rival = svc.organisations.create(SETUP, "rival", sector="commercial")
    svc.people.create(SETUP, acme, "admin@acme.example", "Ada Admin", PASSWORD, ["org-admin"])
    svc.people.create(SETUP, rival, "eve@rival.example", "Eve", PASSWORD, ["org-admin"])
    for role in ("reviewer", "auditor"):
        svc.people.create(SETUP, acme, f"{role}@acme.example", role.title(), PASSWORD, [role])
    app = create_app(services=svc)
    site = Site(
        svc,
        signed_in(app, "admin@acme.example"),
        signed_in(app, "eve@rival.example"),
        shared_data / "face_recognition/examples",
    )
    site.app = app  # type: ignore[attr-defined]
    yield site
    svc.close()


def _enrolled(site: Site) -> tuple[str, str]:
    """acme's collection "staff" with one face (Obama) and a user holding it; returns (face id, user id)."""
    admin = site.admin
    admin.post("/ui/collections/", data={"csrf_token": csrf(admin, "/ui/collections/"), "name": "staff"})
    enrolled = admin.post(
        "/ui/collections/staff/faces",
        data={"csrf_token": csrf(admin), "external_image_id": "barack"},
        files=[("images", site.image("obama.jpg"))],
    )
    assert enrolled.status_code == 200, enrolled.text
    admin.post("/ui/collections/staff/users", data={"csrf_token": csrf(admin), "user_id": "p44"})
    acme = site.svc.organisations.get("acme").id
    face = site.svc.collections.list_faces(acme, "staff")[0].id
    done = admin.post(
        "/ui/collections/staff/users/associate",
        data={"csrf_token": csrf(admin), "user_id": "p44", "face_id": face},
    )
    assert done.status_code == 303 or "1 associated" in done.text
    return face, "p44"


def _message(html: str) -> str:
    found = re.search(r"<main.*?</main>", html, re.S)
    return found[0] if found else html


def test_another_organisations_collection_faces_and_users_answer_like_missing_ones(site: Site) -> None:
    face, user = _enrolled(site)
    svc, eve = site.svc, site.rival
    acme = svc.organisations.get("acme").id
    token = csrf(eve, "/ui/collections/")
    attempts: list[tuple[str, str, dict[str, str]]] = [
        ("get", "/ui/collections/{c}", {}),
        ("post", "/ui/collections/{c}/faces/delete", {"face_id": face}),
        ("post", "/ui/collections/{c}/users", {"user_id": "planted"}),
        ("post", "/ui/collections/{c}/users/{u}/delete", {}),
        ("post", "/ui/collections/{c}/users/associate", {"user_id": user, "face_id": face}),
        ("post", "/ui/collections/{c}/users/{u}/disassociate", {"face_id": face}),
        ("post", "/ui/collections/{c}/delete", {"confirm": "{c}"}),
    ]
    for method, template, data in attempts:
        answers = []
        for name in ("staff", "no-such-collection"):
            url = template.format(c=name, u=user)
            form = {k: v.format(c=name) for k, v in data.items()} | {"csrf_token": token}
            got = eve.get(url) if method == "get" else eve.post(url, data=form, follow_redirects=False)
            answers.append((got.status_code, _message(got.text).replace(name, "NAME")))
        assert answers[0] == answers[1] and answers[0][0] == 404, (template, answers)
    enrol = eve.post(
        "/ui/collections/staff/faces", data={"csrf_token": token}, files=[("images", site.image("biden.jpg"))]
    )
    assert enrol.status_code == 404
    # Nothing changed: the face, the user and its association are all still there.
    faces = svc.collections.list_faces(acme, "staff")
    assert [f.id for f in faces] == [face] and faces[0].user_id == user
    assert [u.user_id for u in svc.users.get_all(acme, "staff", after=None, limit=10)] == [user]

    # acme's face id used in a collection of eve's own: nothing of acme's is touched.
    eve.post("/ui/collections/", data={"csrf_token": token, "name": "mine"})
    eve.post("/ui/collections/mine/users", data={"csrf_token": token, "user_id": "u"})
    eve.post("/ui/collections/mine/faces/delete", data={"csrf_token": token, "face_id": face})
    eve.post(
        "/ui/collections/mine/users/associate", data={"csrf_token": token, "user_id": "u", "face_id": face}
    )
    faces = svc.collections.list_faces(acme, "staff")
    assert [f.id for f in faces] == [face] and faces[0].user_id == user


def test_roles_without_the_collections_area_are_refused(site: Site) -> None:
    svc = site.svc
    admin_token = csrf(site.admin, "/ui/collections/")
    site.admin.post("/ui/collections/", data={"csrf_token": admin_token, "name": "staff"})
    for email in ("reviewer@acme.example", "auditor@acme.example"):
        client = signed_in(site.app, email)  # type: ignore[attr-defined]
        token = csrf(client)
        assert client.get("/ui/collections/").status_code == 403
        assert client.get("/ui/collections/staff").status_code == 403
        made = client.post("/ui/collections/", data={"csrf_token": token, "name": "theirs"})
        gone = client.post("/ui/collections/staff/delete", data={"csrf_token": token, "confirm": "staff"})
        assert made.status_code == gone.status_code == 403
    acme = svc.organisations.get("acme").id
    assert [c.name for c in svc.collections.get_all(acme)] == ["staff"]
    # Signed out: to the login page, nothing done.
    anonymous = TestClient(site.app)  # type: ignore[attr-defined]
    assert anonymous.get("/ui/collections/", follow_redirects=False).status_code in (303, 401)


@pytest.mark.parametrize(
    ("typed", "why"),
    [("x" * 256, "too long"), ("<b>bold</b>", "markup"), ("two words", "a space"), ("naïve", "non-ASCII")],
)
def test_a_typed_external_image_id_outside_rekognitions_pattern_is_refused(
    site: Site, typed: str, why: str
) -> None:
    admin = site.admin
    admin.post("/ui/collections/", data={"csrf_token": csrf(admin, "/ui/collections/"), "name": "staff"})
    got = admin.post(
        "/ui/collections/staff/faces",
        data={"csrf_token": csrf(admin), "external_image_id": typed},
        files=[("images", site.image("obama.jpg"))],
    )
    assert got.status_code == 400, (why, got.status_code)
    assert "ExternalImageId" in got.text
    assert site.faces("acme", "staff") == 0


def test_file_names_become_safe_external_image_ids(site: Site) -> None:
    """Several images take their ExternalImageId from their file names: whatever a browser sends as a name
    (a path, markup, 300 characters), the id stored is Rekognition's pattern, at most 255 characters."""
    admin = site.admin
    admin.post("/ui/collections/", data={"csrf_token": csrf(admin, "/ui/collections/"), "name": "staff"})
    got = admin.post(
        "/ui/collections/staff/faces",
        data={"csrf_token": csrf(admin)},
        files=[
            ("images", site.image("obama.jpg", "../../etc/<script>x</script> é.jpg")),
            ("images", site.image("biden.jpg", "b" * 300 + ".jpg")),
        ],
    )
    assert got.status_code == 200, got.text
    acme = site.svc.organisations.get("acme").id
    ids = sorted(f.external_image_id or "" for f in site.svc.collections.list_faces(acme, "staff"))
    assert len(ids) == 2
    for external in ids:
        assert re.fullmatch(r"[a-zA-Z0-9_.\-:]{1,255}", external), external
    assert "<script>" not in got.text


@pytest.mark.parametrize("user_id", ["u" * 129, "a b", "<i>x</i>", ""])
def test_an_odd_user_id_is_refused_and_creates_nothing(site: Site, user_id: str) -> None:
    admin = site.admin
    admin.post("/ui/collections/", data={"csrf_token": csrf(admin, "/ui/collections/"), "name": "staff"})
    got = admin.post("/ui/collections/staff/users", data={"csrf_token": csrf(admin), "user_id": user_id})
    assert got.status_code == 400 and "UserId" in got.text
    acme = site.svc.organisations.get("acme").id
    with site.svc.sessions() as session:
        assert session.query(FaceUser).count() == 0
    assert site.svc.users.get_all(acme, "staff", after=None, limit=10) == []


def test_an_oversized_consent_reference_is_refused_and_stores_nothing(site: Site) -> None:
    admin = site.admin
    admin.post(
        "/ui/collections/",
        data={"csrf_token": csrf(admin, "/ui/collections/"), "name": "members", "consent_required": "on"},
    )
    got = admin.post(
        "/ui/collections/members/faces",
        data={"csrf_token": csrf(admin), "consent_reference": "c" * 256},
        files=[("images", site.image("obama.jpg"))],
    )
    assert got.status_code == 400 and "consent" in got.text
    with site.svc.sessions() as session:
        assert session.query(Face).count() == 0


def test_the_domain_refuses_odd_ids_whatever_the_surface(site: Site) -> None:
    """The checks live in the collections domain, so the Rekognition API and the CLI get them too."""
    svc = site.svc
    org = svc.organisations.get("acme")
    svc.collections.create(org.id, "staff")
    actor = Actor(org_id=org.id, org_name=org.name, surface="cli")
    data = (site.examples / "obama.jpg").read_bytes()
    with svc.gate.guard(actor, Capability.FACE_INDEX):
        for bad in ({"external_image_id": "x" * 256}, {"consent_reference": "\x00ref"}):
            with pytest.raises(InvalidParameterError):
                svc.collections.index_image(org.id, "staff", data, **bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError):
        svc.users.create(org.id, "staff", "x" * 129)
    assert svc.collections.face_count(svc.collections.get(org.id, "staff")) == 0


@pytest.mark.parametrize("model", ["m" * 300, "../../etc", ".hidden", "a/b", "mobile\x00facenet", "naïve"])
def test_an_odd_model_name_is_a_typed_refusal_never_a_crash(site: Site, model: str) -> None:
    admin, svc = site.admin, site.svc
    got = admin.post(
        "/ui/collections/", data={"csrf_token": csrf(admin, "/ui/collections/"), "name": "m", "model": model}
    )
    assert got.status_code == 400, got.status_code
    org = svc.organisations.get("acme").id
    with pytest.raises(InvalidParameterError):  # the Rekognition tag reaches the same check
        svc.collections.create(org, "t", tags={MODEL_TAG: model})
    assert svc.collections.get_all(org) == []


def test_a_stray_folder_in_the_model_packs_folder_does_not_break_the_model_menu(site: Site) -> None:
    packs = site.svc.settings.model_packs_path
    (packs / ".cache").mkdir(parents=True)
    (packs / ("x" * 200)).mkdir()
    page = site.admin.get("/ui/collections/")
    assert page.status_code == 200 and '<option value="dlib" selected>' in page.text


def test_malformed_and_oversized_enrolment_forms_get_typed_errors(site: Site) -> None:
    admin = site.admin
    token = csrf(admin, "/ui/collections/")
    admin.post("/ui/collections/", data={"csrf_token": token, "name": "staff"})
    url = "/ui/collections/staff/faces"
    png_header_only = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    for files in (
        [("images", ("x.jpg", b"not an image", "image/jpeg"))],
        [("images", ("x.png", png_header_only, "image/png"))],
        [("images", (f"{i}.jpg", b"x", "image/jpeg")) for i in range(51)],  # over 50 a form
    ):
        got = admin.post(url, data={"csrf_token": token}, files=files)
        assert got.status_code == 400, got.text[-500:]
    for body, kind in (
        (b"--xx\r\nbroken", "multipart/form-data; boundary=xx"),
        (b"junk", "multipart/form-data"),
    ):
        got = admin.post(url, content=body, headers={"content-type": kind})
        assert got.status_code in (400, 403), got.status_code  # unreadable: no CSRF token either
    huge = b"\xff\xd8" + b"\x00" * (site.svc.settings.max_image_bytes + 10)
    got = admin.post(url, data={"csrf_token": token}, files=[("images", ("big.jpg", huge, "image/jpeg"))])
    assert got.status_code in (400, 413)
    assert site.faces("acme", "staff") == 0


def test_refused_images_are_never_echoed_into_pages_or_the_audit_log(site: Site) -> None:
    """An image the decoder refuses, a typed id it refuses: the page names the problem, never the bytes; the
    audit log holds digests and counts, never image bytes (nor their base64)."""
    import base64

    admin, svc = site.admin, site.svc
    admin.post("/ui/collections/", data={"csrf_token": csrf(admin, "/ui/collections/"), "name": "staff"})
    marker = b"PRIVATE-PIXELS-0123456789" * 4
    real = (site.examples / "obama.jpg").read_bytes()
    for files, typed in (
        ([("images", ("a.jpg", b"\xff\xd8\xff\xe0" + marker, "image/jpeg"))], ""),
        ([("images", ("b.jpg", real, "image/jpeg"))], "bad id!"),
    ):
        got = admin.post(
            "/ui/collections/staff/faces",
            data={"csrf_token": csrf(admin), "external_image_id": typed},
            files=files,
        )
        assert got.status_code == 400
        assert marker.decode() not in got.text and base64.b64encode(real[:48]).decode() not in got.text
    entries = svc.audit.search(AuditFilter(org_id=svc.organisations.get("acme").id))
    dumped = json.dumps([e.details for e in entries], default=str)
    assert entries and marker.decode() not in dumped
    assert base64.b64encode(real[100:148]).decode() not in dumped and "\\\\xff\\\\xd8" not in dumped
