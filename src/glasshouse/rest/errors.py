"""Glasshouse errors as REST responses: one JSON shape ``{"error": {"code", "message"}}``, one status table."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from glasshouse.errors import (
    AlreadyExistsError,
    GlasshouseError,
    InvalidInputError,
    NotFoundError,
    ThrottledError,
)
from glasshouse.governance.gate import PolicyDenied

_STATUS: tuple[tuple[type[GlasshouseError], int], ...] = (
    (PolicyDenied, 403),
    (NotFoundError, 404),
    (AlreadyExistsError, 409),
    (InvalidInputError, 400),
    (ThrottledError, 429),
)


class Unauthenticated(GlasshouseError):
    code = "Unauthenticated"


class Forbidden(GlasshouseError):
    code = "Forbidden"


class Conflict(GlasshouseError):
    code = "Conflict"


def status_of(exc: GlasshouseError) -> int:
    if isinstance(exc, Unauthenticated):
        return 401
    if isinstance(exc, Forbidden):
        return 403
    if exc.code == "Conflict":
        return 409
    if exc.code == "ObligationNotMet":
        return 403
    if exc.code == "PolicyConflict":
        return 409
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500 if exc.code in ("InternalError", "ModelUnavailable") else 400


async def handle(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GlasshouseError)
    status = status_of(exc)
    message = exc.message if status < 500 else "internal error"
    headers = {"Retry-After": "1"} if status == 429 else None
    return JSONResponse(
        {"error": {"code": exc.code, "message": message}}, status_code=status, headers=headers
    )
