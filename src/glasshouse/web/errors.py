"""Errors and headers for the web UI: domain errors under ``/ui`` become the error page (other paths keep the
REST JSON shape), a missing sign-in becomes a redirect to the login page, and UI responses carry security
headers (a strict Content-Security-Policy: no inline script, no framing)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from glasshouse.errors import GlasshouseError
from glasshouse.rest import errors as rest_errors
from glasshouse.web.deps import LOGIN_PATH, LoginRequired, render

UI_PREFIXES = ("/ui", "/static", "/transparency")
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
        b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
)
#: Every other response (JSON, /openapi.json, /health, the Rekognition API) is never to be sniffed as HTML.
NOSNIFF = (b"x-content-type-options", b"nosniff")
#: Pages show secrets (a new key) and personal data: never keep them in a shared cache or the back button.
NO_STORE = (b"cache-control", b"no-store")


def is_ui(path: str) -> bool:
    return path == "/ui" or path.startswith("/ui/")


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every response under :data:`UI_PREFIXES` (and ``no-store`` under
    ``/ui``), and ``nosniff`` to every other response. Pure ASGI, so streamed responses pass through
    untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        headers = SECURITY_HEADERS if path.startswith(UI_PREFIXES) else (NOSNIFF,)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [h for h in headers if h[0] not in present]
                if is_ui(path) and NO_STORE[0] not in present:
                    extra.append(NO_STORE)
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


async def error_page(request: Request, status: int, message: str) -> Response:
    context = {"status_code": status, "message": message}
    return await run_in_threadpool(render, request, "error.html", context, status)


async def handle_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GlasshouseError)
    if not is_ui(request.url.path):
        return await rest_errors.handle(request, exc)
    status = rest_errors.status_of(exc)
    return await error_page(request, status, exc.message if status < 500 else "internal error")


async def handle_login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"{LOGIN_PATH}?{urlencode({'next': exc.next_path})}", status_code=303)


async def handle_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if not is_ui(request.url.path) or exc.status_code < 400:
        return await http_exception_handler(request, exc)
    messages = {404: "there is no such page", 405: "this page does not accept that kind of request"}
    return await error_page(request, exc.status_code, messages.get(exc.status_code, str(exc.detail)))


async def handle_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if not is_ui(request.url.path):
        return await request_validation_exception_handler(request, exc)
    fields = sorted({str(e["loc"][-1]) for e in exc.errors() if e.get("loc")})
    return await error_page(request, 400, f"the form is missing or has invalid fields: {', '.join(fields)}")


def install(app: FastAPI) -> None:
    """Error handlers for every path (REST shapes kept outside ``/ui``) and the security headers."""
    app.add_exception_handler(GlasshouseError, handle_domain_error)
    app.add_exception_handler(LoginRequired, handle_login_required)
    app.add_exception_handler(HTTPException, handle_http_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_middleware(SecurityHeaders)
