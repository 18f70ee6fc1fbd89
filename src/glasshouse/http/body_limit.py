"""One request-body limit for every route, enforced on the ASGI byte stream before anything reads it.

Every request may send at most ``max_request_bytes`` (``GLASSHOUSE_MAX_REQUEST_BYTES``) unless its route
declares another cap with :func:`body_limit` (images: 16 MiB; streamed uploads: their own larger caps). A
``Content-Length`` above the cap is refused when the application first asks for the body, before a byte is
read; a body without one (chunked) is counted as it arrives and refused the moment it crosses the cap. Either way the refusal is answered by
``refuse`` (the surface's typed error: AWS JSON, REST JSON or the UI's error page) and the application is
told the client went away, so whatever it had read is dropped and it answers nothing more.

A route opts into a larger cap with a decorator on its endpoint (under ``@router.put(...)``)::

    @router.put("/{name:path}")
    @body_limit(lambda settings: settings.media_max_bytes, code="MediaTooLarge")
    async def upload(...): ...

A mounted ASGI application (e.g. an S3-compatible endpoint) opts in the same way: decorate the object
mounted (routing puts it in the scope as the endpoint), or, if it routes inside, its own endpoints.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from glasshouse.config import Settings

log = logging.getLogger("glasshouse.http")

F = TypeVar("F")
_ATTRIBUTE = "__glasshouse_body_limit__"


@dataclass(frozen=True, slots=True)
class Cap:
    """A route's own limit: ``size(settings)`` bytes, refused with error ``code``."""

    size: Callable[[Settings], int]
    code: str = "PayloadTooLarge"


@dataclass(frozen=True, slots=True)
class Refusal:
    """What a refused request is told: a typed code, a message and the cap it crossed."""

    code: str
    message: str
    limit: int


#: Renders a refusal as the ASGI response of the surface the request addressed.
Refuse = Callable[[Scope, Refusal], Awaitable[ASGIApp]]


#: Room for a multipart form's boundaries and small fields around its files.
FORM_SLACK = 64 * 1024


def image_request_bytes(settings: Settings) -> int:
    """Bodies carrying images (JSON with up to two base64 images, or a form with two files)."""
    return 3 * settings.max_image_bytes + settings.max_request_bytes


def body_limit(size: Callable[[Settings], int], *, code: str = "PayloadTooLarge") -> Callable[[F], F]:
    """Lets the decorated endpoint (or mounted app) receive bodies up to ``size(settings)`` bytes instead of
    ``max_request_bytes``; a larger one is refused with error ``code``."""

    def mark(endpoint: F) -> F:
        setattr(endpoint, _ATTRIBUTE, Cap(size, code))
        return endpoint

    return mark


def declared_cap(obj: object) -> Cap | None:
    found = getattr(obj, _ATTRIBUTE, None)
    return found if isinstance(found, Cap) else None


async def _nothing() -> Message:
    return {"type": "http.disconnect"}


class BodyLimit:
    """Pure ASGI middleware: counts request-body bytes and refuses at the route's cap (see the module).

    The cap is looked up when the application first asks for the body, after routing has put the route's
    endpoint (or the mounted app) in the scope; a ``Content-Length`` above it is refused then, before a byte
    is read."""

    def __init__(self, app: ASGIApp, *, settings: Settings, refuse: Refuse) -> None:
        self.app = app
        self.settings = settings
        self.refuse = refuse

    def cap_for(self, scope: Scope) -> tuple[int, str]:
        """(bytes, error code) allowed for this request: its endpoint's declared cap, else the default."""
        declared = declared_cap(scope.get("endpoint"))
        if declared is not None:
            return declared.size(self.settings), declared.code
        return self.settings.max_request_bytes, "PayloadTooLarge"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = 0
        limit: int | None = None
        refusal: Refusal | None = None
        refused = False
        started = False

        async def refuse(streamed: bool) -> Message:
            nonlocal refused
            assert refusal is not None
            refused = True
            _log_refusal(scope, refusal, streamed=streamed)
            if not started:
                await (await self.refuse(scope, refusal))(scope, _nothing, send)
            return {"type": "http.disconnect"}

        async def counted() -> Message:
            nonlocal received, limit, refusal
            if refused:
                return {"type": "http.disconnect"}
            if limit is None:
                limit, code = self.cap_for(scope)
                refusal = Refusal(code, f"the request body is limited to {limit} bytes", limit)
                declared = _content_length(scope)
                if declared is not None and declared > limit:
                    return await refuse(streamed=False)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    return await refuse(streamed=True)
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the refusal has been answered; whatever the application says now is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not refused:
                raise
            # The application failed on the disconnect it was handed after the refusal: nothing to report.


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


def _log_refusal(scope: Scope, refusal: Refusal, *, streamed: bool) -> None:
    how = "streamed" if streamed else "declared"
    log.info(
        "request body refused: %s past %d bytes",
        how,
        refusal.limit,
        extra={
            "method": scope.get("method"),
            "path": scope.get("path"),
            "status": 413,
            "error": refusal.code,
        },
    )
