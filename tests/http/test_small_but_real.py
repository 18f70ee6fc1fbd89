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
