"""Signing in and out of the web UI: redirects, wrong passwords, lockout, cookies."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from clock import ManualClock
from glasshouse.audit.service import AuditFilter
from glasshouse.config import Settings
from glasshouse.governance.actor import Actor
from glasshouse.http.app import create_app
from glasshouse.services import Services
from web_support import csrf_of

SETUP = Actor(org_id="", org_name="test-setup", surface="cli", is_operator=True)
PASSWORD = "correct horse battery staple"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2030, 1, 1, 9, 0, tzinfo=UTC))


@pytest.fixture
def svc(settings: Settings, clock: ManualClock) -> Iterator[Services]:
    services = Services(settings, clock=clock)
    acme = services.organisations.create(SETUP, "acme", sector="commercial")
    services.people.create(SETUP, acme, "rev@example.org", "Rita Reviewer", PASSWORD, ["reviewer"])
    yield services
    services.close()


@pytest.fixture
def client(svc: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services=svc)) as c:
        yield c


def sign_in(client: TestClient, email: str, password: str = PASSWORD, next: str = "/ui/") -> httpx.Response:
    token = csrf_of(client.get("/ui/login").text)
    data = {"email": email, "password": password, "csrf_token": token, "next": next}
    response: httpx.Response = client.post("/ui/login", data=data, follow_redirects=False)
    return response


def test_unauthenticated_pages_redirect_to_login_with_next(client: TestClient) -> None:
    for path, quoted in [("/ui/", "%2Fui%2F"), ("/ui/operator/policy", "%2Fui%2Foperator%2Fpolicy")]:
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == f"/ui/login?next={quoted}"
    page = client.get("/ui/login?next=/ui/operator/policy")
    assert page.status_code == 200 and 'value="/ui/operator/policy"' in page.text


def test_sign_in_sets_a_hardened_cookie_and_goes_where_asked(client: TestClient, svc: Services) -> None:
    response = sign_in(client, "REV@example.org", next="/ui/?x=1")
    assert response.status_code == 303 and response.headers["location"] == "/ui/?x=1"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("glasshouse_session="))
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/"} <= flags
    assert "secure" not in flags  # plain http here; see the https test
    home = client.get("/ui/")
    assert home.status_code == 200 and "Rita Reviewer" in home.text
    assert 'href="/ui/review/"' in home.text and 'href="/ui/operator/"' not in home.text
    [entry] = svc.audit.search(AuditFilter(action="person.sign_in"))
    assert entry.actor_person == svc.people.get_by_email("rev@example.org").id and entry.surface == "ui"


def test_cookie_is_secure_over_https(svc: Services) -> None:
    with TestClient(create_app(services=svc), base_url="https://testserver") as client:
        response = sign_in(client, "rev@example.org")
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("glasshouse_session="))
    assert "secure" in {part.strip().lower() for part in cookie.split(";")}


def test_next_never_leaves_the_ui(client: TestClient) -> None:
    for evil in ["https://evil.example/", "//evil.example/ui", "/ui\\@evil.example", "/transparency"]:
        client.cookies.clear()
        assert sign_in(client, "rev@example.org", next=evil).headers["location"] == "/ui/"


def test_wrong_password_and_unknown_email_get_the_same_answer(client: TestClient) -> None:
    wrong = sign_in(client, "rev@example.org", "not the password!")
    unknown = sign_in(client, "nobody@example.org", "not the password!")
    assert wrong.status_code == unknown.status_code == 401
    assert "wrong email or password" in wrong.text and "wrong email or password" in unknown.text
    assert "glasshouse_session" not in client.cookies
    assert client.get("/ui/", follow_redirects=False).status_code == 303


def test_lockout_after_five_failures_and_unlock_after_fifteen_minutes(
    client: TestClient, clock: ManualClock
) -> None:
    for _ in range(5):
        assert sign_in(client, "rev@example.org", "not the password!").status_code == 401
    locked = sign_in(client, "rev@example.org")
    assert locked.status_code == 429 and "too many failed sign-ins" in locked.text
    clock.now += timedelta(minutes=15)
    assert sign_in(client, "rev@example.org").status_code == 303
    assert client.get("/ui/").status_code == 200


def test_sign_out_ends_the_session_for_good(client: TestClient) -> None:
    sign_in(client, "rev@example.org")
    old = client.cookies["glasshouse_session"]
    home = client.get("/ui/")
    response = client.post("/ui/logout", data={"csrf_token": csrf_of(home.text)}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/ui/login"
    assert "glasshouse_session" not in client.cookies
    client.cookies.set("glasshouse_session", old)  # a copy of the old cookie is useless
    assert client.get("/ui/", follow_redirects=False).status_code == 303
