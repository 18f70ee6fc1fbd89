"""Redaction pages: an investigator exports a redacted copy of a real (cut) clip through the page's form and
the gate, follows the job, reads the copy's chain-of-custody record and downloads it; CSRF (403), a kept
person without a reason (400), another organisation's job and copy (404), and a policy denial (403)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from clip_cuts import cut
from glasshouse.config import Settings
from glasshouse.governance import policy as pol
from glasshouse.governance.actor import Actor
from glasshouse.http.app import create_app
from glasshouse.jobs.runner import InProcessRunner, JobExecutor
from glasshouse.services import Services
from policy_support import add_rule
from web_support import PASSWORD, SETUP, signed_in
from web_support import csrf as session_csrf


@dataclass
class World:
    app: FastAPI
    svc: Services
    clip: bytes

    def client(self, email: str) -> TestClient:
        return signed_in(self.app, email)


@pytest.fixture(scope="module")
def short_clip(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    source = shared_data / "video/hamilton/short_hamilton_clip.mp4"
    return cut(source, tmp_path_factory.mktemp("clip") / "door.mp4", 1.0).read_bytes()


@pytest.fixture
def world(settings: Settings, short_clip: bytes) -> Iterator[World]:
    app = create_app(settings)
    svc: Services = app.state.services
    city = svc.organisations.create(SETUP, "city", sector="other_government")
    other = svc.organisations.create(SETUP, "other", sector="other_government")
    banned = svc.organisations.create(SETUP, "banned", sector="other_government", flags=["blocked"])
    svc.people.create(SETUP, city.id, "clerk@city.test", "Clerk", PASSWORD, ["investigator"])
    svc.people.create(SETUP, other.id, "adm@other.test", "Adm", PASSWORD, ["org-admin"])
    svc.people.create(SETUP, banned.id, "adm@banned.test", "Adm", PASSWORD, ["org-admin"])
    for org in (city, banned):
        svc.media.upload(Actor(org.id, org.name, "cli"), "door.mp4", iter([short_clip]), "video/mp4")
    deny = pol.Rule(
        id="deny-blocked-redact",
        description="test: no redaction for blocked organisations",
        effect="deny",
        capabilities=["media.redact"],
        sectors=["*"],
        require_flags=["blocked"],
        reason="blocked for this test",
    )
    add_rule(svc, SETUP, deny)
    yield World(app, svc, short_clip)
    svc.close()


def test_an_export_from_the_page_gives_a_downloadable_copy_with_its_record(world: World) -> None:
    client = world.client("clerk@city.test")
    page = client.get("/ui/redaction/")
    assert page.status_code == 200 and '<option value="door.mp4"' in page.text
    form = {
        "csrf_token": session_csrf(client, "/ui/redaction/"),
        "video": "door.mp4",
        "method": "blur",
        "keep_persons": "0",
        "reason": "the suspect, for a public appeal",
    }
    started = client.post("/ui/redaction/exports", data=form, follow_redirects=False)
    assert started.status_code == 303, started.text
    job_page = started.headers["location"]
    waiting = client.get(job_page)
    assert "IN_PROGRESS" in waiting.text and waiting.headers["refresh"] == "2"
    assert InProcessRunner(JobExecutor.from_services(world.svc)).run_pending() == 1
    done = client.get(job_page)
    assert "SUCCEEDED" in done.text and "refresh" not in done.headers
    [copy_link] = [part.split('"')[0] for part in done.text.split('href="')[1:] if "/copies/" in part]
    record = client.get(copy_link)
    assert record.status_code == 200
    assert hashlib.sha256(world.clip).hexdigest() in record.text  # the original's digest
    assert "the suspect, for a public appeal" in record.text and "person:" in record.text
    download = client.get(f"{copy_link}/download")
    assert download.status_code == 200 and download.content != world.clip
    assert hashlib.sha256(download.content).hexdigest() in record.text
    assert copy_link.rsplit("/", 1)[-1] in client.get("/ui/redaction/").text  # listed

    outsider = world.client("adm@other.test")
    assert outsider.get(job_page).status_code == 404
    assert outsider.get(copy_link).status_code == 404
    assert outsider.get(f"{copy_link}/download").status_code == 404


def test_csrf_a_reason_and_the_policy_are_required(world: World) -> None:
    client = world.client("clerk@city.test")
    assert client.post("/ui/redaction/exports", data={"video": "door.mp4"}).status_code == 403
    token = session_csrf(client, "/ui/redaction/")
    no_reason = {"csrf_token": token, "video": "door.mp4", "keep_persons": "0"}
    response = client.post("/ui/redaction/exports", data=no_reason)
    assert response.status_code == 400 and "reason" in response.text
    bad = {"csrf_token": token, "video": "door.mp4", "keep_persons": "0; drop table"}
    assert client.post("/ui/redaction/exports", data=bad).status_code == 400
    missing = {"csrf_token": token, "video": "../other/door.mp4"}
    assert client.post("/ui/redaction/exports", data=missing).status_code == 400
    denied_client = world.client("adm@banned.test")
    denied = {"csrf_token": session_csrf(denied_client, "/ui/redaction/"), "video": "door.mp4"}
    response = denied_client.post("/ui/redaction/exports", data=denied)
    assert response.status_code == 403 and "blocked for this test" in response.text
    for org in ("city", "banned"):
        assert world.svc.jobs.list(world.svc.organisations.get(org).id) == []  # nothing was started
