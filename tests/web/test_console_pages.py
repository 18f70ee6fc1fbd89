"""The organisation console: detect, compare and search on real photos with boxes drawn, through the gate;
the moratorium notice instead of results for a police force; CSRF on every form."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from glasshouse.audit.service import AuditFilter
from glasshouse.config import Settings
from glasshouse.governance.actor import Actor
from glasshouse.governance.gate import RequestContext
from glasshouse.governance.policy import Capability
from glasshouse.http.app import create_app
from glasshouse.people.service import PersonInfo
from glasshouse.services import Services
from glasshouse.web.annotate import MATCH_COLOUR, OTHER_COLOUR, PROBE_COLOUR
from web_support import PASSWORD, signed_in
from web_support import csrf as session_csrf

DATA_URI = re.compile(r'src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"')
MORATORIUM = "police-moratorium-2020"


@dataclass
class World:
    app: FastAPI
    svc: Services
    people: dict[str, PersonInfo]
    examples: Path

    def client(self, who: str) -> TestClient:
        """A browser signed in as ``who`` through the login form."""
        return signed_in(self.app, self.people[who].email)

    def photo(self, name: str, field: str = "image") -> dict[str, tuple[str, bytes, str]]:
        return {field: (name, (self.examples / name).read_bytes(), "image/jpeg")}


def csrf(client: TestClient) -> str:
    return session_csrf(client, "/ui/console")


def pictures(html: str) -> list[np.ndarray]:
    return [
        np.asarray(Image.open(io.BytesIO(base64.b64decode(m))).convert("RGB")) for m in DATA_URI.findall(html)
    ]


def near(picture: np.ndarray, colour: tuple[int, int, int], tolerance: int = 40) -> int:
    """How many pixels have about this colour (JPEG shifts drawn colours a little)."""
    return int((np.abs(picture.astype(int) - np.array(colour)).max(axis=2) <= tolerance).sum())


@pytest.fixture
def world(settings: Settings, shared_data: Path) -> Iterator[World]:
    app = create_app(settings)
    svc: Services = app.state.services
    setup = Actor(org_id="", org_name="test-setup", surface="cli")
    shop = svc.organisations.create(setup, "shop", sector="commercial")
    police = svc.organisations.create(setup, "police", sector="law_enforcement")
    roles = {
        "shop-inv": (shop.id, ["investigator"]),
        "shop-rev": (shop.id, ["reviewer"]),
        "police-inv": (police.id, ["investigator", "org-admin"]),
    }
    people = {
        who: svc.people.create(setup, org, f"{who}@example.test", who.title(), PASSWORD, r)
        for who, (org, r) in roles.items()
    }
    examples = shared_data / "face_recognition/examples"
    svc.collections.create(shop.id, "staff")
    svc.collections.create(police.id, "suspects")
    enrol = Actor(org_id=shop.id, org_name="shop", surface="cli", is_operator=True)
    with svc.gate.guard(enrol, Capability.FACE_INDEX, RequestContext()):
        svc.collections.index_image(
            shop.id, "staff", (examples / "obama.jpg").read_bytes(), external_image_id="obama"
        )
    with TestClient(app):
        yield World(app, svc, people, examples)


def test_detect_draws_a_box_on_every_face(world: World) -> None:
    client = world.client("shop-inv")
    page = client.post(
        "/ui/console/detect", data={"csrf_token": csrf(client)}, files=world.photo("two_people.jpg")
    )
    assert page.status_code == 200
    assert "2 faces found" in page.text
    (drawn,) = pictures(page.text)
    original = np.asarray(Image.open(world.examples / "two_people.jpg").convert("RGB"))
    assert near(drawn, OTHER_COLOUR) > 10 * max(1, near(original, OTHER_COLOUR, 10))
    entries = world.svc.audit.search(AuditFilter(action="face.detect", decision="allow"))
    assert len(entries) == 1 and entries[0].surface == "ui"
    assert entries[0].details["faces"] == 2 and entries[0].details["image"].startswith("sha256:")


def test_compare_shows_the_similarity_on_both_images(world: World) -> None:
    client = world.client("shop-inv")
    files = {**world.photo("obama.jpg", "source"), **world.photo("obama2.jpg", "target")}
    page = client.post(
        "/ui/console/compare", data={"csrf_token": csrf(client), "threshold": "80"}, files=files
    )
    assert page.status_code == 200
    source, target = pictures(page.text)
    assert near(source, PROBE_COLOUR) > 100 and near(target, MATCH_COLOUR) > 100
    similarity = re.search(r'class="similarity">([0-9.]+)%', page.text)
    assert similarity is not None and 80 <= float(similarity[1]) <= 100


def test_search_finds_the_enrolled_face_without_a_lead_for_commercial_use(world: World) -> None:
    client = world.client("shop-inv")
    form = {"csrf_token": csrf(client), "collection": "staff", "purpose": "access_control"}
    page = client.post("/ui/console/search", data=form, files=world.photo("obama2.jpg"))
    assert page.status_code == 200
    assert ">obama<" in page.text and "Lead pending review" not in page.text
    (drawn,) = pictures(page.text)
    assert near(drawn, PROBE_COLOUR) > 100
    entry = world.svc.audit.search(AuditFilter(action="face.search"))[-1]
    assert entry.decision == "allow" and entry.purpose == "access_control" and entry.details["matches"] == 1


def test_police_see_the_moratorium_notice_instead_of_results(world: World) -> None:
    client = world.client("police-inv")
    console = client.get("/ui/console")
    assert console.status_code == 200 and MORATORIUM in console.text  # said before anyone tries
    token = csrf(client)
    obliged = {"csrf_token": token, "purpose": "criminal_investigation", "case_number": "CASE-9"}
    search = client.post(
        "/ui/console/search", data={**obliged, "collection": "suspects"}, files=world.photo("obama.jpg")
    )
    files = {**world.photo("obama.jpg", "source"), **world.photo("obama2.jpg", "target")}
    compare = client.post("/ui/console/compare", data=obliged, files=files)
    for page in (search, compare):
        assert page.status_code == 403
        assert "Not allowed by policy" in page.text
        assert f"rule &#39;{MORATORIUM}&#39;" in page.text and "glasshouse-default" in page.text
        assert "until further notice" in page.text
        assert "data:image/jpeg" not in page.text  # no result, no image
    denials = world.svc.audit.search(AuditFilter(org_name="police", decision="deny"))
    assert {e.action for e in denials} == {"face.search", "face.compare"}
    assert all(e.rule == MORATORIUM for e in denials)
    detect = client.post("/ui/console/detect", data={"csrf_token": token}, files=world.photo("obama.jpg"))
    assert detect.status_code == 200  # detection is not under the moratorium


def test_a_prohibited_purpose_is_refused_in_the_page(world: World) -> None:
    client = world.client("shop-inv")
    form = {"csrf_token": csrf(client), "purpose": "protest_monitoring"}
    page = client.post("/ui/console/detect", data=form, files=world.photo("obama.jpg"))
    assert page.status_code == 403 and "protest_monitoring" in page.text and "is prohibited" in page.text


def test_bad_uploads_and_unknown_collections(world: World) -> None:
    client = world.client("shop-inv")
    token = csrf(client)
    junk = {"image": ("x.jpg", b"not an image", "image/jpeg")}
    assert client.post("/ui/console/detect", data={"csrf_token": token}, files=junk).status_code == 400
    form = {"csrf_token": token, "collection": "suspects"}  # the police's collection: not the shop's
    assert client.post("/ui/console/search", data=form, files=world.photo("obama.jpg")).status_code == 404


def test_console_needs_the_role(world: World) -> None:
    assert world.client("shop-rev").get("/ui/console").status_code == 403


@pytest.mark.parametrize("route", ["detect", "compare", "search"])
def test_console_post_without_csrf_token_is_refused(world: World, route: str) -> None:
    client = world.client("shop-inv")
    files = {
        **world.photo("obama.jpg"),
        **world.photo("obama.jpg", "source"),
        **world.photo("obama2.jpg", "target"),
    }
    page = client.post(f"/ui/console/{route}", data={"collection": "staff"}, files=files)
    assert page.status_code == 403
    assert world.svc.audit.search(AuditFilter(action_prefix="face.", surface="ui")) == []
