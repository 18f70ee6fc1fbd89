"""What every page handler shares: templates, the signed-in user, role checks and CSRF checks.

    @router.post("/ui/things")
    def create_thing(user: OperatorUser, form: CsrfForm, svc: Svc) -> Response: ...

Signed-in browsers carry ``glasshouse_session`` (HttpOnly, SameSite=Lax, Secure over https); every form
carries the session's CSRF token in a hidden ``csrf_token`` field (``{{ csrf_field() }}`` in a template).
Before sign-in the login form is protected the same way by a double-submit cookie, ``glasshouse_csrf``.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape
from starlette.datastructures import FormData

from glasshouse.errors import InvalidInputError, NotFoundError
from glasshouse.governance.actor import Actor
from glasshouse.governance.gate import PolicyDenied
from glasshouse.people.service import SESSION_ABSOLUTE, PersonInfo, SessionInfo
from glasshouse.rest.errors import Forbidden
from glasshouse.services import Services
from glasshouse.web import areas

SESSION_COOKIE = "glasshouse_session"
CSRF_COOKIE = "glasshouse_csrf"
LOGIN_PATH = "/ui/login"
HOME_PATH = "/ui/"
#: Form fields (not files) may be this large; uploads are bounded by the image size limit.
MAX_FIELD_BYTES = 64 * 1024
_SAFE_NEXT = re.compile(r"^/ui(/[^\\\s]*)?(\?[^\\\s]*)?$")

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


@pass_context
def _csrf_field(context: Context) -> Markup:
    token = context.get("csrf_token") or ""
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(escape(token))


templates.env.globals["csrf_field"] = _csrf_field
templates.env.globals["areas_open_to"] = areas.open_to


@pass_context
def _who(context: Context, principal: str | None) -> Markup:
    """A principal (``person:<id>``, ``key:<id>``, ...) as a page shows it: a person by name and roles, the
    raw id one hover away (auditors need it); anything else as it is. Looked up once per page."""
    if not principal:
        return Markup("")
    request: Request = context["request"]
    names: dict[str, str | None] = request.state.__dict__.setdefault("principal_names", {})
    if principal not in names:
        names[principal] = services(request).people.describe(principal)
    name = names[principal]
    if name is None:
        return Markup("<code>{}</code>").format(principal)
    return Markup('<span class="principal" title="{}">{}</span>').format(principal, name)


templates.env.globals["who"] = _who


@dataclass(frozen=True, slots=True)
class WebUser:
    person_id: str
    email: str
    name: str
    org_id: str
    org_name: str
    roles: frozenset[str]
    actor: Actor

    def has(self, *roles: str) -> bool:
        """Holds at least one of ``roles``."""
        return bool(self.roles.intersection(roles))

    @classmethod
    def of(cls, person: PersonInfo) -> WebUser:
        return cls(
            person.id, person.email, person.name, person.org_id, person.org_name, person.roles, person.actor()
        )


class LoginRequired(Exception):
    """Raised for a page that needs a signed-in user; the app answers with a redirect to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRejected(Forbidden):
    code = "CsrfRejected"


def services(request: Request) -> Services:
    svc = request.app.state.services
    assert isinstance(svc, Services)
    return svc


Svc = Annotated[Services, Depends(services)]


def web_session(request: Request) -> SessionInfo | None:
    """The session behind the request's cookie (looked up once per request)."""
    if not hasattr(request.state, "web_session"):
        token = request.cookies.get(SESSION_COOKIE, "")
        request.state.web_session = services(request).people.session_for(token) if token else None
    found: SessionInfo | None = request.state.web_session
    return found


def optional_user(request: Request) -> WebUser | None:
    session = web_session(request)
    return WebUser.of(session.person) if session else None


def current_user(request: Request) -> WebUser:
    user = optional_user(request)
    if user is None:
        # Back to this page after sign-in; a form post cannot be replayed, so its page's home instead.
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(here if request.method == "GET" else HOME_PATH)
    return user


OptionalUser = Annotated[WebUser | None, Depends(optional_user)]
CurrentUser = Annotated[WebUser, Depends(current_user)]


def require_roles(*roles: str) -> Callable[[WebUser], WebUser]:
    """A dependency yielding the signed-in user if they hold one of ``roles``, else 403."""

    def check(user: CurrentUser) -> WebUser:
        if not user.has(*roles):
            raise Forbidden(f"this page needs the role {' or '.join(roles)}")
        return user

    return check


OperatorUser = Annotated[WebUser, Depends(require_roles(*areas.OPERATOR_CONSOLE.roles))]


def csrf_token(request: Request) -> str:
    """The token forms must echo: the session's, or before sign-in the double-submit cookie's (a new one is
    made when absent; :func:`render` sets the cookie)."""
    session = web_session(request)
    if session is not None:
        return session.csrf_token
    if not hasattr(request.state, "csrf_token"):
        existing = request.cookies.get(CSRF_COOKIE, "")
        request.state.csrf_token = existing if 20 <= len(existing) <= 128 else secrets.token_urlsafe(32)
    token: str = request.state.csrf_token
    return token


async def csrf_form(request: Request, _: Annotated[WebUser | None, Depends(optional_user)]) -> FormData:
    """The posted form, if its ``csrf_token`` matches (constant-time); 403 otherwise."""
    form = await request.form(max_part_size=MAX_FIELD_BYTES)
    sent = form.get("csrf_token")
    session = web_session(request)
    expected = session.csrf_token if session else request.cookies.get(CSRF_COOKIE, "")
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRejected("the form's security token is missing or stale: reload the page and try again")
    return form


CsrfForm = Annotated[FormData, Depends(csrf_form)]


def csrf_header(request: Request, user: CurrentUser) -> WebUser:
    """The signed-in user, if the request's ``X-CSRF-Token`` header carries the session's token (scripts
    that stream a body, which has no form field to hold it); 403 otherwise."""
    sent = request.headers.get("x-csrf-token", "")
    expected = csrf_token(request)
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRejected("the request's security token is missing or stale: reload the page and try again")
    return user


def streamed_by(*roles: str) -> Callable[[Request, WebUser], WebUser]:
    """A dependency for a streamed body: the signed-in user holding one of ``roles`` whose request carries
    the CSRF header (:func:`csrf_header`), else 403. One dependency doing both: FastAPI uses only the last
    ``Depends`` of an ``Annotated`` type, so two in one silently dropped the role check."""
    allowed = require_roles(*roles)

    def check(request: Request, user: CurrentUser) -> WebUser:
        return csrf_header(request, allowed(user))

    return check


def field(form: FormData, name: str, default: str = "") -> str:
    """A text field of a posted form, stripped ("" when absent or a file)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else default


def form_values(form: FormData) -> dict[str, str]:
    """The form's text fields, to fill the form again (never the CSRF token or files)."""
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


class FormPage(Protocol):
    """Renders a form's page again, with what went wrong and what the user had typed."""

    def __call__(
        self, *, status_code: int, denial: str | None = None, error: str | None = None, values: dict[str, str]
    ) -> Response: ...


def start_job(form: FormData, start: Callable[[], str], page: FormPage) -> Response:
    """Start a background job from a posted form: on success a redirect (303) to the page ``start`` returns;
    a policy denial (403), bad input (400) or an unknown source (404) renders the form again, filled in."""
    values = form_values(form)
    try:
        location = start()
    except PolicyDenied as exc:
        return page(status_code=403, denial=exc.message, values=values)
    except InvalidInputError as exc:
        return page(status_code=400, error=exc.message, values=values)
    except NotFoundError as exc:
        return page(status_code=404, error=exc.message, values=values)
    return RedirectResponse(location, status_code=303)


def cookie_secure(request: Request) -> bool:
    configured: bool | None = getattr(services(request).settings, "cookie_secure", None)
    return request.url.scheme == "https" if configured is None else configured


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
    )


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    set_cookie(request, response, SESSION_COOKIE, token, int(SESSION_ABSOLUTE.total_seconds()))


def safe_next(value: str | None) -> str:
    """Where to go after sign-in: a path under /ui only (never another site)."""
    return value if value and _SAFE_NEXT.match(value) else HOME_PATH


def render(
    request: Request, template_name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """A page, with ``user`` and ``csrf_token`` in its context (and the pre-session CSRF cookie set)."""
    user = optional_user(request)
    token = csrf_token(request)
    full = {"user": user, "csrf_token": token, **(context or {})}
    response = templates.TemplateResponse(request, template_name, full, status_code=status_code)
    if user is None and request.cookies.get(CSRF_COOKIE) != token:
        set_cookie(request, response, CSRF_COOKIE, token, int(SESSION_ABSOLUTE.total_seconds()))
    return response
