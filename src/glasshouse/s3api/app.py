"""The S3 operations Glasshouse serves, as one ASGI app that :class:`S3Dispatch` routes S3-signed
requests to: ListBuckets, HeadBucket, GetBucketLocation, ListObjects(V2), PutObject, GetObject (one
range), HeadObject, DeleteObject and the multipart upload operations. Every other S3 operation answers
``NotImplemented``.

Order, as in the Rekognition API: authenticate, throttle, then look at the bucket; an unauthenticated
caller learns nothing. Bucket = the caller's organisation name; any other bucket (another
organisation's, the portal's read-only ``portal-shared``, or none at all) answers ``NoSuchBucket``
identically. Bodies stream to the media store (:mod:`glasshouse.s3api.body`), capped at
``media_max_bytes``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import IO
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from glasshouse.http.observability import Metrics
from glasshouse.http.throttle import TokenBuckets
from glasshouse.media.multipart import RequestedPart
from glasshouse.media.service import MediaInfo, MediaNotFoundError
from glasshouse.media.store import READ_CHUNK
from glasshouse.rest.streaming import blocking_chunks, declared_length
from glasshouse.s3api import checksums, listing
from glasshouse.s3api.auth import S3Caller, Target, authenticate, is_s3_request, target
from glasshouse.s3api.body import BodySpec, decode
from glasshouse.s3api.errors import S3Error, no_such_bucket, render, s3_error
from glasshouse.s3api.xml import document, element, etag, http_date, iso
from glasshouse.services import Services

log = logging.getLogger("glasshouse.s3api")

#: Largest CompleteMultipartUpload document (10,000 parts fit in well under this).
MAX_XML_BYTES = 2 * 1024 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}


class S3Dispatch:
    """ASGI middleware: S3-signed requests go to ``s3``, everything else to the wrapped app."""

    def __init__(self, app: ASGIApp, s3: ASGIApp) -> None:
        self.app, self.s3 = app, s3

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_s3_request(scope):
            await self.s3(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _object_headers(info: MediaInfo) -> dict[str, str]:
    return {
        "ETag": etag(info.sha256),
        "Last-Modified": http_date(info.created_at),
        "Content-Type": info.content_type,
        "Accept-Ranges": "bytes",
        "x-amz-meta-sha256": info.sha256,
    }


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single ``Range: bytes=..`` within ``size``; ``None`` for the whole object."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None  # S3 ignores a range it cannot parse
    first_text, last_text = match.groups()
    if first_text == "":
        length = int(last_text)
        if length == 0 or size == 0:
            raise S3Error(416, "InvalidRange", "The requested range is not satisfiable")
        return max(0, size - length), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if first >= size or last < first:
        raise S3Error(416, "InvalidRange", "The requested range is not satisfiable")
    return first, min(last, size - 1)


def _read_range(stream: IO[bytes], first: int, last: int) -> Iterator[bytes]:
    with stream:
        try:
            stream.seek(first)
        except (OSError, io.UnsupportedOperation):
            skip = first
            while skip > 0 and (chunk := stream.read(min(READ_CHUNK, skip))):
                skip -= len(chunk)
        left = last - first + 1
        while left > 0 and (chunk := stream.read(min(READ_CHUNK, left))):
            left -= len(chunk)
            yield chunk


#: Every S3 operation served (what :func:`classify` answers, besides NotImplemented and MethodNotAllowed).
OPERATIONS = frozenset(
    {
        "ListBuckets", "HeadBucket", "GetBucketLocation", "ListObjects", "ListObjectsV2", "PutObject",
        "GetObject", "HeadObject", "DeleteObject", "CreateMultipartUpload", "UploadPart",
        "CompleteMultipartUpload", "AbortMultipartUpload",
    }
)  # fmt: skip
_LIST_PARAMS = {
    "list-type", "prefix", "delimiter", "max-keys", "continuation-token", "start-after", "encoding-type",
    "fetch-owner", "marker",
}  # fmt: skip


def classify(method: str, query: Mapping[str, str], headers: Mapping[str, str], where: Target) -> str:
    """The S3 operation a request is (``NotImplemented`` for those Glasshouse does not serve)."""
    if not where.bucket:
        return "ListBuckets" if method == "GET" else "MethodNotAllowed"
    if not where.key:
        if method == "HEAD":
            return "HeadBucket"
        if method == "GET" and "location" in query:
            return "GetBucketLocation"
        if method == "GET" and not set(query) - _LIST_PARAMS:
            return "ListObjectsV2" if query.get("list-type") == "2" else "ListObjects"
        return "NotImplemented"
    if method == "PUT" and "uploadId" in query:
        return "UploadPart"
    if method == "PUT" and headers.get("x-amz-copy-source"):
        return "NotImplemented"  # CopyObject
    if method == "PUT" and not query:
        return "PutObject"
    if method in ("GET", "HEAD") and "uploadId" not in query:
        return "GetObject" if method == "GET" else "HeadObject"
    if method == "DELETE":
        return (
            "AbortMultipartUpload"
            if "uploadId" in query
            else "DeleteObject"
            if not query
            else "NotImplemented"
        )
    if method == "POST" and "uploads" in query:
        return "CreateMultipartUpload"
    if method == "POST" and "uploadId" in query:
        return "CompleteMultipartUpload"
    return "NotImplemented"


class S3App:
    def __init__(self, services: Services, metrics: Metrics, buckets: TokenBuckets) -> None:
        self.services = services
        self.metrics = metrics
        self.buckets = buckets
        self.virtual_host = services.settings.s3api_virtual_host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        started = time.perf_counter()
        request_id = uuid.uuid4().hex[:16].upper()
        raw_path = scope.get("raw_path", b"/").decode("latin-1").split("?", 1)[0] or "/"
        where = target(raw_path, request.headers.get("host", ""), self.virtual_host)
        operation, caller = classify(request.method, request.query_params, request.headers, where), None
        try:
            caller = await run_in_threadpool(
                authenticate,
                self.services.keys,
                self.services.organisations,
                method=request.method,
                raw_path=raw_path,
                query=scope.get("query_string", b"").decode("latin-1"),
                headers=request.headers,
                where=where,
            )
            if not self.buckets.allow(caller.key.access_key_id):
                raise S3Error(503, "SlowDown", "Please reduce your request rate.")
            response = await self.route(request, caller, where, operation)
            status, error = response.status_code, None
        except Exception as exc:
            failure = s3_error(exc, where.key)
            status, error = failure.status, failure.code
            if status >= 500:
                log.exception("internal error", extra={"request_id": request_id, "operation": operation})
            if request.method == "HEAD":
                response = Response(status_code=status)
            else:
                resource = f"/{where.bucket}/{where.key}" if where.key else f"/{where.bucket}"
                response = Response(
                    render(failure, resource, request_id), status, media_type="application/xml"
                )
        response.headers["x-amz-request-id"] = request_id
        if error is not None and (
            request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
        ):
            # The body may be unread: close the connection rather than parse its rest as a request.
            response.headers["connection"] = "close"
        elapsed = time.perf_counter() - started
        self.metrics.observe(f"s3:{operation}", status, error, elapsed)
        log.info(
            "s3 request",
            extra={
                "request_id": request_id,
                "method": request.method,
                "operation": operation,
                "status": status,
                "error": error,
                "org_id": caller.key.org_id if caller else None,
                "latency_ms": round(elapsed * 1000, 2),
            },
        )
        await response(scope, receive, send)

    async def route(self, request: Request, caller: S3Caller, where: Target, operation: str) -> Response:
        query = request.query_params
        if operation == "ListBuckets":
            return await run_in_threadpool(self.list_buckets, caller)
        if operation == "MethodNotAllowed":
            raise S3Error(
                405, "MethodNotAllowed", "The specified method is not allowed against this resource."
            )
        if where.bucket != caller.org_name:
            raise no_such_bucket(where.bucket)
        match operation:
            case "HeadBucket":
                return Response(headers={"x-amz-bucket-region": caller.region})
            case "GetBucketLocation":
                return Response(document("LocationConstraint", ""), media_type="application/xml")
            case "ListObjectsV2" | "ListObjects":
                return await run_in_threadpool(self.list_objects, caller, where, dict(query))
            case "UploadPart":
                return await self.upload_part(request, caller, where)
            case "PutObject":
                return await self.put_object(request, caller, where)
            case "GetObject" | "HeadObject":
                return await run_in_threadpool(self.get_object, request, caller, where)
            case "AbortMultipartUpload":
                return await run_in_threadpool(self.abort, caller, where, query["uploadId"])
            case "DeleteObject":
                return await run_in_threadpool(self.delete_object, caller, where)
            case "CreateMultipartUpload":
                return await run_in_threadpool(self.create_upload, request, caller, where)
            case "CompleteMultipartUpload":
                return await self.complete(request, caller, where, query["uploadId"])
        raise S3Error(501, "NotImplemented", "Glasshouse does not implement this S3 operation.")

    # -- buckets ----------------------------------------------------------------------------------------
    def list_buckets(self, caller: S3Caller) -> Response:
        org = self.services.organisations.get_by_id(caller.key.org_id)
        inner = (
            f"<Owner>{element('ID', org.id)}{element('DisplayName', org.name)}</Owner>"
            f"<Buckets><Bucket>{element('Name', org.name)}{element('CreationDate', iso(org.created_at))}"
            "</Bucket></Buckets>"
        )
        return Response(document("ListAllMyBucketsResult", inner), media_type="application/xml")

    def list_objects(self, caller: S3Caller, where: Target, query: dict[str, str]) -> Response:
        body = listing.list_objects(self.services.media.list(caller.key.org_id), where.bucket, query)
        return Response(body, media_type="application/xml")

    # -- objects ----------------------------------------------------------------------------------------
    def _body(
        self, request: Request, caller: S3Caller, limit: int
    ) -> tuple[BodySpec, Iterator[bytes], dict[str, str]]:
        """The decoded, verified body of ``request`` (to be consumed in a worker thread)."""
        spec = BodySpec.of(request.headers)
        declared = declared_length(request)
        promised = spec.decoded_length if spec.decoded_length is not None else declared
        if promised is not None and promised > limit:
            raise S3Error(
                400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size."
            )
        trailers: dict[str, str] = {}
        raw = blocking_chunks(request.stream().__aiter__(), declared)
        return spec, decode(spec, raw, caller.verified, trailers), trailers

    @staticmethod
    def _checksum_headers(spec: BodySpec) -> dict[str, str]:
        return {checksums.header_name(a): v for a, v in spec.checksums.items() if v is not None}

    async def put_object(self, request: Request, caller: S3Caller, where: Target) -> Response:
        media = self.services.media
        spec, chunks, _ = self._body(request, caller, media.max_bytes)
        content_type = request.headers.get("content-type")
        try:
            info = await run_in_threadpool(media.upload, caller.actor, where.key, chunks, content_type)
        except ClientDisconnect:
            raise S3Error(400, "IncompleteBody", "The client disconnected during the upload") from None
        return Response(headers={"ETag": etag(info.sha256), **self._checksum_headers(spec)})

    def get_object(self, request: Request, caller: S3Caller, where: Target) -> Response:
        media = self.services.media
        info = media.get(caller.key.org_id, where.key)
        headers = _object_headers(info)
        for name, header in _OVERRIDES.items():  # response-content-type=... on (presigned) GETs
            if value := request.query_params.get(name):
                if not value.isprintable() or len(value) > 1024:
                    raise S3Error(400, "InvalidArgument", f"{name} must be printable text")
                headers[header] = value
        span = _range(request.headers.get("range"), info.size)
        if request.method == "HEAD":
            return Response(headers={**headers, "Content-Length": str(info.size)})
        info, stream = media.open(caller.key.org_id, where.key)
        if span is None:
            headers["Content-Length"] = str(info.size)
            return StreamingResponse(_read_range(stream, 0, info.size - 1), headers=headers)
        first, last = span
        headers["Content-Length"] = str(last - first + 1)
        headers["Content-Range"] = f"bytes {first}-{last}/{info.size}"
        return StreamingResponse(_read_range(stream, first, last), status_code=206, headers=headers)

    def delete_object(self, caller: S3Caller, where: Target) -> Response:
        with contextlib.suppress(MediaNotFoundError):  # S3 answers 204 for a key that does not exist
            self.services.media.delete(caller.actor, caller.key.org_id, where.key)
        return Response(status_code=204)

    # -- multipart --------------------------------------------------------------------------------------
    def create_upload(self, request: Request, caller: S3Caller, where: Target) -> Response:
        algorithm = request.headers.get("x-amz-checksum-algorithm")
        if algorithm is not None and algorithm.upper() not in checksums.ALGORITHMS:
            raise S3Error(400, "InvalidRequest", f"Checksum algorithm {algorithm[:16]} is not supported here")
        upload_id = self.services.multipart.create(
            caller.actor, where.key, request.headers.get("content-type")
        )
        inner = element("Bucket", where.bucket) + element("Key", where.key) + element("UploadId", upload_id)
        headers = {"x-amz-checksum-algorithm": algorithm.upper()} if algorithm else {}
        return Response(
            document("InitiateMultipartUploadResult", inner), media_type="application/xml", headers=headers
        )

    async def upload_part(self, request: Request, caller: S3Caller, where: Target) -> Response:
        number_text = request.query_params.get("partNumber", "")
        if not number_text.isdigit():
            raise S3Error(
                400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive"
            )
        multipart = self.services.multipart
        spec, chunks, _ = self._body(request, caller, self.services.media.max_bytes)

        def checksum() -> str | None:
            sent = [(a, v) for a, v in spec.checksums.items() if v is not None]
            return f"{sent[0][0]}:{sent[0][1]}" if sent else None

        try:
            part = await run_in_threadpool(
                multipart.upload_part,
                caller.actor,
                where.key,
                request.query_params["uploadId"],
                int(number_text),
                chunks,
                checksum,
            )
        except ClientDisconnect:
            raise S3Error(400, "IncompleteBody", "The client disconnected during the upload") from None
        return Response(headers={"ETag": etag(part.sha256), **self._checksum_headers(spec)})

    async def complete(self, request: Request, caller: S3Caller, where: Target, upload_id: str) -> Response:
        _, chunks, _ = self._body(request, caller, MAX_XML_BYTES)
        body = await run_in_threadpool(_bounded, chunks, MAX_XML_BYTES)
        requested = _parse_parts(body)
        info = await run_in_threadpool(
            self.services.multipart.complete, caller.actor, where.key, upload_id, requested
        )
        inner = (
            element("Location", f"/{where.bucket}/{quote(where.key)}")
            + element("Bucket", where.bucket)
            + element("Key", where.key)
            + element("ETag", etag(info.sha256))
        )
        return Response(document("CompleteMultipartUploadResult", inner), media_type="application/xml")

    def abort(self, caller: S3Caller, where: Target, upload_id: str) -> Response:
        self.services.multipart.abort(caller.actor, where.key, upload_id)
        return Response(status_code=204)


def _bounded(chunks: Iterator[bytes], limit: int) -> bytes:
    """A small request document, refused once it passes ``limit`` bytes (it may come without a length)."""
    out = bytearray()
    for chunk in chunks:
        out += chunk
        if len(out) > limit:
            raise S3Error(400, "MaxMessageLengthExceeded", "Your request was too big.")
    return bytes(out)


def _malformed() -> S3Error:
    return S3Error(
        400,
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema",
    )


def _parse_parts(body: bytes) -> list[RequestedPart]:
    """CompleteMultipartUpload's part list. No DTDs (so no entity expansion); size already bounded."""
    from xml.etree import ElementTree

    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise _malformed()
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise _malformed() from None
    parts: list[RequestedPart] = []
    for element_ in root:
        if element_.tag.rsplit("}", 1)[-1] != "Part":
            continue
        fields = {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in element_}
        number, tag = fields.get("PartNumber", ""), fields.get("ETag", "").strip('"')
        if not number.isdigit() or not tag:
            raise _malformed()
        checksum = None
        for algorithm in checksums.ALGORITHMS:
            value = fields.get(f"Checksum{algorithm}")
            if value:
                checksum = f"{algorithm}:{value}"
        parts.append(RequestedPart(int(number), tag, checksum))
    return parts
