"""The portal's web pages through a TestClient: public pages need no sign-in, every state-changing form
needs its CSRF token, pages check roles, an owner never reaches another owner's clips, an agency only the
clips shared with it; Leaflet is served by Glasshouse itself; emergency disclosure needs two operators."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from glasshouse.audit.service import AuditFilter
from glasshouse.config import Settings
from glasshouse.governance.actor import Actor
from glasshouse.http.app import create_app
from glasshouse.portal.views import FootageRequestInput
from glasshouse.services import Services
from portal.conftest import HOME, make_video
from web_support import PASSWORD, SETUP, csrf, csrf_of, signed_in

CASE = "HPS-2026-0777"


@dataclass
class Site:
    svc: Services
    client: TestClient  # anonymous
    police: Actor  # the investigator's actor (surface "ui")
    now: datetime

    def user(self, email: str) -> TestClient:
        return signed_in(self.client.app, email)  # type: ignore[arg-type]

    def owner(self, name: str, lat: float = HOME[0], lon: float = HOME[1]) -> tuple[TestClient, str, str]:
        """An owner signed up through the UI with one camera: (client, camera id, person id)."""
        c = TestClient(self.client.app)
        token = csrf_of(c.get("/ui/portal/signup").text)
        form = {"name": name, "email": f"{name}@home.example", "password": PASSWORD, "csrf_token": token}
        r = c.post("/ui/portal/signup", data=form, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/ui/portal/cameras", r.text
        form = {"name": f"{name} porch", "latitude": str(lat), "longitude": str(lon), "note": "the street"}
        r = c.post("/ui/portal/cameras", data={**form, "csrf_token": csrf(c, "/ui/portal/cameras")})
        assert r.status_code == 200 and f"{name} porch" in r.text, r.text
        person = self.svc.people.get_by_email(f"{name}@home.example").id
        return c, self.svc.portal.list_cameras(person)[0].id, person

    def upload(
        self, c: TestClient, camera_id: str, data: bytes, name: str = "clip.mp4", hours_ago: float = 2
    ) -> str:
        started = (self.now - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%S")
        form = {"camera_id": camera_id, "started_at": started, "csrf_token": csrf(c, "/ui/portal/clips")}
        return c.post("/ui/portal/clips", data=form, files={"file": (name, data, "video/mp4")}).text

    def file(self, **overrides: object) -> str:
        data = {
            "incident_type": "burglary",
            "case_number": CASE,
            "description": "Break-in; the suspect wore a red hoodie.",
            "contact": "Det. Smith, 905-555-0100",
            "area": {"type": "circle", "center": list(HOME), "radius_m": 200.0},
            "window_start": self.now - timedelta(hours=3),
            "window_end": self.now - timedelta(hours=1),
            "respond_by": self.now + timedelta(days=7),
            "purpose": "criminal_investigation",
            **overrides,
        }
        return self.svc.portal.file_request(self.police, FootageRequestInput(**data)).id  # type: ignore[arg-type]


@pytest.fixture
def site(settings: Settings) -> Iterator[Site]:
    svc = Services(settings)
    police = svc.organisations.create(SETUP, "hamilton-police", sector="law_enforcement")
    svc.organisations.update(SETUP, police.name, verified=True, reason="identity checked")
    other = svc.organisations.create(SETUP, "other-police", sector="law_enforcement")
    svc.organisations.update(SETUP, other.name, verified=True, reason="identity checked")
    ops = svc.organisations.create(SETUP, "operators", sector="nonprofit", is_operator=True)
    ida = svc.people.create(
        SETUP, police, "ida@police.example", "Ida Investigator", PASSWORD, ["investigator"]
    )
    svc.people.create(SETUP, other, "oto@other.example", "Oto Investigator", PASSWORD, ["investigator"])
    svc.people.create(SETUP, ops, "ola@ops.example", "Ola Operator", PASSWORD, ["operator"])
    svc.people.create(SETUP, ops, "omar@ops.example", "Omar Operator", PASSWORD, ["operator"])
    yield Site(svc, TestClient(create_app(settings, services=svc)), ida.actor(), datetime.now(UTC))
    svc.close()


def test_public_feed_and_agency_profile_need_no_sign_in(site: Site) -> None:
    request_id = site.file()
    page = site.client.get("/portal")
    assert page.status_code == 200
    assert "Community camera requests" in page.text and f'aria-labelledby="req-{request_id}"' in page.text
    assert re.search(rf'class="share-count" data-request="{request_id}">0<', page.text)
    assert "content-security-policy" in page.headers and page.headers["x-frame-options"] == "DENY"
    assert CASE not in page.text  # the case number stays between agency and owners
    profile = site.client.get("/portal/agencies/hamilton-police")
    assert profile.status_code == 200 and f"req-{request_id}" in profile.text
    missing = site.client.get("/portal/agencies/nobody")
    assert missing.status_code == 404 and "there is no such agency" in missing.text


def test_leaflet_is_served_by_glasshouse_never_a_cdn(site: Site) -> None:
    site.file()
    js = site.client.get("/static/leaflet/leaflet.js")
    assert js.status_code == 200 and "Leaflet" in js.text[:500]
    assert site.client.get("/static/leaflet/leaflet.css").status_code == 200
    assert site.client.get("/static/leaflet/images/marker-icon.png").status_code == 200
    assert site.client.get("/static/portal/map.js").status_code == 200
    page = site.client.get("/portal").text
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page)
    assert "/static/leaflet/leaflet.js" in sources and all(s.startswith("/static/") for s in sources), sources
    assert 'data-tiles=""' in page  # no tile server configured: the map draws without tiles


def test_a_configured_tile_server_is_allowed_by_the_pages_csp(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLASSHOUSE_MAP_TILE_URL", "https://{s}.tiles.example.org/{z}/{x}/{y}.png")
    svc = Services(Settings())
    try:
        svc.portal.sign_up_owner("olu@home.example", "Olu", PASSWORD)
        page = signed_in(create_app(services=svc), "olu@home.example").get("/ui/portal/cameras")
        assert "img-src 'self' data: https://*.tiles.example.org;" in page.headers["content-security-policy"]
        assert 'data-tiles="https://{s}.tiles.example.org/{z}/{x}/{y}.png"' in page.text
    finally:
        svc.close()


def test_owner_signup_needs_the_forms_token(site: Site) -> None:
    c = TestClient(site.client.app)
    c.get("/ui/portal/signup")
    form = {"name": "Mallory", "email": "mallory@home.example", "password": PASSWORD, "csrf_token": "forged"}
    r = c.post("/ui/portal/signup", data=form, follow_redirects=False)
    assert r.status_code == 403
    assert all(p.email != "mallory@home.example" for p in site.svc.people.list())
    owner, _, _ = site.owner("olu")
    assert owner.get("/ui/portal/signup", follow_redirects=False).headers["location"] == "/ui/portal/cameras"


def test_owner_uploads_plays_and_deletes_a_clip_and_a_bad_upload_leaves_nothing(site: Site) -> None:
    owner, camera, person = site.owner("olu")
    video = make_video()
    page = site.upload(owner, camera, video, "porch.mp4")
    assert hashlib.sha256(video).hexdigest() in page and "Uploaded porch.mp4" in page
    clip = site.svc.portal.list_clips(person)[0]
    played = owner.get(f"/ui/portal/clips/{clip.id}/video")
    assert played.status_code == 200 and played.content == video
    part = owner.get(f"/ui/portal/clips/{clip.id}/video", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == video[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(video)}"

    refused = site.upload(owner, camera, b"this is not a video at all", "fake.mp4")
    message = re.search(r'<div class="flash error" role="alert">([^<]+)</div>', refused)
    assert message and "video" in message[1], refused
    assert [c.filename for c in site.svc.portal.list_clips(person)] == ["porch.mp4"]

    r = owner.post(f"/ui/portal/clips/{clip.id}/delete", data={"csrf_token": csrf(owner, "/ui/portal/clips")})
    assert r.status_code == 200 and site.svc.portal.list_clips(person) == []


def test_an_owner_never_reaches_another_owners_clips_or_cameras(site: Site) -> None:
    alice, alice_camera, alice_id = site.owner("alice")
    site.upload(alice, alice_camera, make_video(), "alice-secret.mp4")
    clip = site.svc.portal.list_clips(alice_id)[0]
    bob, _, _ = site.owner("bob")
    assert bob.get(f"/ui/portal/clips/{clip.id}/video").status_code == 404
    token = csrf(bob, "/ui/portal/clips")
    assert bob.post(f"/ui/portal/clips/{clip.id}/delete", data={"csrf_token": token}).status_code == 404
    assert (
        bob.post(f"/ui/portal/cameras/{alice_camera}/delete", data={"csrf_token": token}).status_code == 404
    )
    for page in ("/ui/portal/clips", "/ui/portal/cameras", "/ui/portal/inbox"):
        assert "alice" not in bob.get(page).text.lower()
    assert [c.id for c in site.svc.portal.list_clips(alice_id)] == [clip.id]  # untouched


def test_pages_check_roles_and_sign_in(site: Site) -> None:
    anonymous = site.client.get("/ui/portal/inbox", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/ui/login?")
    owner, _, _ = site.owner("olu")
    officer = site.user("ida@police.example")
    for path in ("/ui/portal/requests", "/ui/portal/requests/new", "/ui/portal/emergency"):
        assert owner.get(path).status_code == 403, path
    for path in ("/ui/portal/cameras", "/ui/portal/clips", "/ui/portal/inbox", "/ui/portal/settings"):
        assert officer.get(path).status_code == 403, path
    assert officer.get("/ui/portal/emergency").status_code == 403
    assert site.user("ola@ops.example").get("/ui/portal/emergency").status_code == 200


def test_every_portal_form_needs_the_sessions_token(site: Site) -> None:
    owner, camera, person = site.owner("olu")
    site.upload(owner, camera, make_video())
    request_id = site.file()
    officer = site.user("ida@police.example")
    forged = {"csrf_token": "forged"}
    for client, path in (
        (owner, "/ui/portal/cameras"),
        (owner, f"/ui/portal/cameras/{camera}/delete"),
        (owner, f"/ui/portal/inbox/{request_id}/decline"),
        (owner, f"/ui/portal/inbox/{request_id}/share"),
        (owner, "/ui/portal/settings"),
        (officer, "/ui/portal/requests"),
        (officer, f"/ui/portal/requests/{request_id}/close"),
        (site.user("ola@ops.example"), "/ui/portal/emergency"),
        (site.user("ola@ops.example"), "/ui/portal/emergency/any-id/approve"),
        (owner, "/ui/portal/previews/cancel"),
        (owner, "/ui/portal/unredactions/any-id/accept"),
        (owner, "/ui/portal/unredactions/any-id/refuse"),
        (officer, f"/ui/portal/requests/{request_id}/clips/any-id/unredaction"),
    ):
        assert client.post(path, data=forged).status_code == 403, path
    assert len(site.svc.portal.list_cameras(person)) == 1
    assert site.svc.portal.inbox(person)[0].status == "pending"
    assert site.svc.portal.get_request(site.police, request_id).status == "open"


def test_a_request_filed_in_the_ui_is_answered_and_its_clip_downloaded_with_its_hash(site: Site) -> None:
    owner, camera, person = site.owner("olu")
    video = make_video(3.0)
    site.upload(owner, camera, video, "porch.mp4")
    _, far_camera, far_person = site.owner("faraway", HOME[0] + 0.05, HOME[1])
    officer = site.user("ida@police.example")
    new = officer.get("/ui/portal/requests/new?lat=43.2557&lon=-79.8711")
    assert 'data-map="area"' in new.text and 'data-center="43.2557,-79.8711"' in new.text
    form = {
        "incident_type": "burglary",
        "purpose": "criminal_investigation",
        "case_number": CASE,
        "description": "Break-in; the suspect wore a red hoodie.",
        "contact": "Det. Smith",
        "shape": "circle",
        "area": '{"type":"circle","center":[43.2557,-79.8711],"radius_m":40}',
        "window_start": (site.now - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"),
        "window_end": (site.now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "respond_by": (site.now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
        "csrf_token": csrf_of(new.text),
    }
    small = officer.post("/ui/portal/requests", data=form)
    assert small.status_code == 400 and "area-too-small" in small.text
    assert f'value="{CASE}"' in small.text  # the form keeps what was typed
    typed = {**form, "area": "", "center_lat": "43.2557", "center_lon": "-79.8711", "radius_m": "200"}
    filed = officer.post("/ui/portal/requests", data=typed, follow_redirects=False)
    assert filed.status_code == 303, filed.text
    request_url = filed.headers["location"]
    request_id = request_url.rsplit("/", 1)[1]
    assert site.svc.portal.inbox(far_person) == []  # outside the area: never asked

    inbox = owner.get("/ui/portal/inbox").text
    assert CASE in inbox and 'name="clip_id"' in inbox
    clip = site.svc.portal.list_clips(person)[0]
    token = csrf(owner, "/ui/portal/inbox")
    shared = owner.post(
        f"/ui/portal/inbox/{request_id}/share",
        data={"clip_id": clip.id, f"mode-{clip.id}": "recorded", "csrf_token": token},
    )
    assert shared.status_code == 200 and "Shared: porch.mp4" in shared.text

    page = officer.get(request_url).text
    assert hashlib.sha256(video).hexdigest() in page
    download = officer.get(f"{request_url}/clips/{clip.id}/download")
    assert download.status_code == 200 and download.content == video
    assert download.headers["x-sha256"] == hashlib.sha256(video).hexdigest()
    assert "attachment" in download.headers["content-disposition"]
    assert site.svc.audit.search(AuditFilter(action="footage.download"))

    r = officer.post(
        f"{request_url}/clips/{clip.id}/evidence", data={"csrf_token": csrf(officer, request_url)}
    )
    assert r.status_code == 200 and "evidence</span>" in r.text
    r = officer.post(f"{request_url}/close", data={"csrf_token": csrf(officer, request_url)})
    assert r.status_code == 200 and "closed" in r.text
    feed = site.client.get("/portal").text
    assert re.search(rf'class="share-count" data-request="{request_id}">1<', feed)
    del far_camera


def test_the_request_form_assumes_no_purpose(site: Site) -> None:
    """Issue 12, item 6: the form preselected child_exploitation_investigation, so a burglary request was
    filed and audited under it. Now nothing is preselected and an empty choice is refused."""
    officer = site.user("ida@police.example")
    page = officer.get("/ui/portal/requests/new").text
    for select in ("req-purpose", "req-incident"):
        options = re.search(rf'<select id="{select}".*?</select>', page, re.S)
        assert options is not None
        chosen = re.findall(r'<option value="([^"]*)"\s*selected', options[0])
        assert chosen == [""], (select, chosen)
    form = {
        "incident_type": "burglary",
        "purpose": "",
        "case_number": CASE,
        "description": "Break-in; the suspect wore a red hoodie.",
        "contact": "Det. Smith",
        "shape": "circle",
        "center_lat": "43.2557",
        "center_lon": "-79.8711",
        "radius_m": "200",
        "window_start": (site.now - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"),
        "window_end": (site.now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "respond_by": (site.now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
        "csrf_token": csrf_of(page),
    }
    refused = officer.post("/ui/portal/requests", data=form)
    assert refused.status_code == 400 and "purpose-required" in refused.text
    assert site.svc.portal.agency_requests(site.police) == []
    denials = site.svc.audit.search(AuditFilter(action="footage.request", decision="deny"))
    assert [e.rule for e in denials] == ["purpose-required"]


def test_an_agency_sees_only_clips_shared_with_it(site: Site) -> None:
    owner, camera, person = site.owner("olu")
    site.upload(owner, camera, make_video())
    clip = site.svc.portal.list_clips(person)[0]
    request_id = site.file()
    officer = site.user("ida@police.example")
    unshared = officer.get(f"/ui/portal/requests/{request_id}/clips/{clip.id}/download")
    missing = officer.get(f"/ui/portal/requests/{request_id}/clips/no-such-clip/download")
    assert unshared.status_code == missing.status_code == 404
    assert "porch" not in officer.get(f"/ui/portal/requests/{request_id}").text.lower()
    site.svc.portal.share(person, request_id, [clip.id])
    other = site.user("oto@other.example")
    assert other.get(f"/ui/portal/requests/{request_id}").status_code == 404
    assert other.get(f"/ui/portal/requests/{request_id}/clips/{clip.id}/download").status_code == 404


def test_emergency_disclosure_needs_a_second_operator_and_the_owner_is_told(site: Site) -> None:
    owner, camera, person = site.owner("olu")
    site.upload(owner, camera, make_video())
    clip = site.svc.portal.list_clips(person)[0]
    ola, omar = site.user("ola@ops.example"), site.user("omar@ops.example")
    agencies = re.search(r'<select id="em-agency".*?</select>', ola.get("/ui/portal/emergency").text, re.S)
    assert agencies is not None and re.findall(r'<option value="([^"]*)"\s*selected', agencies[0]) == [""]
    form = {
        "agency": "hamilton-police",
        "case_number": "HPS-EMERG-1",
        "clip_ids": clip.id,
        "reason": "A child reported missing was last seen on this street an hour ago.",
        "csrf_token": csrf(ola, "/ui/portal/emergency"),
    }
    asked = ola.post("/ui/portal/emergency", data=form)
    assert asked.status_code == 200 and "another operator must approve it" in asked.text
    disclosure = site.svc.portal.emergency_disclosures(SETUP)[0]
    approve = f"/ui/portal/emergency/{disclosure.id}/approve"
    own = ola.post(approve, data={"csrf_token": csrf(ola, "/ui/portal/emergency")})
    assert own.status_code == 403 and "a different person must" in own.text
    assert site.svc.portal.emergency_disclosures(SETUP)[0].status == "pending"
    done = omar.post(approve, data={"csrf_token": csrf(omar, "/ui/portal/emergency")})
    assert done.status_code == 200 and "Ola Operator" in done.text and "Omar Operator" in done.text
    assert site.svc.portal.emergency_disclosures(SETUP)[0].status == "approved"
    inbox = owner.get("/ui/portal/inbox").text
    assert "emergency-notice" in inbox and "disclosed without your consent" in inbox
    assert "emergency disclosure" in site.client.get("/portal").text
    assert site.svc.audit.search(AuditFilter(action="footage.emergency_disclosure"))


def test_an_owner_who_opts_out_in_settings_is_never_asked(site: Site) -> None:
    owner, camera, person = site.owner("olu")
    site.upload(owner, camera, make_video())
    token = csrf(owner, "/ui/portal/settings")
    bad = owner.post(
        "/ui/portal/settings", data={"retention_days": "30", "share_contact": "1", "csrf_token": token}
    )
    assert bad.status_code == 400 and "give a contact" in bad.text
    form = {"retention_days": "30", "opted_out": "1", "contact": "", "csrf_token": token}
    saved = owner.post("/ui/portal/settings", data=form)
    assert saved.status_code == 200 and "Settings saved." in saved.text
    prefs = site.svc.portal.settings(person)
    assert prefs.opted_out and prefs.retention_days == 30
    site.file()
    assert site.svc.portal.inbox(person) == []
    assert "No requests." in owner.get("/ui/portal/inbox").text


def test_sharing_redacted_through_the_pages_previews_first_and_only_the_owner_answers_unredaction(
    site: Site,
) -> None:
    owner, camera, person = site.owner("olu")
    video = make_video(2.0)
    site.upload(owner, camera, video, "porch.mp4")
    mallory, _, _ = site.owner("mallory")
    clip = site.svc.portal.list_clips(person)[0]
    request_id = site.file()
    inbox = owner.get("/ui/portal/inbox").text
    assert re.search(rf'name="mode-{clip.id}" value="redacted" data-clip="{clip.id}" checked', inbox)
    share_url = f"/ui/portal/inbox/{request_id}/share"
    token = csrf(owner, "/ui/portal/inbox")

    # Redacted (the default): the page shows the copy; nothing is shared yet. Cancel deletes it.
    page = owner.post(
        share_url, data={"clip_id": clip.id, f"mode-{clip.id}": "redacted", "csrf_token": token}
    )
    assert page.status_code == 200 and "Nothing is shared yet" in page.text
    copy_id = re.search(r'name="copy-[^"]+" value="([^"]+)"', page.text)[1]  # type: ignore[index]
    played = owner.get(f"/ui/portal/previews/{copy_id}/video")
    assert (
        played.status_code == 200
        and hashlib.sha256(played.content).hexdigest() != hashlib.sha256(video).hexdigest()
    )
    assert mallory.get(f"/ui/portal/previews/{copy_id}/video").status_code == 404
    cancel = {"copy_id": copy_id, "csrf_token": csrf(mallory, "/ui/portal/inbox")}
    assert mallory.post("/ui/portal/previews/cancel", data=cancel).status_code == 404
    cancel["csrf_token"] = token
    assert owner.post("/ui/portal/previews/cancel", data=cancel).status_code == 200
    assert owner.get(f"/ui/portal/previews/{copy_id}/video").status_code == 404
    assert site.svc.portal.shared_clips(site.police, request_id) == []

    page = owner.post(share_url, data={"clip_id": clip.id, "csrf_token": token})  # no choice sent: redacted
    copy_id = re.search(r'name="copy-[^"]+" value="([^"]+)"', page.text)[1]  # type: ignore[index]
    form = {
        "clip_id": clip.id,
        f"mode-{clip.id}": "redacted",
        f"copy-{clip.id}": copy_id,
        "csrf_token": token,
    }
    assert owner.post(share_url, data=form).status_code == 200
    [shared] = site.svc.portal.shared_clips(site.police, request_id)
    assert shared.served == "redacted" and shared.redacted_copy is not None

    # The investigator downloads the copy, asks for the original; only the owner can give it.
    officer = site.user("ida@police.example")
    request_url = f"/ui/portal/requests/{request_id}"
    download = officer.get(f"{request_url}/clips/{clip.id}/download")
    assert download.headers["x-sha256"] == shared.redacted_copy.sha256 != hashlib.sha256(video).hexdigest()
    page = officer.get(request_url).text
    assert "faces redacted" in page and shared.redacted_copy.sha256 in page and clip.sha256 in page
    ask = {"reason": "too short", "case_number": CASE, "csrf_token": csrf(officer, request_url)}
    assert officer.post(f"{request_url}/clips/{clip.id}/unredaction", data=ask).status_code == 400
    ask["reason"] = "The man at the door at 14:02 is the suspect; we need his face to identify him."
    assert officer.post(f"{request_url}/clips/{clip.id}/unredaction", data=ask).status_code == 200
    [asked] = site.svc.portal.unredaction_requests(person)
    assert ask["reason"] in owner.get("/ui/portal/inbox").text
    forged = {"csrf_token": csrf(mallory, "/ui/portal/inbox")}
    assert mallory.post(f"/ui/portal/unredactions/{asked.id}/accept", data=forged).status_code == 404
    assert officer.get(f"{request_url}/clips/{clip.id}/download").content == download.content
    assert (
        owner.post(f"/ui/portal/unredactions/{asked.id}/accept", data={"csrf_token": token}).status_code
        == 200
    )
    assert officer.get(f"{request_url}/clips/{clip.id}/download").content == video


def test_emergency_approval_in_the_page_is_redacted_unless_a_reason_is_written(site: Site) -> None:
    owner, camera, person = site.owner("olu")
    video = make_video()
    site.upload(owner, camera, video)
    clip = site.svc.portal.list_clips(person)[0]
    ola, omar = site.user("ola@ops.example"), site.user("omar@ops.example")
    form = {
        "agency": "hamilton-police",
        "case_number": "HPS-EMERG-2",
        "clip_ids": clip.id,
        "reason": "A child reported missing was last seen on this street an hour ago.",
        "csrf_token": csrf(ola, "/ui/portal/emergency"),
    }
    assert ola.post("/ui/portal/emergency", data=form).status_code == 200
    disclosure = site.svc.portal.emergency_disclosures(SETUP)[0]
    approve = f"/ui/portal/emergency/{disclosure.id}/approve"
    token = csrf(omar, "/ui/portal/emergency")
    refused = omar.post(
        approve, data={"disclose": "unredacted", "unredacted_reason": "", "csrf_token": token}
    )
    assert refused.status_code == 400 and site.svc.portal.emergency_disclosures(SETUP)[0].status == "pending"
    done = omar.post(approve, data={"disclose": "redacted", "csrf_token": token})
    assert done.status_code == 200 and "redacted copies" in done.text
    approved = site.svc.portal.emergency_disclosures(SETUP)[0]
    assert approved.redacted is True and approved.request_id is not None
    [item] = site.svc.portal.shared_clips(site.police, approved.request_id)
    assert item.served == "redacted"
    officer = site.user("ida@police.example")
    got = officer.get(f"/ui/portal/requests/{approved.request_id}/clips/{clip.id}/download")
    assert got.status_code == 200 and got.content != video
    assert "copies with every face blurred" in owner.get("/ui/portal/inbox").text  # the owner is told
