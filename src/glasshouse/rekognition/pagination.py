"""Opaque pagination tokens: which listing, in which scope, after which row. At most 255 characters."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from glasshouse.errors import GlasshouseError

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class InvalidPaginationTokenError(GlasshouseError):
    code = "InvalidPaginationToken"


def _scope_digest(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:12]


def encode(kind: str, scope: str, last_id: str) -> str:
    raw = f"{kind}|{_scope_digest(scope)}|{last_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str | None, kind: str, scope: str) -> str | None:
    """The row id to continue after; ``None`` for the first page. Tokens of other listings are refused."""
    if token is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        got_kind, digest, last_id = raw.split("|")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidPaginationTokenError("Invalid pagination token") from exc
    if got_kind != kind or digest != _scope_digest(scope) or not _UUID.match(last_id):
        raise InvalidPaginationTokenError("Invalid pagination token")
    return last_id


def encode_offset(kind: str, scope: str, offset: int) -> str:
    """A token for position ``offset`` of a listing (job results are numbered, not keyed by id)."""
    raw = f"{kind}|{_scope_digest(scope)}|{offset}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_offset(token: str | None, kind: str, scope: str) -> int:
    if token is None:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        got_kind, digest, offset = raw.split("|")
        position = int(offset)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidPaginationTokenError("Invalid pagination token") from exc
    if got_kind != kind or digest != _scope_digest(scope) or position < 0:
        raise InvalidPaginationTokenError("Invalid pagination token")
    return position
