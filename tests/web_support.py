"""Signing in through the real login form, for the UI tests (one recipe, used by every page test)."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

PASSWORD = "correct horse battery staple"
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
