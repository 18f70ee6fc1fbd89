"""Signing in through the real login form, for the UI tests (one recipe, used by every page test)."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

PASSWORD = "correct horse battery staple"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def signed_in(app: FastAPI, email: str, password: str = PASSWORD) -> TestClient:
    """A browser-like client signed in as ``email`` (no lifespan: background runners do not start)."""
    client = TestClient(app)
    token = TOKEN.search(client.get("/ui/login").text)
    assert token is not None
    form = {"email": email, "password": password, "csrf_token": token[1], "next": "/ui/"}
    assert client.post("/ui/login", data=form, follow_redirects=False).status_code == 303
    return client


def csrf(client: TestClient, page: str = "/ui/") -> str:
    """The signed-in session's CSRF token, read from ``page``'s forms."""
    found = TOKEN.search(client.get(page).text)
    assert found is not None
    return found[1]
