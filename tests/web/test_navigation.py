"""Every role sees exactly the areas it may open: each link in the navigation and on the home page opens
(no link ends in a 403), and pages a role may not open are not offered."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from glasshouse.config import Settings
from glasshouse.http.app import create_app
from glasshouse.people.models import ROLES
from glasshouse.services import Services
from glasshouse.web import areas
from web_support import PASSWORD, SETUP, signed_in

#: Organisation (name, sector, is_operator) each role's person belongs to.
HOME_OF = {
    "operator": ("ops", "other_government", True),
    "auditor": ("ops", "other_government", True),
    "org-admin": ("acme", "commercial", False),
    "reviewer": ("acme", "commercial", False),
    "investigator": ("police", "law_enforcement", False),
}
NAV = re.compile(r'<nav aria-label="Main">(.*?)</nav>', re.S)
CARDS = re.compile(r'<ul class="cards">(.*?)</ul>', re.S)
HREF = re.compile(r'href="(/ui/[^"]*)"')


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    svc = Services(settings)
    orgs = {}
    for name, sector, is_operator in set(HOME_OF.values()):
        orgs[name] = svc.organisations.create(SETUP, name, sector=sector, is_operator=is_operator)
    for role, (org, _, _) in HOME_OF.items():
        svc.people.create(SETUP, orgs[org], f"{role}@example.org", role.title(), PASSWORD, [role])
    application = create_app(services=svc)
    owner = TestClient(application).post(
        "/v1/portal/signup",
        json={"email": "camera-owner@example.org", "name": "Owner", "password": PASSWORD},
    )
    assert owner.status_code == 201, owner.text
    yield application
    svc.close()


@pytest.mark.parametrize("role", ROLES)
def test_every_link_a_role_is_shown_opens(app: FastAPI, role: str) -> None:
    client = signed_in(app, f"{role}@example.org")
    home = client.get("/ui/")
    assert home.status_code == 200
    nav = set(HREF.findall(NAV.search(home.text)[1])) - {"/ui/"}
    cards = set(HREF.findall(CARDS.search(home.text)[1]))
    expected = {area.href for area in areas.open_to({role})}
    assert nav == expected and cards == expected
    for href in sorted(expected):
        assert client.get(href).status_code == 200, f"{role} is shown {href} but cannot open it"
    for area in areas.AREAS:
        if area.href not in expected:
            assert client.get(area.href).status_code == 403, f"{role} may open {area.href} unshown"


def test_camera_owners_are_not_offered_the_console(app: FastAPI) -> None:
    home = signed_in(app, "camera-owner@example.org").get("/ui/").text
    assert "/ui/console/" not in home and "/ui/portal/inbox" in home
