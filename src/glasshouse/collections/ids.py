"""The identifiers a caller names faces and people with, checked in the domain so that every surface (the
Rekognition API, REST, UI, CLI, bulk enrolment) stores only what Rekognition itself would accept: its
ExternalImageId and UserId patterns and lengths, and a consent reference that fits its column."""

from __future__ import annotations

import re
from typing import Final

from glasshouse.errors import InvalidParameterError

MAX_EXTERNAL_IMAGE_ID: Final = 255
MAX_USER_ID: Final = 128
MAX_CONSENT_REFERENCE: Final = 255
_ID = re.compile(r"[a-zA-Z0-9_.\-:]+")
_UNSAFE = re.compile(r"[^a-zA-Z0-9_.\-:]")


def check_external_image_id(value: str | None) -> str | None:
    """``value`` if Rekognition would accept it as an ExternalImageId, else InvalidParameterError."""
    if value is not None and (len(value) > MAX_EXTERNAL_IMAGE_ID or not _ID.fullmatch(value)):
        raise InvalidParameterError(
            f"ExternalImageId must be 1-{MAX_EXTERNAL_IMAGE_ID} characters of a-z, A-Z, 0-9, _ . - :"
        )
    return value


def check_user_id(value: str) -> str:
    """``value`` if Rekognition would accept it as a UserId, else InvalidParameterError."""
    if len(value) > MAX_USER_ID or not _ID.fullmatch(value):
        raise InvalidParameterError(f"UserId must be 1-{MAX_USER_ID} characters of a-z, A-Z, 0-9, _ . - :")
    return value


def check_consent_reference(value: str | None) -> str | None:
    """A consent record's reference (None if empty): printable, at most 255 characters."""
    if not value:
        return None
    if len(value) > MAX_CONSENT_REFERENCE or not value.isprintable():
        raise InvalidParameterError(f"a consent reference is 1-{MAX_CONSENT_REFERENCE} printable characters")
    return value


def safe_external_image_id(raw: str) -> str:
    """An ExternalImageId made from free text (a file name): unsafe characters become ``_``, cut to length."""
    return _UNSAFE.sub("_", raw)[:MAX_EXTERNAL_IMAGE_ID] or "_"
