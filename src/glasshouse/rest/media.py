"""``/v1/media``: an organisation's uploaded media (video clips), Bearer-authenticated like ``/v1``.

Uploads are streamed: the request body goes chunk by chunk from the socket to the store (through a worker
thread, so the event loop never blocks on disk or S3) and is never held in memory whole. A body larger
than ``media_max_bytes`` is refused with 413 as soon as it crosses the limit; a body shorter than its
``Content-Length``, or a client that disconnects, leaves nothing behind.
"""

from __future__ import annotations

import mimetypes
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio.from_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from glasshouse.errors import InvalidInputError
from glasshouse.media.service import MediaTooLargeError
from glasshouse.media.store import READ_CHUNK
from glasshouse.rest.auth import CurrentActor, Svc

router = APIRouter(prefix="/v1/media", tags=["media"])

_UPLOAD: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The object's bytes; Content-Type is stored and served back.",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    },
    "responses": {
        "400": {"description": "Bad name or content type; body shorter than its Content-Length."},
        "413": {"description": "The body exceeds media_max_bytes."},
    },
}
_DOWNLOAD: dict[str, Any] = {
    "responses": {
        "200": {
            "description": "The object's bytes (ETag and X-Glasshouse-SHA256: its SHA-256).",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    }
}


class IncompleteBodyError(InvalidInputError):
    code = "IncompleteBody"


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise InvalidInputError("Content-Length must be a number of bytes")
    return int(value)


def _blocking_chunks(stream: AsyncIterator[bytes], declared: int | None) -> Iterator[bytes]:
    """The request body as a plain iterator, for a worker thread: each chunk is awaited on the loop."""

    async def next_chunk() -> bytes:
        return await stream.__anext__()

    received = 0
    while True:
        try:
            chunk = anyio.from_thread.run(next_chunk)
        except StopAsyncIteration:
            break
        received += len(chunk)
        yield chunk
    if declared is not None and received != declared:
        raise IncompleteBodyError(f"received {received} of the {declared} bytes Content-Length announced")


@router.put("/{name:path}", openapi_extra=_UPLOAD)
async def upload(name: str, request: Request, svc: Svc, actor: CurrentActor) -> Response:
    """Store the request body as the caller's object ``name`` (replacing an object of that name)."""
    declared = _declared_length(request)
    limit = svc.media.max_bytes
    if declared is not None and declared > limit:
        return _error(413, MediaTooLargeError.code, f"media objects are limited to {limit} bytes")
    content_type = request.headers.get("content-type") or mimetypes.guess_type(name)[0]
    chunks = _blocking_chunks(request.stream().__aiter__(), declared)
    try:
        info = await run_in_threadpool(svc.media.upload, actor, name, chunks, content_type)
    except MediaTooLargeError as exc:
        return _error(413, exc.code, exc.message)
    except ClientDisconnect:
        return _error(400, IncompleteBodyError.code, "the client disconnected during the upload")
    return JSONResponse(info.view())


@router.get("")
def list_media(svc: Svc, actor: CurrentActor) -> dict[str, Any]:
    """The caller's objects, by name."""
    return {"objects": [info.view() for info in svc.media.list(actor.org_id)]}


@router.get("/{name:path}", response_class=StreamingResponse, openapi_extra=_DOWNLOAD)
def download(name: str, svc: Svc, actor: CurrentActor) -> StreamingResponse:
    """The object's bytes, streamed."""
    info, stream = svc.media.open(actor.org_id, name)

    def body() -> Iterator[bytes]:
        with stream:
            while chunk := stream.read(READ_CHUNK):
                yield chunk

    headers = {
        "Content-Length": str(info.size),
        "ETag": f'"{info.sha256}"',
        "X-Glasshouse-SHA256": info.sha256,
    }
    return StreamingResponse(body(), media_type=info.content_type, headers=headers)


@router.delete("/{name:path}", status_code=204)
def delete(name: str, svc: Svc, actor: CurrentActor) -> Response:
    svc.media.delete(actor, actor.org_id, name)
    return Response(status_code=204)
