"""S3's errors: a code, an HTTP status and an XML body (``<Error><Code>..``), rendered in one place
(:func:`render`). Glasshouse's own errors are mapped onto S3's names by :func:`s3_error`."""

from __future__ import annotations

from xml.sax.saxutils import escape

from glasshouse.errors import (
    AlreadyExistsError,
    GlasshouseError,
    InvalidInputError,
    InvalidParameterError,
    NotFoundError,
)
from glasshouse.media.multipart import (
    EntityTooSmallError,
    InvalidPartError,
    InvalidPartOrderError,
    NoSuchUploadError,
)
from glasshouse.media.service import MediaNotFoundError, MediaTooLargeError
from glasshouse.rekognition import sigv4
from glasshouse.rest.streaming import IncompleteBodyError


class S3Error(Exception):
    """An answer in S3's error shape. ``fields`` adds elements to the body (``Key``, ``BucketName``...)."""

    def __init__(self, status: int, code: str, message: str, **fields: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields


def no_such_bucket(bucket: str) -> S3Error:
    # Identical for a missing bucket, another organisation's and the portal's shared bucket.
    return S3Error(404, "NoSuchBucket", "The specified bucket does not exist", BucketName=bucket)


def no_such_key(key: str) -> S3Error:
    return S3Error(404, "NoSuchKey", "The specified key does not exist.", Key=key)


def bad_digest(what: str) -> S3Error:
    return S3Error(400, "BadDigest", f"The {what} you specified did not match the calculated checksum.")


def _from_sigv4(exc: sigv4.SigV4Error) -> S3Error:
    if isinstance(exc, sigv4.MissingAuthenticationTokenException):
        return S3Error(403, "AccessDenied", "Access Denied")
    if isinstance(exc, sigv4.UnrecognizedClientException):
        return S3Error(
            403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
        )
    if isinstance(exc, sigv4.IncompleteSignatureException):
        return S3Error(400, "AuthorizationHeaderMalformed", exc.message)
    if isinstance(exc, sigv4.ExpiredPresignedURLException):
        return S3Error(403, "AccessDenied", exc.message)
    if exc.message.startswith("Signature expired") or exc.message.startswith("Signature not yet"):
        return S3Error(403, "RequestTimeTooSkewed", exc.message)
    if exc.message == sigv4.SIGNATURE_MISMATCH_MESSAGE:
        return S3Error(403, "SignatureDoesNotMatch", exc.message)
    return S3Error(403, "AccessDenied", exc.message)


def s3_error(exc: BaseException, key: str | None = None) -> S3Error:
    """The S3 error for any exception; unexpected ones are InternalError (500)."""
    if isinstance(exc, S3Error):
        return exc
    if isinstance(exc, sigv4.SigV4Error):
        return _from_sigv4(exc)
    if not isinstance(exc, GlasshouseError):
        return S3Error(500, "InternalError", "We encountered an internal error. Please try again.")
    table: list[tuple[type[GlasshouseError], int, str]] = [
        (MediaTooLargeError, 400, "EntityTooLarge"),
        (EntityTooSmallError, 400, "EntityTooSmall"),
        (NoSuchUploadError, 404, "NoSuchUpload"),
        (InvalidPartOrderError, 400, "InvalidPartOrder"),
        (InvalidPartError, 400, "InvalidPart"),
        (IncompleteBodyError, 400, "IncompleteBody"),
        (AlreadyExistsError, 409, "OperationAborted"),
        (InvalidParameterError, 400, "InvalidArgument"),
        (InvalidInputError, 400, "InvalidRequest"),
    ]
    if isinstance(exc, MediaNotFoundError):
        return no_such_key(key or "")
    for cls, status, code in table:
        if isinstance(exc, cls):
            return S3Error(status, code, exc.message)
    if isinstance(exc, NotFoundError):
        return S3Error(404, "NoSuchKey", exc.message)
    return S3Error(500, "InternalError", "We encountered an internal error. Please try again.")


def render(error: S3Error, resource: str, request_id: str) -> bytes:
    fields = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in error.fields.items())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{error.code}</Code><Message>{escape(error.message)}</Message>{fields}"
        f"<Resource>{escape(resource)}</Resource><RequestId>{request_id}</RequestId></Error>"
    ).encode()
