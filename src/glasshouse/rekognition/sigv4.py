"""AWS Signature Version 4 verification (header form and presigned query form, any region), for the
Rekognition-compatible API (service ``rekognition``) and the S3-compatible object endpoint (service ``s3``).

Pure: the caller passes the request as received (raw path and query string, still percent-encoded), a
function that finds a key's secret and the current time. Errors carry the names and HTTP statuses that
AWS's JSON 1.1 services answer with, so boto3 raises the same ``ClientError`` codes it would against AWS
(all four are 400 there; boto3 never retries them).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, Protocol, TypeVar
from urllib.parse import quote, unquote

from glasshouse.errors import GlasshouseError

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "rekognition"
TERMINATOR = "aws4_request"
#: Requests are accepted while their X-Amz-Date is within this much of the server's clock, either way.
MAX_CLOCK_SKEW = timedelta(minutes=15)
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

_AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$")
_REGION = re.compile(r"^[a-z0-9-]{1,64}$")
_HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class SigV4Error(GlasshouseError):
    """A request that cannot be authenticated. ``code`` is the AWS error name (the JSON ``__type``)."""

    code = "InvalidSignatureException"
    http_status = 400


class MissingAuthenticationTokenException(SigV4Error):
    code = "MissingAuthenticationTokenException"
    http_status = 400


class IncompleteSignatureException(SigV4Error):
    code = "IncompleteSignatureException"
    http_status = 400


class UnrecognizedClientException(SigV4Error):
    code = "UnrecognizedClientException"
    http_status = 400


class InvalidSignatureException(SigV4Error):
    code = "InvalidSignatureException"
    http_status = 400


MISSING_TOKEN_MESSAGE = "Request is missing Authentication Token"
UNRECOGNIZED_CLIENT_MESSAGE = "The security token included in the request is invalid."
SIGNATURE_MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


class HasSecret(Protocol):
    @property
    def secret(self) -> str: ...


K = TypeVar("K", bound=HasSecret)


@dataclass(frozen=True, slots=True)
class Authorization:
    """The parsed ``Authorization`` header."""

    access_key_id: str
    scope_date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        return f"{self.scope_date}/{self.region}/{self.service}/{TERMINATOR}"


def _header_map(headers: Mapping[str, str]) -> dict[str, list[str]]:
    """Lower-cased names to every value. ``items()`` of a multi-dict (Starlette) yields repeats too."""
    out: dict[str, list[str]] = {}
    for name, value in headers.items():
        out.setdefault(name.lower(), []).append(value)
    return out


def credential_service(value: str) -> str | None:
    """The service named in a credential scope (``ID/date/region/SERVICE/aws4_request``), if any."""
    parts = value.split("/")
    return parts[3] if len(parts) == 5 else None


def parse_authorization(value: str, service: str = SERVICE) -> Authorization:
    """Parse ``AWS4-HMAC-SHA256 Credential=ID/date/region/service/aws4_request, SignedHeaders=..,
    Signature=..``; raises :class:`IncompleteSignatureException` or :class:`InvalidSignatureException`."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignatureException(f"Unsupported AWS 'algorithm': '{algorithm[:32]}'.")
    params: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, val = part.strip().partition("=")
        if sep:
            params[name.strip()] = val.strip()
    missing = [p for p in ("Credential", "Signature", "SignedHeaders") if not params.get(p)]
    if missing:
        raise IncompleteSignatureException(
            " ".join(f"Authorization header requires '{p}' parameter." for p in missing)
        )
    return _authorization(params["Credential"], params["SignedHeaders"], params["Signature"], service)


def _authorization(
    credential: str, signed_headers: str, signature: str, expected_service: str
) -> Authorization:
    parts = credential.split("/")
    if len(parts) != 5 or not all(parts):
        raise IncompleteSignatureException(
            "Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{credential[:128]}'"
        )
    key_id, scope_date, region, service, terminator = parts
    if terminator != TERMINATOR:
        raise InvalidSignatureException(
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{terminator[:32]}'."
        )
    if service != expected_service:
        raise InvalidSignatureException(
            f"Credential should be scoped to correct service: '{expected_service}'."
        )
    if not _REGION.match(region):
        raise InvalidSignatureException("Credential should be scoped to a valid region.")
    signed = tuple(h.strip().lower() for h in signed_headers.split(";"))
    if not all(signed):
        raise IncompleteSignatureException("SignedHeaders must be a ';'-separated list of header names.")
    if "host" not in signed:
        raise IncompleteSignatureException("'Host' must be a 'SignedHeader' in the AWS Authorization.")
    return Authorization(key_id, scope_date, region, service, signed, signature)


def canonical_uri(raw_path: str) -> str:
    """The path as sent, with dot segments and repeated slashes removed, URI-encoded once more (AWS encodes
    each segment twice for every service but S3; the raw path already carries the first encoding)."""
    segments: list[str] = []
    for seg in raw_path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if segments:
                segments.pop()
        else:
            segments.append(seg)
    path = "/" + "/".join(segments)
    if raw_path.endswith("/") and segments:
        path += "/"
    return quote(path, safe="/~")


def _uri_encode(value: str) -> str:
    return quote(value, safe="-_.~")


def canonical_query(raw_query: str, *, omit: str | None = None) -> str:
    """Each name and value decoded then RFC 3986-encoded, sorted by name then value, joined with ``&``
    (without the parameter ``omit``: a presigned URL's own signature)."""
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if omit is not None and unquote(name) == omit:
            continue
        pairs.append((_uri_encode(unquote(name)), _uri_encode(unquote(value))))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def _trim(value: str) -> str:
    return " ".join(value.split())


def canonical_request(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, list[str]],
    signed_headers: tuple[str, ...],
    payload_hash: str,
    *,
    normalise_path: bool = True,
    omit_query: str | None = None,
) -> str:
    """``normalise_path=False`` for S3, whose signers use the path exactly as sent (encoded once)."""
    canonical_headers = "".join(
        f"{name}:{','.join(_trim(v) for v in headers.get(name, []))}\n" for name in signed_headers
    )
    return "\n".join(
        [
            method.upper(),
            canonical_uri(raw_path or "/") if normalise_path else (raw_path or "/"),
            canonical_query(raw_query, omit=omit_query),
            canonical_headers,
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode("utf-8")
    for part in (date, region, service, TERMINATOR):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def signature(secret: str, auth: Authorization, amz_date: str, canonical: str) -> str:
    key = signing_key(secret, auth.scope_date, auth.region, auth.service)
    return hmac.new(key, string_to_sign(amz_date, auth.scope, canonical).encode(), hashlib.sha256).hexdigest()


def _parse_amz_date(value: str) -> datetime:
    if _AMZ_DATE.match(value):
        try:
            return datetime.strptime(value, AMZ_DATE_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            pass
    raise IncompleteSignatureException(
        f"X-Amz-Date must be in ISO 8601 basic format (YYYYMMDD'T'HHMMSS'Z'), got '{value[:32]}'."
    )


def _check_clock(signed_at: datetime, amz_date: str, now: datetime) -> None:
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    now = now.astimezone(UTC)
    minutes = int(MAX_CLOCK_SKEW.total_seconds() // 60)

    def fmt(t: datetime) -> str:
        return t.strftime(AMZ_DATE_FORMAT)

    if signed_at < now - MAX_CLOCK_SKEW:
        raise InvalidSignatureException(
            f"Signature expired: {amz_date} is now earlier than {fmt(now - MAX_CLOCK_SKEW)} "
            f"({fmt(now)} - {minutes} min.)"
        )
    if signed_at > now + MAX_CLOCK_SKEW:
        raise InvalidSignatureException(
            f"Signature not yet current: {amz_date} is still later than {fmt(now + MAX_CLOCK_SKEW)} "
            f"({fmt(now)} + {minutes} min.)"
        )


@dataclass(frozen=True, slots=True)
class Verified:
    """An authenticated request: the key, its parsed credential, and what S3's chunked bodies need to
    verify each chunk (the request's signature seeds the chain of chunk signatures)."""

    key: HasSecret
    auth: Authorization
    amz_date: str
    seed_signature: str

    def signing_key(self) -> bytes:
        a = self.auth
        return signing_key(self.key.secret, a.scope_date, a.region, a.service)


@dataclass(frozen=True, slots=True)
class Presented(Generic[K]):
    """A request whose headers passed every check that needs no body: its key, parsed header and date."""

    key: K
    auth: Authorization
    amz_date: str
    headers: dict[str, list[str]]


def check_headers(
    *, headers: Mapping[str, str], lookup: Callable[[str], K | None], now: datetime, service: str = SERVICE
) -> Presented[K]:
    """Every check that needs no body, cheapest first: header syntax, scope, clock, then the key. Run it before
    reading the body, so an unauthenticated caller never has one read."""
    header_map = _header_map(headers)
    authorization = ",".join(header_map.get("authorization", [])).strip()
    if not authorization:
        raise MissingAuthenticationTokenException(MISSING_TOKEN_MESSAGE)
    auth = parse_authorization(authorization, service)
    amz_dates = header_map.get("x-amz-date")
    if not amz_dates:
        raise IncompleteSignatureException("Authorization header requires an 'X-Amz-Date' header.")
    amz_date = amz_dates[0].strip()
    signed_at = _parse_amz_date(amz_date)
    if auth.scope_date != amz_date[:8]:
        raise InvalidSignatureException(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{auth.scope_date[:16]}' != '{amz_date[:8]}', from '{amz_date}'."
        )
    _check_clock(signed_at, amz_date, now)
    declared = header_map.get("x-amz-content-sha256")
    # Rekognition's bodies are always hashed; S3 may also declare UNSIGNED-PAYLOAD or a streaming mode.
    if service == SERVICE and declared is not None and not _HEX_SHA256.match(declared[0].strip().lower()):
        raise InvalidSignatureException(
            "The provided 'x-amz-content-sha256' header does not match what was computed."
        )
    key = lookup(auth.access_key_id)
    if key is None:
        raise UnrecognizedClientException(UNRECOGNIZED_CLIENT_MESSAGE)
    return Presented(key, auth, amz_date, header_map)


def _signed(
    presented: Presented[K], *, method: str, path: str, query: str, payload_hash: str, normalise_path: bool
) -> Verified:
    auth = presented.auth
    canonical = canonical_request(
        method,
        path,
        query,
        presented.headers,
        auth.signed_headers,
        payload_hash,
        normalise_path=normalise_path,
    )
    expected = signature(presented.key.secret, auth, presented.amz_date, canonical)
    if not hmac.compare_digest(expected.encode("ascii"), auth.signature.encode("utf-8", "replace")):
        raise InvalidSignatureException(SIGNATURE_MISMATCH_MESSAGE)
    return Verified(presented.key, auth, presented.amz_date, expected)


def check_signature(presented: Presented[K], *, method: str, path: str, query: str, body: bytes) -> K:
    """The body hash and the signature of a request whose headers passed :func:`check_headers`."""
    payload_hash = hashlib.sha256(body).hexdigest()
    declared = presented.headers.get("x-amz-content-sha256")
    if declared is not None and not hmac.compare_digest(declared[0].strip().lower(), payload_hash):
        raise InvalidSignatureException(
            "The provided 'x-amz-content-sha256' header does not match what was computed."
        )
    _signed(presented, method=method, path=path, query=query, payload_hash=payload_hash, normalise_path=True)
    return presented.key


def verify(
    *,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    lookup: Callable[[str], K | None],
    now: datetime,
) -> K:
    """Authenticate one Rekognition request with its whole body; returns what ``lookup`` gave for its
    access key id.

    ``path`` and ``query`` are as received on the wire (percent-encoded; ASGI ``raw_path`` and
    ``query_string``); ``headers`` may be any case-insensitive or plain mapping, or a multi-dict whose
    ``items()`` yields repeated headers. ``lookup`` returns ``None`` for unknown or revoked keys.
    Checks run cheapest first: header syntax, scope, clock, key (:func:`check_headers`), then body hash and
    signature (:func:`check_signature`).
    """
    presented = check_headers(headers=headers, lookup=lookup, now=now)
    return check_signature(presented, method=method, path=path, query=query, body=body)


def authenticate(
    *,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    payload_hash: Callable[[dict[str, list[str]]], str],
    lookup: Callable[[str], K | None],
    now: datetime,
    service: str = SERVICE,
    normalise_path: bool = True,
) -> Verified:
    """Authenticate a request signed in its ``Authorization`` header for ``service``. ``payload_hash``
    gives the hash the signature covers, from the headers (S3: ``x-amz-content-sha256`` as declared, the
    body checked as it streams) after the key is known; it may raise."""
    presented = check_headers(headers=headers, lookup=lookup, now=now, service=service)
    declared_hash = payload_hash(presented.headers)
    return _signed(
        presented,
        method=method,
        path=path,
        query=query,
        payload_hash=declared_hash,
        normalise_path=normalise_path,
    )


#: The longest a presigned URL may be valid (AWS: seven days).
MAX_PRESIGNED_SECONDS = 7 * 24 * 3600
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


class ExpiredPresignedURLException(SigV4Error):
    code = "AccessDenied"
    http_status = 403


def query_params(raw_query: str) -> dict[str, str]:
    """Decoded query parameters (the first of repeated names)."""
    out: dict[str, str] = {}
    for part in raw_query.split("&"):
        name, _, value = part.partition("=")
        if name:
            out.setdefault(unquote(name), unquote(value))
    return out


def authenticate_presigned(
    *,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    lookup: Callable[[str], K | None],
    now: datetime,
    service: str,
) -> Verified:
    """Authenticate a presigned URL (``X-Amz-Algorithm``, ``-Credential``, ``-Date``, ``-Expires``,
    ``-SignedHeaders``, ``-Signature`` in the query; the payload is never signed)."""
    params = query_params(query)
    if params.get("X-Amz-Algorithm") != ALGORITHM:
        raise IncompleteSignatureException("X-Amz-Algorithm only supports 'AWS4-HMAC-SHA256'")
    missing = [
        p
        for p in ("X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature")
        if not params.get(p)
    ]
    if missing:
        raise IncompleteSignatureException(f"Query-string authentication requires {', '.join(missing)}.")
    auth = _authorization(
        params["X-Amz-Credential"], params["X-Amz-SignedHeaders"], params["X-Amz-Signature"], service
    )
    amz_date = params["X-Amz-Date"]
    signed_at = _parse_amz_date(amz_date)
    if auth.scope_date != amz_date[:8]:
        raise InvalidSignatureException("Date in Credential scope does not match X-Amz-Date.")
    expires = params["X-Amz-Expires"]
    if not expires.isdigit() or not 1 <= int(expires) <= MAX_PRESIGNED_SECONDS:
        raise IncompleteSignatureException(
            f"X-Amz-Expires must be between 1 and {MAX_PRESIGNED_SECONDS} seconds."
        )
    current = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    if current > signed_at + timedelta(seconds=int(expires)):
        raise ExpiredPresignedURLException("Request has expired")
    if signed_at > current + MAX_CLOCK_SKEW:
        raise InvalidSignatureException("Request is not yet valid")
    key = lookup(auth.access_key_id)
    if key is None:
        raise UnrecognizedClientException(UNRECOGNIZED_CLIENT_MESSAGE)
    header_map = _header_map(headers)
    canonical = canonical_request(
        method,
        path,
        query,
        header_map,
        auth.signed_headers,
        UNSIGNED_PAYLOAD,
        normalise_path=service != "s3",
        omit_query="X-Amz-Signature",
    )
    expected = signature(key.secret, auth, amz_date, canonical)
    if not hmac.compare_digest(expected.encode("ascii"), auth.signature.encode("utf-8", "replace")):
        raise InvalidSignatureException(SIGNATURE_MISMATCH_MESSAGE)
    return Verified(key, auth, amz_date, expected)
