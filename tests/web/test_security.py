"""Web UI security: session fixation, CSRF on every form (login included), role checks, headers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from glasshouse import web
from glasshouse.config import Settings
from glasshouse.governance.actor import Actor
from glasshouse.http.app import create_app
from glasshouse.services import Services
from glasshouse.web import auth_pages, operator
from web_support import csrf_of

SETUP = Actor(org_id="", org_name="test-setup", surface="cli", is_operator=True)
PASSWORD = "correct horse battery staple"
HOST = "testserver.local"  # the cookie jar's domain for TestClient's http://testserver
#: Every POST route of the sign-in pages and the operator console (a new one must be added here).
POST_ROUTES = {
    "/ui/login",
    "/ui/logout",
    "/ui/operator/organisations",
    "/ui/operator/organisations/{name}",
    "/ui/operator/organisations/{name}/approvals",
    "/ui/operator/people",
    "/ui/operator/people/{person_id}/roles",
    "/ui/operator/keys",
    "/ui/operator/keys/{access_key_id}/revoke",
    "/ui/operator/policy/rules/{rule_id}/{action}",
}
OPERATOR_PAGES = [
    "/ui/operator/",
    "/ui/operator/organisations",
    "/ui/operator/organisations/acme",
    "/ui/operator/people",
    "/ui/operator/keys",
    "/ui/operator/policy",
]


@pytest.fixture
def svc(settings: Settings) -> Iterator[Services]:
    services = Services(settings)
    ops = services.organisations.create(SETUP, "ops", sector="commercial", is_operator=True)
    acme = services.organisations.create(SETUP, "acme", sector="commercial")
    services.people.create(SETUP, ops, "op@example.org", "Olive Operator", PASSWORD, ["operator"])
    services.people.create(SETUP, acme, "rev@example.org", "Rita Reviewer", PASSWORD, ["reviewer"])
    yield services
    services.close()


@pytest.fixture
def client(svc: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services=svc)) as c:
        yield c


def sign_in(client: TestClient, email: str) -> str:
    """Signs in; returns the session's CSRF token."""
    token = csrf_of(client.get("/ui/login").text)
    data = {"email": email, "password": PASSWORD, "csrf_token": token, "next": "/ui/"}
    assert client.post("/ui/login", data=data, follow_redirects=False).status_code == 303
    return csrf_of(client.get("/ui/").text)


def test_session_fixation_a_preset_cookie_is_never_the_signed_in_one(client: TestClient) -> None:
    client.cookies.set("glasshouse_session", "attacker-chosen-token-0123456789", domain=HOST)
    sign_in(client, "rev@example.org")
    first = client.cookies["glasshouse_session"]
    assert first != "attacker-chosen-token-0123456789"
    sign_in(client, "rev@example.org")  # signing in again rotates the session...
    second = client.cookies["glasshouse_session"]
    assert second != first
    with TestClient(client.app) as other:  # ...and the old one is useless
        other.cookies.set("glasshouse_session", first, domain=HOST)
        assert other.get("/ui/", follow_redirects=False).status_code == 303
        other.cookies.set("glasshouse_session", second, domain=HOST)
        assert other.get("/ui/").status_code == 200


def test_login_csrf_is_refused(client: TestClient, svc: Services) -> None:
    credentials = {"email": "rev@example.org", "password": PASSWORD}
    assert client.post("/ui/login", data=credentials).status_code == 403  # no token, no cookie
    token = csrf_of(client.get("/ui/login").text)  # sets the double-submit cookie
    assert client.post("/ui/login", data={**credentials, "csrf_token": "forged"}).status_code == 403
    assert client.post("/ui/login", data=credentials).status_code == 403
    client.cookies.delete("glasshouse_csrf")  # a token without its cookie (another browser's form)
    refused = client.post("/ui/login", data={**credentials, "csrf_token": token}, follow_redirects=False)
    assert refused.status_code == 403 and "glasshouse_session" not in client.cookies


def test_every_post_route_is_listed() -> None:
    routes = [*auth_pages.router.routes, *operator.router.routes]
    assert {r.path for r in routes if isinstance(r, APIRoute) and "POST" in (r.methods or ())} == POST_ROUTES


def test_every_post_route_refuses_a_missing_or_wrong_csrf_token(client: TestClient, svc: Services) -> None:
    sign_in(client, "rev@example.org")
    other_session = TestClient(client.app)
    other_token = sign_in(other_session, "op@example.org")  # a real token, of another session
    sign_in(client, "op@example.org")
    person_id = svc.people.get_by_email("rev@example.org").id
    key = svc.keys.create(svc.organisations.get("acme").id)
    posts: dict[str, dict[str, str]] = {
        "/ui/login": {"email": "op@example.org", "password": PASSWORD},
        "/ui/logout": {},
        "/ui/operator/organisations": {"name": "evil", "sector": "commercial"},
        "/ui/operator/organisations/acme": {"sector": "research", "reason": "x"},
        "/ui/operator/organisations/acme/approvals": {"kind": "accountability_report", "reference": "r"},
        "/ui/operator/people": {"org": "acme", "email": "e@example.org", "name": "E", "password": PASSWORD},
        f"/ui/operator/people/{person_id}/roles": {"roles": "auditor"},
        "/ui/operator/keys": {"org": "acme"},
        f"/ui/operator/keys/{key.access_key_id}/revoke": {"org": "acme"},
        "/ui/operator/policy/rules/police-moratorium-2020/lift": {"reason": "x"},
        "/ui/operator/policy/rules/police-moratorium-2020/extend": {"reason": "x", "until": "further-notice"},
        "/ui/operator/policy/rules/police-moratorium-2020/reimpose": {"reason": "x"},
    }
    version = svc.policies.active()[0]
    for path, data in posts.items():
        for token in (None, "", "wrong", other_token):
            body = data if token is None else {**data, "csrf_token": token}
            response = client.post(path, data=body, follow_redirects=False)
            assert response.status_code == 403, (path, token, response.status_code)
            assert "security token" in response.text
    # Nothing happened: same policy, organisation, roles, people, keys; still signed in.
    assert svc.policies.active()[0] == version
    assert svc.organisations.get("acme").sector == "commercial"
    assert svc.organisations.approvals(svc.organisations.get("acme").id) == []
    assert svc.people.get(person_id).roles == {"reviewer"}
    assert len(svc.people.list()) == 2 and [k.active for k in svc.keys.list()] == [True]
    assert client.get("/ui/").status_code == 200


def test_a_reviewer_cannot_use_the_operator_console(client: TestClient, svc: Services) -> None:
    token = sign_in(client, "rev@example.org")
    for path in OPERATOR_PAGES:
        response = client.get(path)
        assert response.status_code == 403, path
        assert "needs the role operator" in response.text and "<html" in response.text
    response = client.post(
        "/ui/operator/policy/rules/police-moratorium-2020/lift", data={"csrf_token": token, "reason": "x"}
    )
    assert response.status_code == 403
    assert "Lifted" not in str(svc.policies.active()[1].rule("police-moratorium-2020").history)


def _security_headers(response: httpx.Response) -> None:
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_security_headers_on_ui_responses(client: TestClient) -> None:
    for response in [client.get("/ui/login"), client.get("/ui/nope"), client.get("/static/style.css")]:
        _security_headers(response)
    sign_in(client, "op@example.org")
    for path in ["/ui/", *OPERATOR_PAGES]:
        response = client.get(path)
        _security_headers(response)
        assert response.headers["cache-control"] == "no-store"


def test_errors_outside_the_ui_keep_their_json_shapes(client: TestClient) -> None:
    rest = client.get("/v1/policy")
    assert rest.status_code == 401 and rest.json()["error"]["code"] == "Unauthenticated"
    assert client.get("/no-such-path").json() == {"detail": "Not Found"}
    page = client.get("/ui/no-such-page")
    assert page.status_code == 404 and "there is no such page" in page.text


def test_templates_have_no_inline_script_or_event_handlers() -> None:
    """The CSP forbids them; a template that relied on one would silently break."""
    for template in (Path(web.__file__).parent / "templates").rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template
        assert not re.search(r"\son[a-z]+\s*=", text), template
        assert "style=" not in text, template


def test_user_text_is_escaped(client: TestClient, svc: Services) -> None:
    svc.people.create(SETUP, "acme", "x@example.org", "<script>alert(1)</script>", PASSWORD)
    sign_in(client, "op@example.org")
    page = client.get("/ui/operator/people").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
