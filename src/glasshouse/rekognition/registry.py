"""What every Rekognition operation handler shares: the caller, the request context, the registry of
operations with the policy capability each exercises, and reading an ``Image``/``S3Object`` parameter.

Handlers register with :func:`operation` (image operations in ``operations``, video ones in
``video_operations``); ``api`` imports both, so its ``OPERATIONS`` is the complete registry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from glasshouse.errors import GlasshouseError, ImageTooLargeError, InvalidParameterError, NotFoundError
from glasshouse.governance.actor import Actor
from glasshouse.governance.gate import Grant
from glasshouse.governance.policy import Capability
from glasshouse.media.service import MediaInfo
from glasshouse.services import Services

Params = dict[str, Any]
Response = dict[str, Any]


class ConflictError(GlasshouseError):
    code = "Conflict"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the verified access key's organisation, and the region their request was signed for."""

    org_id: str
    access_key_id: str
    region: str = "us-east-1"
    org_name: str = ""
    person: str | None = None

    @property
    def account_id(self) -> str:
        """A stable 12-digit pseudo account number per organisation, for ARNs."""
        return str(int(hashlib.sha256(self.org_id.encode()).hexdigest(), 16))[-12:].rjust(12, "0")

    @property
    def actor(self) -> Actor:
        """The caller as the audit log names it (as the gate does in ``rekognition.api``)."""
        return Actor(
            org_id=self.org_id,
            org_name=self.org_name,
            surface="rekognition-api",
            key_id=self.access_key_id,
            person=self.person,
        )


@dataclass(slots=True)
class Context:
    """One request: the services, the verified caller, the gate's grant for gated operations, and the
    headers to add to the response (``X-Glasshouse-Lead-Id`` when results await human review)."""

    services: Services
    caller: Caller
    grant: Grant | None = None
    request_headers: Mapping[str, str] = field(default_factory=dict)
    response_headers: dict[str, str] = field(default_factory=dict)

    def threshold(self, requested: float) -> float:
        return self.grant.similarity_at_least(requested) if self.grant else requested

    def at_most(self, requested: int) -> int:
        return self.grant.at_most(requested) if self.grant else requested


#: The policy capability each operation exercises. Every implemented operation is either here or in
#: NOT_BIOMETRIC (a test pins that), so a new operation cannot skip the gate unnoticed.
CAPABILITIES: dict[str, Capability] = {
    "DetectFaces": Capability.FACE_DETECT,
    "CompareFaces": Capability.FACE_COMPARE,
    "IndexFaces": Capability.FACE_INDEX,
    "AssociateFaces": Capability.FACE_INDEX,
    "SearchFaces": Capability.FACE_SEARCH,
    "SearchFacesByImage": Capability.FACE_SEARCH,
    "SearchUsers": Capability.USER_SEARCH,
    "SearchUsersByImage": Capability.USER_SEARCH,
    "StartFaceDetection": Capability.VIDEO_FACE_DETECTION,
    "StartFaceSearch": Capability.VIDEO_FACE_SEARCH,
}
#: Operations on metadata only: no image is analysed and no embedding compared.
NOT_BIOMETRIC = frozenset(
    {
        "CreateCollection",
        "DescribeCollection",
        "ListCollections",
        "DeleteCollection",
        "ListFaces",
        "DeleteFaces",
        "CreateUser",
        "DeleteUser",
        "ListUsers",
        "DisassociateFaces",
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
        # Reading one's own job's results; the biometric work was gated when the job was started.
        "GetFaceDetection",
        "GetFaceSearch",
    }
)


Handler = Callable[[Context, Params], Response]
OPERATIONS: dict[str, Handler] = {}


def operation(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        OPERATIONS[name] = fn
        return fn

    return register


# -- helpers -------------------------------------------------------------------------------------------------
class InvalidS3ObjectError(GlasshouseError):
    code = "InvalidS3Object"


def stored_object(ctx: Context, s3: Params) -> MediaInfo:
    """``S3Object {Bucket, Name}`` in Glasshouse's media store: Bucket is the caller's organisation name
    (its bucket of uploads, ``PUT /v1/media/NAME``), Name the object's name. Anything else, including
    another organisation's bucket, is InvalidS3ObjectException, exactly like a missing object."""
    if s3.get("Version"):
        raise InvalidParameterError("S3Object.Version is not supported by Glasshouse's media store")
    try:
        return ctx.services.media.resolve_s3_object(
            ctx.caller.org_id, str(s3.get("Bucket", "")), str(s3.get("Name", ""))
        )
    except NotFoundError as exc:
        raise InvalidS3ObjectError(
            "Unable to get object metadata from S3. Check object key, region and/or access permissions."
        ) from exc


def image_bytes(ctx: Context, image: Params) -> bytes:
    """The image's bytes: sent inline (``Bytes``) or stored in the media store (``S3Object``)."""
    if ("S3Object" in image) == ("Bytes" in image):
        raise InvalidParameterError("Image must contain exactly one of Bytes and S3Object")
    if "S3Object" in image:
        info = stored_object(ctx, image["S3Object"])
        if info.size > ctx.services.settings.max_image_bytes:
            raise ImageTooLargeError(
                f"image is {info.size} bytes; the limit is {ctx.services.settings.max_image_bytes}"
            )
        _, stream = ctx.services.media.open(info.org_id, info.name)
        with stream:
            return stream.read()
    data = image.get("Bytes")
    if not isinstance(data, bytes):
        raise InvalidParameterError("Image.Bytes must be base64-encoded image bytes")
    return data
