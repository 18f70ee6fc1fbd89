"""Glasshouse errors rendered as AWS JSON 1.1 errors: HTTP 400 ``{"__type": ..., "message": ...}``,
500 only for InternalServerError. One table maps the domain hierarchy onto Rekognition's names."""

from __future__ import annotations

from glasshouse.errors import (
    AlreadyExistsError,
    GlasshouseError,
    ImageTooLargeError,
    InvalidImageError,
    InvalidParameterError,
    NotFoundError,
    ThrottledError,
)
from glasshouse.governance.gate import PolicyDenied

_AWS_NAMES: dict[type[GlasshouseError], str] = {
    ImageTooLargeError: "ImageTooLargeException",
    InvalidImageError: "InvalidImageFormatException",
    InvalidParameterError: "InvalidParameterException",
    NotFoundError: "ResourceNotFoundException",
    PolicyDenied: "AccessDeniedException",
    AlreadyExistsError: "ResourceAlreadyExistsException",
    ThrottledError: "ThrottlingException",
}

INTERNAL = (500, "InternalServerError", "Internal server error")


def aws_error(exc: BaseException) -> tuple[int, str, str]:
    """(HTTP status, ``__type``, message) for any exception; unexpected ones become InternalServerError."""
    if not isinstance(exc, GlasshouseError):
        return INTERNAL
    explicit = getattr(type(exc), "http_status", None)
    if explicit is not None:  # protocol-level errors already carry AWS's name
        return int(explicit), exc.code, exc.message
    for cls in type(exc).__mro__:
        if cls in _AWS_NAMES:
            return 400, _AWS_NAMES[cls], exc.message
    if exc.code in ("ModelUnavailable", "InternalError"):
        return INTERNAL
    return 400, f"{exc.code}Exception", exc.message
