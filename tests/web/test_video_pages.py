"""Video pages: start a face search on the real Hamilton clip through the page's form (and the gate), run it,
and read the job page's SVG timeline and face thumbnails; tenancy (404) and CSRF (403)."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from glasshouse.config import Settings
from glasshouse.governance.actor import Actor
from glasshouse.governance.gate import RequestContext
from glasshouse.governance.policy import Capability
from glasshouse.http.app import create_app
from glasshouse.jobs.runner import InProcessRunner, JobExecutor
from glasshouse.people.service import PersonInfo
from glasshouse.services import Services
from glasshouse.web.video import Person, merge_spans, person_timeline
from web_support import PASSWORD, signed_in
from web_support import csrf as session_csrf

THUMB = re.compile(r'<img src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)" alt="Face of ([^"]+) at')
SETUP = Actor(org_id="", org_name="test-setup", surface="cli")


@dataclass
class World:
    app: FastAPI
    svc: Services
    people: dict[str, PersonInfo]

    def client(self, who: str) -> TestClient:
        """A browser signed in as ``who`` through the login form."""
        return signed_in(self.app, self.people[who].email)


def csrf(client: TestClient) -> str:
    return session_csrf(client, "/ui/video/")


@pytest.fixture
def world(settings: Settings, shared_data: Path) -> Iterator[World]:
    app = create_app(settings)
    svc: Services = app.state.services
    studio = svc.organisations.create(SETUP, "studio", sector="commercial")
    other = svc.organisations.create(SETUP, "other", sector="commercial")
    people = {
        "studio-inv": svc.people.create(
            SETUP, studio.id, "inv@studio.test", "Inv", PASSWORD, ["investigator"]
        ),
        "other-admin": svc.people.create(SETUP, other.id, "adm@other.test", "Adm", PASSWORD, ["org-admin"]),
    }
    hamilton = shared_data / "video/hamilton"
    actor = Actor(org_id=studio.id, org_name=studio.name, surface="cli")
    clip = (hamilton / "short_hamilton_clip.mp4").read_bytes()
    svc.media.upload(actor, "hamilton.mp4", iter([clip]), "video/mp4")
    svc.collections.create(studio.id, "cast")
    with svc.gate.guard(actor, Capability.FACE_INDEX, RequestContext()):
        for name in ("lin-manuel-miranda", "alex-lacamoire"):
            svc.collections.index_image(
                studio.id,
                "cast",
                (hamilton / f"{name}.png").read_bytes(),
                external_image_id=name,
                max_faces=1,
            )
    yield World(app, svc, people)
    svc.close()


def test_face_search_job_page_shows_who_appears_when(world: World) -> None:
    client = world.client("studio-inv")
    form = {"csrf_token": csrf(client), "video": "hamilton.mp4", "collection": "cast", "threshold": "80"}
    started = client.post("/ui/video/search", data=form, follow_redirects=False)
    assert started.status_code == 303, started.text
    job_page = started.headers["location"]
    assert job_page.startswith("/ui/video/jobs/")

    waiting = client.get(job_page)
    assert waiting.status_code == 200 and "IN_PROGRESS" in waiting.text
    assert '<meta http-equiv="refresh" content="2">' in waiting.text and waiting.headers["refresh"] == "2"
    listing = client.get("/ui/video/")
    assert job_page in listing.text and "hamilton.mp4" in listing.text

    assert InProcessRunner(JobExecutor.from_services(world.svc)).run_pending() == 1
    page = client.get(job_page)
    assert page.status_code == 200 and "SUCCEEDED" in page.text
    assert 'http-equiv="refresh"' not in page.text and "refresh" not in page.headers
    svg = page.text[page.text.index("<svg") : page.text.index("</svg>")]
    assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
    assert ">lin-manuel-miranda</text>" in svg and 'class="span"' in svg
    assert "FrameWidth" not in page.text and "640 × 360" in page.text  # the video's metadata, readable
    thumbs = {name: data for data, name in THUMB.findall(page.text)}
    assert "lin-manuel-miranda" in thumbs
    face = Image.open(io.BytesIO(base64.b64decode(thumbs["lin-manuel-miranda"])))
    assert face.format == "JPEG" and 20 <= max(face.size) <= 160  # a face crop, not the whole frame
    assert "lin-manuel-miranda</td>" in page.text  # the table of spans


def test_another_organisations_job_is_not_found_and_csrf_is_required(world: World) -> None:
    client = world.client("studio-inv")
    form = {"csrf_token": csrf(client), "video": "hamilton.mp4"}
    job_page = client.post("/ui/video/detect", data=form, follow_redirects=False).headers["location"]
    outsider = world.client("other-admin")
    assert outsider.get(job_page).status_code == 404
    assert job_page not in outsider.get("/ui/video/").text
    refused = client.post("/ui/video/search", data={"video": "hamilton.mp4", "collection": "cast"})
    assert refused.status_code == 403
    assert len(world.svc.jobs.list(world.people["studio-inv"].org_id)) == 1  # only the detection job


def test_spans_merge_sightings_within_a_second() -> None:
    spans = merge_spans([900, 1233, 1900, 2800, 4500, 4600])
    assert [(s.start_ms, s.end_ms, s.sightings) for s in spans] == [(900, 2800, 4), (4500, 4600, 2)]
    svg = person_timeline([Person("a<b", "f1", [1000, 1500])], 10_000)
    assert "a&lt;b" in svg and "a<b" not in svg


def test_a_video_is_uploaded_from_the_page_streamed_or_as_a_form(world: World, shared_data: Path) -> None:
    """The page's script streams the file (PUT with the session's CSRF token in a header); the plain form is
    the fallback. Both store it for the organisation; no token, another organisation or not a video: refused,
    nothing stored."""
    client = world.client("studio-inv")
    clip = (shared_data / "video/hamilton/short_hamilton_clip.mp4").read_bytes()
    org_id = world.people["studio-inv"].org_id
    token = csrf(client)

    streamed = client.put(
        "/ui/video/uploads/porch.mp4",
        content=iter([clip[:100_000], clip[100_000:]]),  # chunked, as a browser streams it
        headers={"X-CSRF-Token": token, "Content-Type": "video/mp4"},
    )
    assert streamed.status_code == 201, streamed.text
    assert streamed.json()["size"] == len(clip)
    assert "porch.mp4" in {m.name for m in world.svc.media.list(org_id)}

    for headers in ({"Content-Type": "video/mp4"}, {"X-CSRF-Token": "forged", "Content-Type": "video/mp4"}):
        refused = client.put("/ui/video/uploads/forged.mp4", content=clip, headers=headers)
        assert refused.status_code == 403
    not_video = client.put(
        "/ui/video/uploads/notes.txt",
        content=b"hello",
        headers={"X-CSRF-Token": token, "Content-Type": "text/plain"},
    )
    assert not_video.status_code == 400
    outsider = world.client("other-admin")
    assert (
        outsider.put("/ui/video/uploads/x.mp4", content=clip, headers={"X-CSRF-Token": token}).status_code
        == 403
    )
    assert {m.name for m in world.svc.media.list(org_id)} == {"hamilton.mp4", "porch.mp4"}

    posted = client.post(
        "/ui/video/uploads",
        data={"csrf_token": token, "name": "garden.mp4"},
        files={"file": ("clip.mp4", clip, "video/mp4")},
        follow_redirects=False,
    )
    assert posted.status_code == 303
    page = client.get(posted.headers["location"]).text
    assert "Stored garden.mp4." in page and '<option value="garden.mp4"' in page
    assert "PUT /v1/media" not in page
