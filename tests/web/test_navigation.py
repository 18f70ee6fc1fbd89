"""Every role sees exactly the areas it may open: each link in the navigation and on the home page opens
(no link ends in a 403), and pages a role may not open are not offered."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from glasshouse.config import Settings
from glasshouse.http.app import create_app
from glasshouse.people.models import ROLES
from glasshouse.services import Services
from glasshouse.web import areas, collections, redaction, video
from web_support import PASSWORD, SETUP, csrf, signed_in

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


def _routes(router: APIRouter) -> list[tuple[str, str]]:
    return [
        (method, route.path)
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in sorted(route.methods - {"HEAD"})
    ]


#: The pages and forms of the areas added last (their whole routers) and the portal's redacted-sharing
#: routes, with the roles that may use them.
DEEP_ROUTES: list[tuple[frozenset[str], list[tuple[str, str]]]] = [
    (frozenset(areas.REDACTION.roles), _routes(redaction.router)),
    (frozenset(areas.VIDEO.roles), _routes(video.router)),
    (frozenset(areas.COLLECTIONS.roles), _routes(collections.router)),
    (
        frozenset({"camera-owner"}),
        [
            ("GET", "/ui/portal/previews/{copy_id}/video"),
            ("POST", "/ui/portal/previews/cancel"),
            ("POST", "/ui/portal/unredactions/{unredaction_id}/{answer}"),
        ],
    ),
    (frozenset({"investigator"}), [("POST", "/ui/portal/requests/{request_id}/clips/{clip_id}/unredaction")]),
    (frozenset({"operator"}), [("POST", "/ui/portal/emergency/{disclosure_id}/approve")]),
]


@pytest.mark.parametrize("role", ROLES)
def test_no_page_or_form_of_the_new_areas_opens_to_a_role_without_them(app: FastAPI, role: str) -> None:
    """Every route (not only the area's front page) refuses a role that may not use it, with a valid CSRF
    token and made-up ids, before it looks anything up: 403, whatever the ids."""
    client = signed_in(app, f"{role}@example.org")
    token = csrf(client)
    tried = 0
    for allowed, routes in DEEP_ROUTES:
        if role in allowed:
            continue
        for method, path in routes:
            url = re.sub(r"\{[a-z_]+(:path)?\}", "x", path).replace("/x/x", "/x/accept")
            headers = {"x-csrf-token": token}
            got = client.request(
                method, url, data={"csrf_token": token} if method == "POST" else None, headers=headers
            )
            assert got.status_code == 403, (role, method, path, got.status_code)
            tried += 1
    assert tried > 0 or role == "operator"
    if role not in areas.VIDEO.roles:  # before: any signed-in person could stream a video into the store
        put = client.put(
            "/ui/video/uploads/cams/door.mp4",
            content=b"\x00\x00\x00\x18ftypmp42",
            headers={"x-csrf-token": token, "content-type": "video/mp4"},
        )
        assert put.status_code == 403
        svc: Services = app.state.services
        assert all(svc.media.list(org.id) == [] for org in svc.organisations.get_all())


def _ui_writes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) under /ui that writes, from the app's own routers."""
    found = []
    for included in app.router.routes:
        for route in getattr(getattr(included, "original_router", None), "routes", [included]):
            if isinstance(route, APIRoute) and route.path.startswith("/ui"):
                found += [(m, route.path) for m in sorted(route.methods - {"GET", "HEAD"})]
    return found


def test_every_form_refuses_a_missing_wrong_or_borrowed_csrf_token(app: FastAPI) -> None:
    """Every write under /ui (the collections, video, redaction and portal forms included), posted by each
    role and signed out, with no token, a wrong one or another session's real one: 403, and the person the
    form is for is told about the security token. Nothing is stored."""
    clients = {role: signed_in(app, f"{role}@example.org") for role in ROLES}
    borrowed = csrf(signed_in(app, "operator@example.org"))  # a real token of another session
    anonymous = TestClient(app)
    writes = _ui_writes(app)
    assert len(writes) > 40
    for method, path in writes:
        url = re.sub(r"\{[a-z_]+(:path)?\}", "x", path).replace("/x/x", "/x/accept")
        told = False
        public = path in ("/ui/login", "/ui/logout", "/ui/portal/signup")  # signed out: tested elsewhere
        for client in [*clients.values(), *([] if public else [anonymous])]:
            for token in (None, "wrong", borrowed):
                form = {} if token is None else {"csrf_token": token}
                headers = {} if token is None else {"x-csrf-token": token}
                got = client.request(method, url, data=form, headers=headers, follow_redirects=False)
                if client is anonymous:  # to the sign-in page, nothing done
                    refused = got.status_code == 303 and "/ui/login" in got.headers["location"]
                else:
                    refused = got.status_code == 403
                assert refused, (method, path, token, got.status_code)
                told = told or "security token" in got.text
        assert told, (method, path)
    svc: Services = app.state.services
    assert all(svc.media.list(org.id) == [] for org in svc.organisations.get_all())
    assert all(svc.collections.get_all(org.id) == [] for org in svc.organisations.get_all())
