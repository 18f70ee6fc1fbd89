"""Glasshouse errors rendered as AWS JSON 1.1 errors, in Rekognition's body shape and, where AWS has one,
its wording. One table maps the domain hierarchy onto Rekognition's names; :func:`error_body` is the one
place the body is built (HTTP 400, 500 only for InternalServerError):

``{"__type": "ResourceNotFoundException", "Code": "ResourceNotFoundException", "Logref": "<request id>",
"Message": "The collection id: staff does not exist"}`` (AWS's own example in the Rekognition developer
guide, "Error handling", has exactly these members; botocore reads ``Message`` as the error message).
"""

from __future__ import annotations

from typing import Any

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

#: AWS's words for ``ImageTooLargeException`` (the exception's description in Rekognition's API reference).
#: Every oversize image answers with it, whatever noticed: the request-size check, the validator or the
#: decoder. Use :func:`image_too_large_body` to refuse one before the request is even read.
IMAGE_TOO_LARGE = "ImageTooLargeException"
IMAGE_TOO_LARGE_MESSAGE = "The input image size exceeds the allowed limit."

_AWS_NAMES: dict[type[GlasshouseError], str] = {
    ImageTooLargeError: IMAGE_TOO_LARGE,
    InvalidImageError: "InvalidImageFormatException",
    InvalidParameterError: "InvalidParameterException",
    NotFoundError: "ResourceNotFoundException",
    PolicyDenied: "AccessDeniedException",
    AlreadyExistsError: "ResourceAlreadyExistsException",
    ThrottledError: "ThrottlingException",
}
#: Where AWS always answers an exception with the same words, they replace Glasshouse's own.
_AWS_MESSAGES: dict[str, str] = {
    IMAGE_TOO_LARGE: IMAGE_TOO_LARGE_MESSAGE,
    "InvalidImageFormatException": "Request has invalid image format",
}

INTERNAL = (500, "InternalServerError", "Internal server error")


def aws_error(exc: BaseException) -> tuple[int, str, str]:
    """(HTTP status, ``__type``, message) for any exception; unexpected ones become InternalServerError."""
    if not isinstance(exc, GlasshouseError):
        return INTERNAL
    explicit = getattr(type(exc), "http_status", None)
    if explicit is not None:  # protocol-level errors already carry AWS's name
        return int(explicit), exc.code, _AWS_MESSAGES.get(exc.code, exc.message)
    for cls in type(exc).__mro__:
        if cls in _AWS_NAMES:
            name = _AWS_NAMES[cls]
            return 400, name, _AWS_MESSAGES.get(name, exc.message)
    if exc.code in ("ModelUnavailable", "InternalError"):
        return INTERNAL
    return 400, f"{exc.code}Exception", exc.message


def error_body(error_type: str, message: str, request_id: str) -> dict[str, Any]:
    """Rekognition's error body: the exception's name twice, a log reference (the request id), the message."""
    return {"__type": error_type, "Code": error_type, "Logref": request_id, "Message": message}


def image_too_large_body(request_id: str) -> dict[str, Any]:
    """The body of an ``ImageTooLargeException`` (HTTP 400), for a request refused for its size alone."""
    return error_body(IMAGE_TOO_LARGE, IMAGE_TOO_LARGE_MESSAGE, request_id)
