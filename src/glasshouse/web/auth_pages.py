"""Sign-in, sign-out and the home page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from glasshouse.people.service import AccountLockedError, AuthenticationError
from glasshouse.web.deps import (
    CSRF_COOKIE,
    LOGIN_PATH,
    SESSION_COOKIE,
    CsrfForm,
    CurrentUser,
    OptionalUser,
    Svc,
    WebUser,
    csrf_form,
    field,
    render,
    safe_next,
    set_session_cookie,
)

router = APIRouter()

#: (roles any of which opens it, link, title, what it is for)
AREAS: tuple[tuple[tuple[str, ...], str, str, str], ...] = (
    (
        ("operator",),
        "/ui/operator/",
        "Operator console",
        "Organisations, people, access keys, and the responsible-use policy and its moratorium.",
    ),
    (
        ("org-admin", "investigator", "camera-owner"),
        "/ui/console/",
        "Console",
        "Your organisation's collections and searches, through the policy gate.",
    ),
    (
        ("reviewer",),
        "/ui/review/",
        "Review queue",
        "Confirm or reject candidate matches before anyone acts on them.",
    ),
    (("auditor",), "/ui/audit/", "Audit log", "Search, verify and export the tamper-evident audit log."),
    (
        ("camera-owner",),
        "/ui/portal/inbox",
        "Your cameras and footage requests",
        "Register cameras, upload clips, and decide request by request what to share.",
    ),
    (
        ("investigator",),
        "/ui/portal/requests",
        "Footage requests",
        "File a public, bounded request for community footage in a case; download what residents shared.",
    ),
    (
        ("operator",),
        "/ui/portal/emergency",
        "Emergency disclosure",
        "Disclose clips without consent in an emergency: two operators and a written reason.",
    ),
)


def areas_for(user: WebUser) -> list[dict[str, Any]]:
    return [
        {"href": href, "title": title, "text": text} for roles, href, title, text in AREAS if user.has(*roles)
    ]


@router.get("/ui/login", include_in_schema=False)
def login_page(request: Request, user: OptionalUser, next: str | None = None) -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", {"next": safe_next(next)})


@router.post("/ui/login", include_in_schema=False)
def login(request: Request, form: CsrfForm, svc: Svc) -> Response:
    email, next_path = field(form, "email"), safe_next(field(form, "next"))
    password = form.get("password")
    context = {"next": next_path, "email": email}
    try:
        person = svc.people.authenticate(email, password if isinstance(password, str) else "")
    except AccountLockedError as exc:
        return render(request, "login.html", {**context, "error": exc.message}, status_code=429)
    except AuthenticationError as exc:
        return render(request, "login.html", {**context, "error": exc.message}, status_code=401)
    started = svc.people.start_session(person.id, replacing=request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse(next_path, status_code=303)
    set_session_cookie(request, response, started.token)
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.post("/ui/logout", include_in_schema=False)
async def logout(request: Request, user: OptionalUser, svc: Svc) -> Response:
    """Ends the session (CSRF-checked); without a live session there is nothing to end."""
    token = request.cookies.get(SESSION_COOKIE)
    if user is not None and token:
        await csrf_form(request, user)
        await run_in_threadpool(svc.people.end_session, token)
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/ui/", include_in_schema=False)
def home(request: Request, user: CurrentUser) -> Response:
    return render(request, "home.html", {"areas": areas_for(user)})
