"""``POST /`` speaking AWS JSON 1.1 for Rekognition: target → SigV4 → throttle → validate → operation.

The order follows AWS: an unauthenticated caller learns nothing about its parameters.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from glasshouse.errors import GlasshouseError, InvalidParameterError
from glasshouse.governance.actor import Actor
from glasshouse.governance.gate import RequestContext
from glasshouse.http.body_limit import body_limit
from glasshouse.http.observability import Metrics
from glasshouse.http.throttle import TokenBuckets
from glasshouse.keys.service import KeyService
from glasshouse.organisations.service import OrganisationService
from glasshouse.rekognition import model, sigv4

# Importing the handler modules registers their operations in OPERATIONS.
from glasshouse.rekognition import operations as _image_operations  # noqa: F401
from glasshouse.rekognition import video_operations as _video_operations  # noqa: F401
from glasshouse.rekognition.errors import aws_error, error_body
from glasshouse.rekognition.registry import CAPABILITIES, OPERATIONS, Caller, Context, Handler
from glasshouse.rekognition.validation import MAX_BODY_BYTES, SerializationError, parse_request
from glasshouse.services import Services

CONTENT_TYPE = "application/x-amz-json-1.1"
log = logging.getLogger("glasshouse.rekognition")


class ThrottlingError(GlasshouseError):
    code = "ThrottlingException"
    http_status = 400


def error_response(code: str, message: str, status: int = 400) -> Response:
    """An AWS JSON 1.1 error outside any operation (e.g. a body refused at the size limit)."""
    return _json(status, {"__type": code, "message": message}, str(uuid.uuid4()))


def _json(status: int, payload: dict[str, Any], request_id: str) -> Response:
    return Response(
        content=json.dumps(payload, separators=(",", ":")),
        status_code=status,
        media_type=CONTENT_TYPE,
        headers={"x-amzn-RequestId": request_id},
    )


def _authenticate_headers(keys: KeyService, request: Request) -> sigv4.Presented[Any]:
    """Every SigV4 check that needs no body (an unauthenticated caller never has its body read)."""
    return sigv4.check_headers(headers=request.headers, lookup=keys.lookup, now=datetime.now(UTC))


def _authenticate(
    keys: KeyService,
    organisations: OrganisationService,
    request: Request,
    presented: sigv4.Presented[Any],
    body: bytes,
) -> Caller:
    scope = request.scope
    key = sigv4.check_signature(
        presented,
        method=request.method,
        path=scope.get("raw_path", b"/").decode("latin-1").split("?", 1)[0] or "/",
        query=scope.get("query_string", b"").decode("latin-1"),
        body=body,
    )
    keys.touch(key.access_key_id)
    org = organisations.get_by_id(key.org_id)
    return Caller(
        org_id=key.org_id,
        access_key_id=key.access_key_id,
        region=presented.auth.region,
        org_name=org.name,
        person=key.person_id,
    )


def request_context(headers: Mapping[str, str], params: dict[str, Any]) -> RequestContext:
    """Purpose, case and warrant from Glasshouse's request headers; digests of the images sent."""
    expires = headers.get("x-glasshouse-warrant-expires")
    try:
        warrant_expires = datetime.fromisoformat(expires.replace("Z", "+00:00")) if expires else None
    except ValueError:
        raise InvalidParameterError("X-Glasshouse-Warrant-Expires must be an ISO 8601 date-time") from None
    inputs = {
        f"{name}_sha256": hashlib.sha256(params[name]["Bytes"]).hexdigest()
        for name in ("Image", "SourceImage", "TargetImage")
        if isinstance(params.get(name), dict) and isinstance(params[name].get("Bytes"), bytes)
    }
    if "CollectionId" in params:
        inputs["collection"] = params["CollectionId"]
    return RequestContext(
        purpose=headers.get("x-glasshouse-purpose"),
        case_number=headers.get("x-glasshouse-case"),
        warrant=headers.get("x-glasshouse-warrant"),
        warrant_expires=warrant_expires,
        inputs=inputs,
    )


def _run(
    ctx: Context, operation: str, handler: Handler, params: dict[str, Any], headers: Mapping[str, str]
) -> Any:
    """Run one operation; biometric ones inside the policy gate's guard."""
    capability = CAPABILITIES.get(operation)
    if capability is None:
        return handler(ctx, params)
    caller = ctx.caller
    actor = Actor(
        org_id=caller.org_id,
        org_name=caller.org_name,
        surface="rekognition-api",
        key_id=caller.access_key_id,
        person=caller.person,
    )
    with ctx.services.gate.guard(actor, capability, request_context(headers, params)) as grant:
        ctx.grant = grant
        return handler(ctx, params)


def router(services: Services, metrics: Metrics, buckets: TokenBuckets) -> APIRouter:
    api = APIRouter()
    prefix = model.target_prefix() + "."

    @api.post("/", include_in_schema=False)
    @body_limit(lambda _: MAX_BODY_BYTES, code=SerializationError.code)
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
            # Headers first: the body (at most MAX_BODY_BYTES, see http.body_limit) is read only for a
            # caller whose key exists and whose date is current; it is needed for the signature.
            presented = await run_in_threadpool(_authenticate_headers, services.keys, request)
            body = await request.body()
            caller = await run_in_threadpool(
                _authenticate, services.keys, services.organisations, request, presented, body
            )
            if not buckets.allow(caller.access_key_id):
                raise ThrottlingError("Rate exceeded")
            handler = OPERATIONS.get(operation)
            if handler is None:
                raise model.UnknownOperationError(f"Glasshouse does not implement {operation}")
            params = parse_request(operation, body)
            ctx = Context(services, caller, request_headers=request.headers)
            result = await run_in_threadpool(_run, ctx, operation, handler, params, request.headers)
            status, error, response = 200, None, _json(200, result, request_id)
            response.headers.update(ctx.response_headers)
        except ClientDisconnect:
            # Gone, or refused at the body limit (http.body_limit answered): nobody reads this.
            return Response(status_code=400)
        except Exception as exc:
            status, error, message = aws_error(exc)
            if status >= 500:
                log.exception("internal error", extra={"request_id": request_id, "operation": operation})
            response = _json(status, error_body(error, message, request_id), request_id)
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
