"""Sign-in, sign-out and the home page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from glasshouse.people.service import AccountLockedError, AuthenticationError
from glasshouse.web import areas
from glasshouse.web.deps import (
    CSRF_COOKIE,
    LOGIN_PATH,
    SESSION_COOKIE,
    CsrfForm,
    CurrentUser,
    OptionalUser,
    Svc,
    csrf_form,
    field,
    render,
    safe_next,
    set_session_cookie,
)

router = APIRouter()


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
    return render(request, "home.html", {"areas": areas.open_to(user.roles)})
