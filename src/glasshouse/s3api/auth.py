"""Which requests are S3's, which bucket and key they name, and who sent them.

An S3 request is one signed for service ``s3``: its ``Authorization`` header's credential scope, or a
presigned URL's ``X-Amz-Credential``, names ``s3``. That is how S3 shares ``/`` with the Rekognition API
(whose requests are signed for ``rekognition``) and every other path with the UI and REST routes: an
unsigned request or one signed for another service never reaches the S3 handlers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote

from glasshouse.governance.actor import Actor
from glasshouse.keys.service import ActiveKey, KeyService
from glasshouse.organisations.service import OrganisationService
from glasshouse.rekognition import sigv4
from glasshouse.s3api.errors import S3Error

SERVICE = "s3"


def _header(scope: Mapping[str, object], name: bytes) -> str:
    for key, value in scope.get("headers", ()):  # type: ignore[attr-defined]
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return ""


def is_s3_request(scope: Mapping[str, object]) -> bool:
    """Whether an ASGI HTTP request is signed (header or presigned query) for service ``s3``."""
    authorization = _header(scope, b"authorization")
    if authorization.startswith(sigv4.ALGORITHM):
        for part in authorization[len(sigv4.ALGORITHM) :].split(","):
            name, _, value = part.strip().partition("=")
            if name == "Credential":
                return sigv4.credential_service(value.strip()) == SERVICE
        return False
    query = bytes(scope.get("query_string", b"")).decode("latin-1")  # type: ignore[call-overload]
    if "X-Amz-Credential" in query:
        credential = sigv4.query_params(query).get("X-Amz-Credential", "")
        return sigv4.credential_service(credential) == SERVICE
    return False


@dataclass(frozen=True)
class Target:
    """The bucket and key a request names (either may be empty)."""

    bucket: str
    key: str
    virtual_hosted: bool


def target(raw_path: str, host: str, virtual_host: str) -> Target:
    """Virtual-hosted style when the Host is ``<bucket>.<virtual_host>`` (port ignored), else path style
    (``/<bucket>/<key>``). Keys are percent-decoded once (SDKs encode them once)."""
    hostname = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    suffix = "." + virtual_host.lower() if virtual_host else ""
    if suffix and hostname.lower().endswith(suffix) and len(hostname) > len(suffix):
        return Target(hostname[: -len(suffix)], unquote(raw_path.lstrip("/")), True)
    bucket, _, key = raw_path.lstrip("/").partition("/")
    return Target(unquote(bucket), unquote(key), False)


@dataclass(frozen=True)
class S3Caller:
    key: ActiveKey
    org_name: str
    region: str
    verified: sigv4.Verified

    @property
    def actor(self) -> Actor:
        return Actor(
            org_id=self.key.org_id,
            org_name=self.org_name,
            surface="s3-api",
            key_id=self.key.access_key_id,
            person=self.key.person_id,
        )


def _declared_payload_hash(headers: dict[str, list[str]]) -> str:
    values = headers.get("x-amz-content-sha256")
    if not values:
        raise S3Error(400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
    return values[0].strip()


def authenticate(
    keys: KeyService,
    organisations: OrganisationService,
    *,
    method: str,
    raw_path: str,
    query: str,
    headers: Mapping[str, str],
) -> S3Caller:
    """Verify the request's signature (header or presigned) for service ``s3``; raises SigV4 errors."""
    now = datetime.now(UTC)
    if "authorization" in headers:
        verified = sigv4.authenticate(
            method=method,
            path=raw_path,
            query=query,
            headers=headers,
            payload_hash=_declared_payload_hash,
            lookup=keys.lookup,
            now=now,
            service=SERVICE,
            normalise_path=False,
        )
    else:
        verified = sigv4.authenticate_presigned(
            method=method,
            path=raw_path,
            query=query,
            headers=headers,
            lookup=keys.lookup,
            now=now,
            service=SERVICE,
        )
    key = verified.key
    assert isinstance(key, ActiveKey)
    keys.touch(key.access_key_id)
    org = organisations.get_by_id(key.org_id)
    return S3Caller(key, org.name, verified.auth.region, verified)
