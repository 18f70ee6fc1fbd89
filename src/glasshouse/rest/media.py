"""``/v1/media``: an organisation's uploaded media (video clips), Bearer-authenticated like ``/v1``.

Uploads are streamed (:mod:`glasshouse.rest.streaming`): never held in memory whole; a body larger than
``media_max_bytes`` is refused with 413 as soon as it crosses the limit; a body shorter than its
``Content-Length``, or a client that disconnects, leaves nothing behind.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from glasshouse.http.body_limit import body_limit
from glasshouse.media.service import MediaTooLargeError
from glasshouse.rest.auth import CurrentActor, HeadersFirstRoute, Svc
from glasshouse.rest.streaming import BINARY, read_chunks, receive_upload

router = APIRouter(prefix="/v1/media", tags=["media"], route_class=HeadersFirstRoute)

_UPLOAD: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The object's bytes; Content-Type is stored and served back.",
        "content": BINARY,
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
            "content": BINARY,
        }
    }
}


@router.put("/{name:path}", openapi_extra=_UPLOAD)
@body_limit(lambda s: s.media_max_bytes, code=MediaTooLargeError.code)
async def upload(name: str, request: Request, svc: Svc, actor: CurrentActor) -> Response:
    """Store the request body as the caller's object ``name`` (replacing an object of that name)."""
    content_type = request.headers.get("content-type") or mimetypes.guess_type(name)[0]
    info = await receive_upload(
        request,
        svc.media.max_bytes,
        "media objects",
        lambda chunks: svc.media.upload(actor, name, chunks, content_type),
    )
    if isinstance(info, JSONResponse):
        return info
    return JSONResponse(info.view())


@router.get("")
def list_media(svc: Svc, actor: CurrentActor) -> dict[str, Any]:
    """The caller's objects, by name."""
    return {"objects": [info.view() for info in svc.media.list(actor.org_id)]}


@router.get("/{name:path}", response_class=StreamingResponse, openapi_extra=_DOWNLOAD)
def download(name: str, svc: Svc, actor: CurrentActor) -> StreamingResponse:
    """The object's bytes, streamed."""
    info, stream = svc.media.open(actor.org_id, name)
    headers = {
        "Content-Length": str(info.size),
        "ETag": f'"{info.sha256}"',
        "X-Glasshouse-SHA256": info.sha256,
    }
    return StreamingResponse(read_chunks(stream), media_type=info.content_type, headers=headers)


@router.delete("/{name:path}", status_code=204)
def delete(name: str, svc: Svc, actor: CurrentActor) -> Response:
    svc.media.delete(actor, actor.org_id, name)
    return Response(status_code=204)
