"""Streamed bodies for the REST routers (``/v1/media`` objects, ``/v1/portal`` clips).

An upload goes chunk by chunk from the socket to the store (through a worker thread, so the event loop
never blocks on disk or S3) and is never held in memory whole. A body larger than the limit is refused with
413 as soon as it crosses it; a body shorter than its ``Content-Length``, or a client that disconnects,
answers 400 and the store leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import IO, Any, TypeVar

import anyio.from_thread
from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from glasshouse.errors import InvalidInputError
from glasshouse.media.service import MediaTooLargeError
from glasshouse.media.store import READ_CHUNK

T = TypeVar("T")

#: OpenAPI content of a raw byte body.
BINARY: dict[str, Any] = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


class IncompleteBodyError(InvalidInputError):
    code = "IncompleteBody"


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def declared_length(request: Request) -> int | None:
    """The request's ``Content-Length``, if it sent one."""
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise InvalidInputError("Content-Length must be a number of bytes")
    return int(value)


def blocking_chunks(stream: AsyncIterator[bytes], declared: int | None) -> Iterator[bytes]:
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


async def receive_upload(
    request: Request, limit: int, what: str, store: Callable[[Iterator[bytes]], T]
) -> T | JSONResponse:
    """``store(chunks)`` of the request body, run in a worker thread; or the error response (413: larger
    than ``limit`` bytes, declared or received; 400: the client disconnected). ``what``: "clips" names
    the objects in the 413 message."""
    declared = declared_length(request)
    if declared is not None and declared > limit:
        return error_response(413, MediaTooLargeError.code, f"{what} are limited to {limit} bytes")
    chunks = blocking_chunks(request.stream().__aiter__(), declared)
    try:
        return await run_in_threadpool(store, chunks)
    except MediaTooLargeError as exc:
        return error_response(413, exc.code, exc.message)
    except ClientDisconnect:
        return error_response(400, IncompleteBodyError.code, "the client disconnected during the upload")


def read_chunks(stream: IO[bytes]) -> Iterator[bytes]:
    """A stored object's bytes for a streamed response; closes ``stream`` when done."""
    with stream:
        while chunk := stream.read(READ_CHUNK):
            yield chunk
