"""``POST /`` speaking AWS JSON 1.1 for Rekognition: target → SigV4 → throttle → validate → operation.

The order follows AWS: an unauthenticated caller learns nothing about its parameters.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from glasshouse.errors import GlasshouseError
from glasshouse.http.observability import Metrics
from glasshouse.http.throttle import TokenBuckets
from glasshouse.keys.service import KeyService
from glasshouse.rekognition import model, sigv4
from glasshouse.rekognition.errors import aws_error
from glasshouse.rekognition.operations import OPERATIONS, Caller, Context
from glasshouse.rekognition.validation import MAX_BODY_BYTES, SerializationError, parse_request
from glasshouse.services import Services

CONTENT_TYPE = "application/x-amz-json-1.1"
log = logging.getLogger("glasshouse.rekognition")


class ThrottlingError(GlasshouseError):
    code = "ThrottlingException"
    http_status = 400


def _json(status: int, payload: dict[str, Any], request_id: str) -> Response:
    return Response(
        content=json.dumps(payload, separators=(",", ":")),
        status_code=status,
        media_type=CONTENT_TYPE,
        headers={"x-amzn-RequestId": request_id},
    )


def _authenticate(keys: KeyService, request: Request, body: bytes) -> Caller:
    scope = request.scope
    key = sigv4.verify(
        method=request.method,
        path=scope.get("raw_path", b"/").decode("latin-1").split("?", 1)[0] or "/",
        query=scope.get("query_string", b"").decode("latin-1"),
        headers=request.headers,
        body=body,
        lookup=keys.lookup,
        now=datetime.now(UTC),
    )
    keys.touch(key.access_key_id)
    region = sigv4.parse_authorization(request.headers["authorization"]).region
    return Caller(org_id=key.org_id, access_key_id=key.access_key_id, region=region)


def router(services: Services, metrics: Metrics, buckets: TokenBuckets) -> APIRouter:
    api = APIRouter()
    prefix = model.target_prefix() + "."

    @api.post("/", include_in_schema=False)
    async def rekognition(request: Request) -> Response:
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        operation = "unknown"
        caller: Caller | None = None
        try:
            target = request.headers.get("x-amz-target", "")
            if not target.startswith(prefix):
                raise model.UnknownOperationError(f"Unknown operation target: {target[:100]!r}")
            operation = target[len(prefix) :]
            model.operation(operation)  # unknown names are refused before authentication, as AWS does
            declared = request.headers.get("content-length", "0")
            if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
                raise SerializationError(
                    f"Request body must declare a length of at most {MAX_BODY_BYTES} bytes"
                )
            body = await request.body()
            caller = await run_in_threadpool(_authenticate, services.keys, request, body)
            if not buckets.allow(caller.access_key_id):
                raise ThrottlingError("Rate exceeded")
            handler = OPERATIONS.get(operation)
            if handler is None:
                raise model.UnknownOperationError(f"Glasshouse does not implement {operation}")
            params = parse_request(operation, body)
            result = await run_in_threadpool(handler, Context(services, caller), params)
            status, error, response = 200, None, _json(200, result, request_id)
        except Exception as exc:
            status, error, message = aws_error(exc)
            if status >= 500:
                log.exception("internal error", extra={"request_id": request_id, "operation": operation})
            response = _json(status, {"__type": error, "message": message}, request_id)
        elapsed = time.perf_counter() - started
        metrics.observe(operation, status, error, elapsed)
        log.info(
            "rekognition request",
            extra={
                "request_id": request_id,
                "method": "POST",
                "path": "/",
                "operation": operation,
                "status": status,
                "error": error,
                "org_id": caller.org_id if caller else None,
                "latency_ms": round(elapsed * 1000, 2),
            },
        )
        return response

    return api
