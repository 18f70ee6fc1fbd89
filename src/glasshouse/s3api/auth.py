"""Which requests are S3's, which bucket and key they name, and who sent them.

An S3 request is one signed for service ``s3``: its ``Authorization`` header's credential scope, or a
presigned URL's ``X-Amz-Credential``, names ``s3``. That is how S3 shares ``/`` with the Rekognition API
(whose requests are signed for ``rekognition``) and every other path with the UI and REST routes: an
unsigned request or one signed for another service never reaches the S3 handlers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote

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
    if authorization.startswith("AWS "):
        return True  # Signature Version 2: S3's alone (refused, naming SigV4)
    query = bytes(scope.get("query_string", b"")).decode("latin-1")  # type: ignore[call-overload]
    if "AWSAccessKeyId=" in query and "Signature=" in query:
        return True  # a Signature Version 2 presigned URL (boto3's default for S3)
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
    #: ``None`` for a Signature Version 2 presigned URL (no chunk signatures can follow it).
    verified: sigv4.Verified | None

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


#: Query parameters that Signature Version 2 signs as part of the resource (botocore's list).
V2_SUBRESOURCES = frozenset(
    {
        "accelerate", "acl", "cors", "defaultObjectAcl", "location", "logging", "partNumber", "policy",
        "requestPayment", "torrent", "versioning", "versionId", "versions", "website", "uploads", "uploadId",
        "response-content-type", "response-content-language", "response-expires", "response-cache-control",
        "response-content-disposition", "response-content-encoding", "delete", "lifecycle", "tagging",
        "restore", "storageClass", "notification", "replication", "analytics", "metrics", "inventory",
        "select", "select-type", "object-lock",
    }
)  # fmt: skip


def _v2_presigned(
    keys: KeyService, method: str, resource_path: str, query: str, headers: Mapping[str, str]
) -> ActiveKey:
    """A Signature Version 2 presigned URL (``AWSAccessKeyId``, ``Expires``, ``Signature``): what boto3's
    ``generate_presigned_url`` makes for S3 unless told to use SigV4."""
    params = sigv4.query_params(query)
    expires = params.get("Expires", "")
    if not expires.isdigit():
        raise sigv4.IncompleteSignatureException("Query-string authentication requires Expires.")
    if time.time() > int(expires):
        raise sigv4.ExpiredPresignedURLException("Request has expired")
    if int(expires) > time.time() + sigv4.MAX_PRESIGNED_SECONDS:  # as SigV4's limit: at most a week
        raise sigv4.ExpiredPresignedURLException("Presigned URLs are valid for at most seven days")
    key = keys.lookup(params.get("AWSAccessKeyId", ""))
    if key is None:
        raise sigv4.UnrecognizedClientException(sigv4.UNRECOGNIZED_CLIENT_MESSAGE)
    signed = []
    for part in query.split("&"):
        name, sep, value = part.partition("=")
        if name in V2_SUBRESOURCES:
            signed.append((name, f"{name}={unquote(value)}" if sep else name))
    resource = resource_path + ("?" + "&".join(v for _, v in sorted(signed)) if signed else "")
    amz = sorted((k.lower(), v.strip()) for k, v in headers.items() if k.lower().startswith("x-amz-"))
    to_sign = "\n".join(
        [method, headers.get("content-md5", ""), headers.get("content-type", ""), expires]
        + [f"{k}:{v}" for k, v in amz]
        + [resource]
    )
    expected = base64.b64encode(hmac.new(key.secret.encode(), to_sign.encode(), hashlib.sha1).digest())
    if not hmac.compare_digest(expected, params.get("Signature", "").encode()):
        raise sigv4.InvalidSignatureException(sigv4.SIGNATURE_MISMATCH_MESSAGE)
    return key


def authenticate(
    keys: KeyService,
    organisations: OrganisationService,
    *,
    method: str,
    raw_path: str,
    query: str,
    headers: Mapping[str, str],
    where: Target,
) -> S3Caller:
    """Verify the request's signature (SigV4 header or presigned; SigV2 presigned) for service ``s3``;
    raises SigV4 errors."""
    now = datetime.now(UTC)
    verified: sigv4.Verified | None = None
    region = "us-east-1"
    authorization = headers.get("authorization", "")
    if authorization.startswith("AWS "):
        raise S3Error(
            400,
            "InvalidRequest",
            "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
        )
    if authorization:
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
    elif "X-Amz-Credential" in query:
        verified = sigv4.authenticate_presigned(
            method=method,
            path=raw_path,
            query=query,
            headers=headers,
            lookup=keys.lookup,
            now=now,
            service=SERVICE,
        )
    else:
        resource = f"/{quote(where.bucket)}{raw_path}" if where.virtual_hosted else raw_path
        key = _v2_presigned(keys, method, resource, query, headers)
    if verified is not None:
        key = verified.key  # type: ignore[assignment]
        region = verified.auth.region
    assert isinstance(key, ActiveKey)
    keys.touch(key.access_key_id)
    org = organisations.get_by_id(key.org_id)
    return S3Caller(key, org.name, region, verified)
