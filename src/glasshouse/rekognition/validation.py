"""Requests and responses checked against Rekognition's botocore model, as AWS's Coral front end does.

boto3 checks nothing but types on the client, so every constraint in the model (required, length,
range, pattern, enum) is enforced here. What AWS answers, and what this module therefore raises:

* Body not JSON, not a JSON object, over :data:`MAX_BODY_BYTES`, or a value of the wrong JSON type
  (``"MaxFaces": "5"``) or a blob that is not base64: ``SerializationException``
  (:class:`SerializationError`). Coral fails while deserializing, before any constraint is looked at,
  so only the first such problem is reported.
* Constraint violations: ``ValidationException`` (:class:`ValidationError`) listing every violation in
  Coral's words, e.g. ``1 validation error detected: Value '0' at 'maxFaces' failed to satisfy
  constraint: Member must have value greater than or equal to 1``. Rekognition really answers
  ValidationException here, not InvalidParameterException (see aws/aws-sdk-js-v3#854, where it
  answered an empty ``Image.Bytes`` with ``{"__type":"ValidationException","message":"1 validation
  error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=0 cap=0]' at 'image.bytes' ..."}``);
  InvalidParameterException is what its own code raises for semantic problems (both or neither of
  ``Bytes``/``S3Object``, no face in the image), which is the handlers' business.
* Unknown members are ignored and dropped, as AWS JSON services do for forward compatibility;
  JSON ``null`` is the same as an absent member. An empty body is read as ``{}``.

Patterns are Java regexes applied with ``matches()`` (the whole string must match); they are
translated to Python (``\\p{L}``-style classes expanded from :mod:`unicodedata`, ASCII ``\\w``/``\\d``,
Java's ``.``) and compiled once per shape, and validators are built once per operation.
"""

from __future__ import annotations

import binascii
import json
import math
import re
import sys
import threading
import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from typing import Any, ClassVar

from glasshouse.errors import InvalidInputError, InvalidParameterError
from glasshouse.rekognition.model import operation, operation_names

MAX_BODY_BYTES = 16 * 1024 * 1024
"""Largest request body read. AWS parsed a ~10.5 MB body and answered its 7.8 MB image with a length
ValidationException, so the cap sits above that; past it we answer SerializationException (AWS's exact
answer to a far larger body is not documented)."""

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


class SerializationError(InvalidInputError):
    """The body could not be read as this operation's input (AWS ``SerializationException``)."""

    code = "SerializationException"
    http_status: ClassVar[int] = 400


class ValidationError(InvalidParameterError):
    """The input breaks a constraint of the model.

    AWS's front end words these as ``ValidationException``; we keep its wording but answer with
    Rekognition's modelled name ``InvalidParameterException``, so SDK users can catch
    ``client.exceptions.InvalidParameterException`` (ValidationException is not in Rekognition's model).
    """

    code = "InvalidParameterException"
    http_status: ClassVar[int] = 400

    def __init__(self, violations: list[str]) -> None:
        n = len(violations)
        noun = "error" if n == 1 else "errors"
        super().__init__(f"{n} validation {noun} detected: " + "; ".join(violations))
        self.violations = violations


# ---------------------------------------------------------------------------------------------
# Java regex -> Python


@cache
def _category_class(name: str) -> str:
    """Character-class body (no brackets) of every code point whose general category starts with name."""
    parts: list[str] = []
    start = prev = -2
    for cp in range(sys.maxunicode + 1):
        if unicodedata.category(chr(cp)).startswith(name):
            if cp != prev + 1:
                if start >= 0:
                    parts.append(_range(start, prev))
                start = cp
            prev = cp
    if start >= 0:
        parts.append(_range(start, prev))
    return "".join(parts)


def _range(a: int, b: int) -> str:
    return f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}"


_JAVA_DOT = "[^\\n\\r\\u0085\\u2028\\u2029]"


def java_regex(pattern: str) -> re.Pattern[str]:
    """Compile a Java regex as Python; use ``fullmatch`` for Java's ``matches()``."""
    out: list[str] = []
    i, n, in_class = 0, len(pattern), False
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt in "pP" and i + 2 < n and pattern[i + 2] == "{":
                end = pattern.index("}", i)
                name = pattern[i + 3 : end].removeprefix("Is")
                if not re.fullmatch(r"[A-Z][a-z]?", name):
                    raise ValueError(f"unsupported Unicode class {name!r} in {pattern!r}")
                body = _category_class(name)
                if nxt == "P" and in_class:
                    raise ValueError(f"negated Unicode class inside a class in {pattern!r}")
                out.append(body if in_class else f"[{'^' if nxt == 'P' else ''}{body}]")
                i = end + 1
                continue
            out.append("\\Z" if nxt == "z" else pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
            elif c == "[":
                raise ValueError(f"nested character class in {pattern!r}")
        elif c == "[":
            in_class = True
            out.append(c)
            # A leading ']' or '^]' is literal in both dialects; copy it so it does not close the class.
            for lead in ("^", "]"):
                if pattern.startswith(lead, i + 1):
                    out.append(lead)
                    i += 1
            i += 1
            continue
        elif c == ".":
            out.append(_JAVA_DOT)
            i += 1
            continue
        out.append(c)
        i += 1
    return re.compile("".join(out), re.ASCII)


# ---------------------------------------------------------------------------------------------
# How AWS prints values and paths


def _java(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes | bytearray):
        return f"java.nio.HeapByteBuffer[pos=0 lim={len(value)} cap={len(value)}]"
    if isinstance(value, list):
        return "[" + ", ".join(_java(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_java(k)}={_java(v)}" for k, v in value.items()) + "}"
    return str(value)


def _coral_name(member: str) -> str:
    return member[:1].lower() + member[1:]


class ImageBytesTooLargeError(ValidationError):
    """A blob (image bytes) over the model's maximum: Rekognition's ``ImageTooLargeException``."""

    code = "ImageTooLargeException"


class _Ctx:
    """Collects problems; request mode raises on type errors, response mode lists everything."""

    __slots__ = ("blob_too_large", "problems", "request")

    def __init__(self, request: bool) -> None:
        self.request = request
        self.problems: list[str] = []
        self.blob_too_large = False

    def member(self, path: str, name: str, coral: str) -> str:
        if self.request:
            return f"{path}.{coral}" if path else coral
        return f"{path}.{name}" if path else name

    def item(self, path: str, index: int) -> str:
        return f"{path}.{index + 1}.member" if self.request else f"{path}[{index}]"

    def key(self, path: str, key: str) -> str:
        return f"{path}.{key}" if self.request else f"{path}[{key!r}]"

    def type_error(self, path: str, got: Any, expected: str) -> None:
        if self.request:
            raise SerializationError(f"{_token(got)} can not be converted to {expected} at '{path}'")
        shown = repr(got)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        self.problems.append(f"{path or '<top>'}: expected {expected}, got {type(got).__name__} {shown}")

    def violation(self, path: str, value: Any, constraint: str, sensitive: bool = False) -> None:
        if isinstance(value, bytes) and "less than or equal" in constraint:
            self.blob_too_large = True
        if self.request:
            shown = "null" if value is None else f"'{_java(value)}'"
            prefix = "Value" if sensitive else f"Value {shown}"
            self.problems.append(f"{prefix} at '{path}' failed to satisfy constraint: {constraint}")
        elif value is None:
            self.problems.append(f"{path}: required member missing or null")
        else:
            self.problems.append(f"{path}: {constraint} (value {value!r})")

    def unknown(self, path: str, name: str) -> None:
        if not self.request:
            where = f"{path}." if path else ""
            self.problems.append(f"{where}{name}: unknown member")


def _token(value: Any) -> str:
    """Coral's name for the JSON token it could not convert."""
    if isinstance(value, dict):
        return "Start of structure or map"
    if isinstance(value, list):
        return "Start of list"
    if isinstance(value, bool):
        return "TRUE_VALUE" if value else "FALSE_VALUE"
    if isinstance(value, int | float):
        return "NUMBER_VALUE"
    if isinstance(value, str):
        return "STRING_VALUE"
    return type(value).__name__


_BAD = object()
"""Returned by a node when the value had the wrong type (response mode carries on past it)."""


# ---------------------------------------------------------------------------------------------
# Validators, one per shape


class _Node:
    """Converts one value (``walk``); scalars also list the constraints a good-typed value breaks."""

    scalar: ClassVar[bool] = False
    sensitive = False

    def walk(self, value: Any, path: str, ctx: _Ctx) -> Any:
        raise NotImplementedError

    def broken(self, value: Any) -> list[str]:
        return []


def _length(n: int, lo: int | None, hi: int | None) -> list[str]:
    out = []
    if lo is not None and n < lo:
        out.append(f"Member must have length greater than or equal to {lo}")
    if hi is not None and n > hi:
        out.append(f"Member must have length less than or equal to {hi}")
    return out


class _Scalar(_Node):
    scalar = True

    def convert(self, value: Any, path: str, ctx: _Ctx) -> Any:
        raise NotImplementedError

    def walk(self, value: Any, path: str, ctx: _Ctx) -> Any:
        value = self.convert(value, path, ctx)
        if value is not _BAD:
            for c in self.broken(value):
                ctx.violation(path, value, c, self.sensitive)
        return value


class _String(_Scalar):
    def __init__(self, meta: dict[str, Any]) -> None:
        self.lo: int | None = meta.get("min")
        self.hi: int | None = meta.get("max")
        self.pattern_text: str | None = meta.get("pattern")
        self._pattern: re.Pattern[str] | None = None
        enum = meta.get("enum")
        self.enum = frozenset(enum) if enum else None
        self.enum_text = "[" + ", ".join(enum) + "]" if enum else ""
        self.sensitive = bool(meta.get("sensitive"))

    @property
    def pattern(self) -> re.Pattern[str]:
        """Compiled on first use: the Unicode-class tag patterns take ~0.3 s to build."""
        if self._pattern is None:
            assert self.pattern_text is not None
            self._pattern = java_regex(self.pattern_text)
        return self._pattern

    def convert(self, value: Any, path: str, ctx: _Ctx) -> Any:
        if type(value) is str:
            return value
        ctx.type_error(path, value, "String")
        return _BAD

    def broken(self, value: Any) -> list[str]:
        out = _length(len(value), self.lo, self.hi)
        if self.pattern_text is not None and self.pattern.fullmatch(value) is None:
            out.append(f"Member must satisfy regular expression pattern: {self.pattern_text}")
        if self.enum is not None and value not in self.enum:
            out.append(f"Member must satisfy enum value set: {self.enum_text}")
        return out


class _Number(_Scalar):
    _NAMES: ClassVar[dict[str, str]] = {
        "integer": "an Integer",
        "long": "a Long",
        "float": "a Float",
        "double": "a Double",
    }

    def __init__(self, type_name: str, meta: dict[str, Any]) -> None:
        self.integral = type_name in ("integer", "long")
        self.bounds = _INT32 if type_name == "integer" else _INT64
        self.expected = self._NAMES[type_name]
        self.lo: float | None = meta.get("min")
        self.hi: float | None = meta.get("max")

    def convert(self, value: Any, path: str, ctx: _Ctx) -> Any:
        try:
            return self._convert(value, path, ctx)
        except OverflowError:
            ctx.type_error(path, value, self.expected)
            return _BAD

    def _convert(self, value: Any, path: str, ctx: _Ctx) -> Any:
        t = type(value)
        if self.integral:
            if t is float and value.is_integer():
                value, t = int(value), int
            if t is int and self.bounds[0] <= value <= self.bounds[1]:
                return value
        elif (t is int or t is float) and math.isfinite(value):  # isfinite raises on huge ints
            return float(value) if ctx.request else value
        ctx.type_error(path, value, self.expected)
        return _BAD

    def broken(self, value: Any) -> list[str]:
        out = []
        if self.lo is not None and value < self.lo:
            out.append(f"Member must have value greater than or equal to {self.lo}")
        if self.hi is not None and value > self.hi:
            out.append(f"Member must have value less than or equal to {self.hi}")
        return out


class _Boolean(_Scalar):
    def convert(self, value: Any, path: str, ctx: _Ctx) -> Any:
        if type(value) is bool:
            return value
        ctx.type_error(path, value, "a Boolean")
        return _BAD


class _Blob(_Scalar):
    """Base64 text on the wire, bytes after; responses may hold either."""

    def __init__(self, meta: dict[str, Any]) -> None:
        self.lo: int | None = meta.get("min")
        self.hi: int | None = meta.get("max")
        self.sensitive = bool(meta.get("sensitive"))

    def convert(self, value: Any, path: str, ctx: _Ctx) -> Any:
        if type(value) is str:
            try:
                return binascii.a2b_base64(value, strict_mode=True)
            except (binascii.Error, ValueError):
                if ctx.request:
                    raise SerializationError(
                        f"Value at '{path}' is not valid base64: a blob must be sent as standard, "
                        "padded base64 text"
                    ) from None
                ctx.problems.append(f"{path}: not valid base64")
                return _BAD
        if not ctx.request and isinstance(value, bytes | bytearray):
            return bytes(value)
        ctx.type_error(path, value, "a Blob (base64 string)")
        return _BAD

    def broken(self, value: Any) -> list[str]:
        return _length(len(value), self.lo, self.hi)


class _Timestamp(_Scalar):
    """Epoch seconds on the JSON wire; requests get an aware UTC datetime."""

    def convert(self, value: Any, path: str, ctx: _Ctx) -> Any:
        if type(value) in (int, float):
            try:
                return datetime.fromtimestamp(value, UTC) if ctx.request else value
            except (OverflowError, OSError, ValueError):
                pass
        elif not ctx.request and isinstance(value, datetime):
            return value
        ctx.type_error(path, value, "a Timestamp (epoch seconds)")
        return _BAD


class _Structure(_Node):
    def __init__(self, required: Iterable[str]) -> None:
        self.required = frozenset(required)
        self.fill([])

    def fill(self, members: list[tuple[str, _Node]]) -> None:
        self.members = [(name, _coral_name(name), node) for name, node in members]
        self.names = frozenset(name for name, _ in members)

    def walk(self, value: Any, path: str, ctx: _Ctx) -> Any:
        if type(value) is not dict:
            ctx.type_error(path, value, "a Structure")
            return _BAD
        out: dict[str, Any] = {}
        seen = 0
        for name, coral, node in self.members:
            v = value.get(name)
            if name in value:
                seen += 1
            child = ctx.member(path, name, coral)
            if v is None:
                if name in self.required:
                    ctx.violation(child, None, "Member must not be null")
                continue
            converted = node.walk(v, child, ctx)
            if converted is not _BAD:
                out[name] = converted
        if seen != len(value):
            for name in value:
                if name not in self.names and not (path == "" and name == "ResponseMetadata"):
                    ctx.unknown(path, name)
        return out


class _List(_Node):
    def __init__(self, member: _Node, meta: dict[str, Any]) -> None:
        self.member = member
        self.lo: int | None = meta.get("min")
        self.hi: int | None = meta.get("max")

    def walk(self, value: Any, path: str, ctx: _Ctx) -> Any:
        if type(value) is not list:
            ctx.type_error(path, value, "a List")
            return _BAD
        member = self.member
        out: list[Any] = []
        inner: list[str] = []
        for i, item in enumerate(value):
            ip = ctx.item(path, i)
            if item is None:
                broken = ["Member must not be null"]
                converted: Any = _BAD
            elif isinstance(member, _Scalar):
                converted = member.convert(item, ip, ctx)
                broken = member.broken(converted) if converted is not _BAD else []
            else:
                converted = member.walk(item, ip, ctx)
                broken = []
            if converted is not _BAD:
                out.append(converted)
            if broken and ctx.request:
                inner.extend(c for c in broken if c not in inner)
            else:
                for c in broken:
                    ctx.violation(ip, item, c)
        if inner:
            ctx.violation(path, value, "Member must satisfy constraint: [" + ", ".join(inner) + "]")
        for c in _length(len(value), self.lo, self.hi):
            ctx.violation(path, value, c)
        return out


class _Map(_Node):
    def __init__(self, key: _Node, value: _Node, meta: dict[str, Any]) -> None:
        self.key, self.value = key, value
        self.lo: int | None = meta.get("min")
        self.hi: int | None = meta.get("max")

    def walk(self, value: Any, path: str, ctx: _Ctx) -> Any:
        if type(value) is not dict:
            ctx.type_error(path, value, "a Map")
            return _BAD
        key_node, value_node = self.key, self.value
        out: dict[str, Any] = {}
        bad_keys: list[str] = []
        bad_values: list[str] = []
        for k, v in value.items():
            kp = ctx.key(path, k)
            kb = key_node.broken(k) if isinstance(key_node, _Scalar) else []
            if v is None:
                vb, converted = ["Member must not be null"], _BAD
            elif isinstance(value_node, _Scalar):
                converted = value_node.convert(v, kp, ctx)
                vb = value_node.broken(converted) if converted is not _BAD else []
            else:
                converted, vb = value_node.walk(v, kp, ctx), []
            if converted is not _BAD:
                out[k] = converted
            if ctx.request:
                bad_keys.extend(c for c in kb if c not in bad_keys)
                bad_values.extend(c for c in vb if c not in bad_values)
            else:
                for c in kb:
                    ctx.violation(kp, k, f"key: {c}")
                for c in vb:
                    ctx.violation(kp, v, c)
        if bad_keys:
            ctx.violation(path, value, "Map keys must satisfy constraint: [" + ", ".join(bad_keys) + "]")
        if bad_values:
            ctx.violation(path, value, "Map value must satisfy constraint: [" + ", ".join(bad_values) + "]")
        for c in _length(len(value), self.lo, self.hi):
            ctx.violation(path, value, c)
        return out


class _Builder:
    """One node per shape name, shared by every operation that uses the shape.

    A structure is registered before its members are built, so recursive shapes terminate; the lock
    keeps other threads from seeing such a half-built structure.
    """

    def __init__(self) -> None:
        self.nodes: dict[str, _Node] = {}
        self.lock = threading.RLock()

    def build(self, shape: Any) -> _Node:
        with self.lock:
            return self.node(shape)

    def node(self, shape: Any) -> _Node:
        found = self.nodes.get(shape.name)
        if found is not None:
            return found
        kind, meta = shape.type_name, shape.metadata
        node: _Node
        if kind == "structure":
            # Register first: a recursive structure then reuses this node.
            struct = _Structure(shape.required_members)
            self.nodes[shape.name] = struct
            struct.fill([(n, self.node(m)) for n, m in shape.members.items()])
            return struct
        if kind == "string":
            node = _String(meta)
        elif kind in ("integer", "long", "float", "double"):
            node = _Number(kind, meta)
        elif kind == "boolean":
            node = _Boolean()
        elif kind == "blob":
            node = _Blob(meta)
        elif kind == "timestamp":
            node = _Timestamp()
        elif kind == "list":
            node = _List(self.node(shape.member), meta)
        elif kind == "map":
            node = _Map(self.node(shape.key), self.node(shape.value), meta)
        else:
            raise ValueError(f"unsupported shape type {kind!r} ({shape.name})")
        self.nodes[shape.name] = node
        return node


@cache
def _builder() -> _Builder:
    return _Builder()


_EMPTY = _Structure(())


@cache
def _input_node(name: str) -> _Node:
    shape = operation(name).input_shape
    return _EMPTY if shape is None else _builder().build(shape)


@cache
def _output_node(name: str) -> _Node:
    shape = operation(name).output_shape
    return _EMPTY if shape is None else _builder().build(shape)


# ---------------------------------------------------------------------------------------------
# Public API


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _load(body: bytes, max_body_bytes: int) -> Any:
    if len(body) > max_body_bytes:
        raise SerializationError(
            f"Request body of {len(body)} bytes is larger than the {max_body_bytes} bytes accepted"
        )
    if not body.strip():
        return {}
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise SerializationError("Request body is not UTF-8 text") from None
    except RecursionError:
        raise SerializationError("Request body is nested too deeply") from None
    except ValueError as e:  # JSONDecodeError, NaN/Infinity, over-long integers
        raise SerializationError(f"Request body is not valid JSON: {e}") from None


def parse_request(
    operation_name: str, body: bytes, *, max_body_bytes: int = MAX_BODY_BYTES
) -> dict[str, Any]:
    """Parse and validate one request body; blobs come back as bytes, unknown members dropped.

    Raises :class:`~glasshouse.rekognition.model.UnknownOperationError`, :class:`SerializationError`
    or :class:`ValidationError`.
    """
    node = _input_node(operation_name)
    data = _load(body, max_body_bytes)
    if type(data) is not dict:
        raise SerializationError(f"{_token(data)} found where not expected: the body must be a JSON object")
    ctx = _Ctx(request=True)
    params = node.walk(data, "", ctx)
    if ctx.problems:
        raise (ImageBytesTooLargeError if ctx.blob_too_large else ValidationError)(ctx.problems)
    assert isinstance(params, dict)
    return params


def validate_response(operation_name: str, response: dict[str, Any]) -> list[str]:
    """Problems of a response against the operation's output shape; empty means valid.

    Accepts the handler's dict (bytes, datetimes) or decoded JSON (base64 text, epoch numbers); a
    top-level ``ResponseMetadata`` (added by boto3) is ignored.
    """
    ctx = _Ctx(request=False)
    _output_node(operation_name).walk(response, "", ctx)
    return ctx.problems


def preload() -> None:
    """Build every operation's validators and compile every pattern now (about 0.5 s), e.g. at start-up."""
    for name in operation_names():
        _input_node(name)
        _output_node(name)
    for node in _builder().nodes.values():
        if isinstance(node, _String) and node.pattern_text is not None:
            _ = node.pattern
