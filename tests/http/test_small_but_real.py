"""Issue 12, item 8: every invalid policy is a typed 400 naming the problem; no API docs loaded from a CDN;
``X-Content-Type-Options: nosniff`` on every response."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from glasshouse.config import Settings
from glasshouse.governance.actor import Actor
from glasshouse.http.app import create_app
from glasshouse.services import Services

SETUP = Actor(org_id="", org_name="test-setup", surface="cli", is_operator=True)


@pytest.fixture
def client(settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    svc = Services(settings)
    ops = svc.organisations.create(SETUP, "operators", sector="other_government", is_operator=True)
    key = svc.keys.create(ops.id)
    with TestClient(create_app(services=svc)) as c:
        yield c, {"Authorization": f"Bearer {key.access_key_id}:{key.secret}"}
    svc.close()


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({}, "name"),
        ([], "<document>"),
        (None, "<document>"),
        ("policy", "<document>"),
        ({"name": "p", "rules": [{"id": "r"}]}, "rules.0"),
        ({"name": "p", "rules": "all"}, "rules"),
        ({"name": "p", "rules": [], "extra": 1}, "extra"),
    ],
)
def test_an_invalid_policy_is_a_typed_400_naming_the_problem(
    client: tuple[TestClient, dict[str, str]], document: Any, named: str
) -> None:
    c, auth = client
    before = c.get("/v1/policy", headers=auth).json()["version"]
    r = c.put("/v1/policy", json={"document": document, "reason": "0"}, headers=auth)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "InvalidParameter" and named in error["message"], error
    assert c.get("/v1/policy", headers=auth).json()["version"] == before  # nothing changed


def test_a_valid_policy_still_replaces_the_active_one(client: tuple[TestClient, dict[str, str]]) -> None:
    c, auth = client
    current = c.get("/v1/policy", headers=auth).json()
    r = c.put("/v1/policy", json={"document": current["document"], "reason": "same again"}, headers=auth)
    assert r.status_code == 200 and r.json()["version"] == current["version"] + 1


def test_no_docs_pages_that_load_from_a_cdn(client: tuple[TestClient, dict[str, str]]) -> None:
    c, _ = client
    assert c.get("/docs").status_code == 404
    assert c.get("/redoc").status_code == 404
    assert c.get("/openapi.json").json()["info"]["title"] == "Glasshouse"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/openapi.json"),
        ("GET", "/health"),
        ("GET", "/version"),
        ("GET", "/metrics"),
        ("POST", "/"),
        ("GET", "/v1/policy"),
        ("GET", "/v1/portal/requests"),
        ("GET", "/nothing-here"),
        ("GET", "/ui/login"),
        ("GET", "/transparency"),
    ],
)
def test_every_response_says_nosniff(
    client: tuple[TestClient, dict[str, str]], method: str, path: str
) -> None:
    c, _ = client
    r = c.request(method, path)
    assert r.headers["x-content-type-options"] == "nosniff", (path, r.status_code)


def _api_routes(routes: list[Any]) -> Iterator[Any]:
    from fastapi.routing import APIRoute

    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None)  # FastAPI keeps included routers nested
        if inner is not None:
            yield from _api_routes(list(inner.routes))


def test_every_header_authenticated_route_authenticates_before_reading_its_body(settings: Settings) -> None:
    """A new router that forgets ``route_class=HeadersFirstRoute`` would parse bodies before the Bearer
    check again: every route that needs a header credential must be one."""
    from glasshouse.rest.auth import HeadersFirstRoute, header_checks

    svc = Services(settings)
    try:
        routes = list(_api_routes(create_app(services=svc).router.routes))
    finally:
        svc.close()
    guarded = [r for r in routes if header_checks(r.dependant)]
    assert len(guarded) > 40
    assert [r.path for r in guarded if not isinstance(r, HeadersFirstRoute)] == []
