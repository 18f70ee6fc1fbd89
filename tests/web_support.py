"""Signing in through the real login form, for the UI tests (one recipe, used by every page test), and the
set-up those tests share: the set-up actor and cheap password hashes."""

from __future__ import annotations

import re

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from glasshouse.governance.actor import Actor
from glasshouse.people import passwords

PASSWORD = "correct horse battery staple"
#: The operator-like actor tests create organisations and people with.
SETUP = Actor(org_id="", org_name="test-setup", surface="cli", is_operator=True)
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = TOKEN.search(html)
    assert found, "no csrf_token field on the page"
    return found[1]


def signed_in(app: FastAPI, email: str, password: str = PASSWORD) -> TestClient:
    """A browser-like client signed in as ``email`` (no lifespan: background runners do not start)."""
    client = TestClient(app)
    form = {
        "email": email,
        "password": password,
        "csrf_token": csrf_of(client.get("/ui/login").text),
        "next": "/ui/",
    }
    assert client.post("/ui/login", data=form, follow_redirects=False).status_code == 303
    return client


def csrf(client: TestClient, page: str = "/ui/") -> str:
    """The signed-in session's CSRF token, read from ``page``'s forms."""
    return csrf_of(client.get(page).text)


def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap Argon2 parameters for passwords (until ``monkeypatch`` is undone): fast sign-ups and sign-ins."""
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
