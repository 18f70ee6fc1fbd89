"""Checks on what an audit entry may hold: short identifiers and small ``details`` (never images or
embeddings: callers record :func:`glasshouse.audit.service.digest` of those instead)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from glasshouse.errors import GlasshouseError

MAX_STRING = 2_000
MAX_NUMBER_LIST = 16
MAX_DEPTH = 6
MAX_DETAILS_CHARS = 16_000
DECISIONS = frozenset({"allow", "deny", "record"})
#: Column lengths of ``audit_entries`` (checked here so SQLite and PostgreSQL refuse the same events).
FIELD_LENGTHS = {
    "actor_org_id": 36,
    "actor_org_name": 255,
    "actor_person": 255,
    "actor_key": 64,
    "surface": 32,
    "action": 64,
    "rule": 128,
    "purpose": 255,
    "case_number": 128,
}


class InvalidAuditEventError(GlasshouseError):
    """An audit event the log refuses to store. A programming error in the caller, not bad client input."""

    code = "InvalidAuditEvent"


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, no NaN: the same text for the same data on every database."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def check_fields(fields: Mapping[str, Any]) -> None:
    for name, limit in FIELD_LENGTHS.items():
        value = fields[name]
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidAuditEventError(f"audit {name} must be a string, not {type(value).__name__}")
        if len(value) > limit:
            raise InvalidAuditEventError(f"audit {name} is longer than {limit} characters")
    for name in ("surface", "action"):
        if not fields[name]:
            raise InvalidAuditEventError(f"audit {name} must be non-empty")
    if fields["decision"] not in DECISIONS:
        raise InvalidAuditEventError(f"audit decision must be one of {sorted(DECISIONS)}")
    version = fields["policy_version"]
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise InvalidAuditEventError("audit policy_version must be an integer")


def clean_details(details: Mapping[str, Any]) -> dict[str, Any]:
    """``details`` as it will be stored and hashed (a JSON round trip), or :class:`InvalidAuditEventError`."""
    if not isinstance(details, Mapping):
        raise InvalidAuditEventError("audit details must be a mapping")
    _check(details, "details", 0)
    text = canonical_json(details)
    if len(text) > MAX_DETAILS_CHARS:
        raise InvalidAuditEventError(f"audit details exceed {MAX_DETAILS_CHARS} characters of JSON")
    cleaned: dict[str, Any] = json.loads(text)
    return cleaned


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_float_list(values: list[Any] | tuple[Any, ...]) -> bool:
    return all(_is_number(v) for v in values) and any(isinstance(v, float) for v in values)


def _check(value: Any, path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise InvalidAuditEventError(f"{path}: nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidAuditEventError(f"{path}: NaN and infinity cannot be recorded")
        return
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise InvalidAuditEventError(f"{path}: string longer than {MAX_STRING} characters")
        return
    if isinstance(value, bytes | bytearray | memoryview):
        raise InvalidAuditEventError(f"{path}: raw bytes are never recorded; record digest(data) instead")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidAuditEventError(f"{path}: keys must be strings")
            _check(item, f"{path}.{key}", depth + 1)
        return
    if isinstance(value, list | tuple):
        if len(value) > MAX_NUMBER_LIST and _is_float_list(value):
            raise InvalidAuditEventError(
                f"{path}: a list of {len(value)} numbers looks like an embedding; "
                f"at most {MAX_NUMBER_LIST} are recorded"
            )
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]", depth + 1)
        return
    raise InvalidAuditEventError(f"{path}: {type(value).__name__} cannot be recorded (JSON values only)")
