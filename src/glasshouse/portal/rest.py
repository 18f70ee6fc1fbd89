"""``/v1/portal``: the community camera portal's REST API.

Three kinds of caller:

* the public (no authentication): the feed of every request, and each agency's profile;
* agencies, with their organisation's access key (``Authorization: Bearer <key id>:<secret>``): file a
  request (through the policy gate, ``footage.request``), list their requests and the clips shared into
  them, download a clip (audited; ``X-SHA256`` carries its hash), mark evidence, close a request;
* camera owners, with a session token from ``POST /v1/portal/session`` (``Authorization: Bearer
  <token>``): cameras, clips (the request body is the clip, streamed), inbox, share or decline, settings.

Operators (an operator organisation's key) ask for and approve emergency disclosures.
Errors use the REST shape ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from glasshouse.governance import policy as pol
from glasshouse.http.body_limit import body_limit
from glasshouse.media.service import MediaTooLargeError
from glasshouse.people.service import AuthenticationError
from glasshouse.portal.views import AgencyClipView, ClipView, FootageRequestInput
from glasshouse.rest.auth import CurrentActor, HeadersFirstRoute, Operator, Svc, from_headers
from glasshouse.rest.errors import Unauthenticated
from glasshouse.rest.streaming import BINARY, read_chunks, receive_upload

router = APIRouter(prefix="/v1/portal", tags=["portal"], route_class=HeadersFirstRoute)

_CLIP_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The clip's bytes (MP4, MOV or WebM), streamed.",
        "content": BINARY,
    },
    "responses": {
        "400": {
            "description": "Not a decodable MP4/MOV/WebM video, empty, truncated, or an incomplete body."
        },
        "413": {"description": "The clip exceeds portal_clip_max_bytes."},
    },
}
_BYTES: dict[str, Any] = {
    "responses": {
        "200": {
            "description": "The clip's bytes; X-SHA256 is the SHA-256 recorded at upload.",
            "content": BINARY,
        }
    }
}


@from_headers
def owner_id(request: Request, svc: Svc) -> str:
    """The signed-in camera owner behind ``Authorization: Bearer <session token>``."""
    known = getattr(request.state, "portal_owner", None)
    if isinstance(known, str):
        return known
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or ":" in token:
        raise Unauthenticated("send 'Authorization: Bearer <session token>' from POST /v1/portal/session")
    found = svc.people.session_for(token)
    if found is None:
        raise Unauthenticated("unknown or expired session")
    if not svc.portal.is_owner(found.person.id):
        raise Unauthenticated("this session is not a camera owner's")
    request.state.portal_owner = found.person.id
    return found.person.id


Owner = Annotated[str, Depends(owner_id)]


def _stream(view: ClipView | AgencyClipView, stream: Any) -> StreamingResponse:
    headers = {
        "Content-Length": str(view.size),
        "ETag": f'"{view.sha256}"',
        "X-SHA256": view.sha256,
        "Content-Disposition": f'attachment; filename="{view.download_name}"',
    }
    return StreamingResponse(read_chunks(stream), media_type=view.content_type, headers=headers)


# -- public -------------------------------------------------------------------------------------------------


@router.get("/requests")
def public_feed(svc: Svc, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, Any]:
    """Every footage request, newest first (public: no authentication)."""
    return {"requests": [r.to_json() for r in svc.portal.public_feed(limit)]}


@router.get("/agencies/{name}")
def agency_profile(name: str, svc: Svc) -> dict[str, Any]:
    """An agency and all its requests (public)."""
    return svc.portal.agency_profile(name).to_json()


# -- agencies -----------------------------------------------------------------------------------------------


class RequestIn(BaseModel):
    incident_type: str = Field(description="One of glasshouse.portal.rules.INCIDENT_TYPES.")
    case_number: str = Field(max_length=200, description="Required: the case the footage is for.")
    description: str = Field(max_length=10_000)
    contact: str = Field(max_length=1000)
    area: dict[str, Any] = Field(
        description='{"type": "circle", "center": [lat, lon], "radius_m": r} or '
        '{"type": "polygon", "points": [[lat, lon], ...]}; 0.025 to 0.5 square miles.'
    )
    window_start: datetime
    window_end: datetime
    respond_by: datetime
    purpose: str = Field(max_length=64, description="Required: one of the policy's purposes (never assumed).")


@router.post(
    "/requests",
    status_code=201,
    openapi_extra={"x-glasshouse-capability": pol.Capability.FOOTAGE_REQUEST.value},
)
def file_request(body: RequestIn, svc: Svc, actor: CurrentActor) -> dict[str, Any]:
    """File a footage request (gated: footage.request); the matching camera owners are asked."""
    data = FootageRequestInput(**body.model_dump())
    return svc.portal.file_request(actor, data).to_json()


@router.get("/agency/requests")
def agency_requests(svc: Svc, actor: CurrentActor) -> dict[str, Any]:
    """The caller's agency's requests, with counts (never who shared, declined or ignored)."""
    return {"requests": [r.to_json() for r in svc.portal.agency_requests(actor)]}


@router.get("/requests/{request_id}/clips")
def shared_clips(request_id: str, svc: Svc, actor: CurrentActor) -> dict[str, Any]:
    """Clips shared into the agency's request, each with its SHA-256 and share record."""
    request = svc.portal.get_request(actor, request_id)
    return {
        "request": request.to_json(),
        "clips": [c.to_json() for c in svc.portal.shared_clips(actor, request_id)],
    }


@router.get("/requests/{request_id}/clips/{clip_id}/download", openapi_extra=_BYTES)
def download(request_id: str, clip_id: str, svc: Svc, actor: CurrentActor) -> StreamingResponse:
    """A shared clip's bytes (audited). Anything not shared with the caller answers 404."""
    view, stream = svc.portal.download(actor, request_id, clip_id)
    return _stream(view, stream)


class UnredactionIn(BaseModel):
    reason: str = Field(max_length=10_000)
    case_number: str = Field(max_length=200)


@router.post("/requests/{request_id}/clips/{clip_id}/unredaction", status_code=201)
def request_unredaction(
    request_id: str, clip_id: str, body: UnredactionIn, svc: Svc, actor: CurrentActor
) -> dict[str, Any]:
    """Ask the owner of a clip shared redacted for the original (a reason and a case number; the owner
    accepts or refuses)."""
    view = svc.portal.request_unredaction(actor, request_id, clip_id, body.reason, body.case_number)
    return view.to_json()


class EvidenceIn(BaseModel):
    evidence: bool = True


@router.post("/requests/{request_id}/clips/{clip_id}/evidence")
def mark_evidence(
    request_id: str, clip_id: str, svc: Svc, actor: CurrentActor, body: EvidenceIn | None = None
) -> dict[str, Any]:
    """Mark a shared clip as evidence in the case: kept, and available after the request's access ends."""
    evidence = body.evidence if body is not None else True
    return svc.portal.mark_evidence(actor, request_id, clip_id, evidence).to_json()


@router.post("/requests/{request_id}/close")
def close_request(request_id: str, svc: Svc, actor: CurrentActor) -> dict[str, Any]:
    return svc.portal.close_request(actor, request_id).to_json()


# -- camera owners ------------------------------------------------------------------------------------------


class SignUpIn(BaseModel):
    email: str = Field(max_length=320)
    name: str = Field(max_length=255)
    password: str = Field(max_length=1024)


@router.post("/signup", status_code=201)
def sign_up(body: SignUpIn, svc: Svc) -> dict[str, Any]:
    """Create a camera owner's account."""
    person = svc.portal.sign_up_owner(body.email, body.name, body.password, surface="rest")
    return {"id": person.id, "email": person.email, "name": person.name}


class SessionIn(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


@router.post("/session", status_code=201)
def sign_in(body: SessionIn, svc: Svc) -> dict[str, Any]:
    """A session token for a camera owner (send it as ``Authorization: Bearer <token>``)."""
    try:
        person = svc.people.authenticate(body.email, body.password)
    except AuthenticationError as exc:
        raise Unauthenticated(exc.message) from None
    if not svc.portal.is_owner(person.id):
        raise Unauthenticated("wrong email or password")
    started = svc.people.start_session(person.id)
    return {"token": started.token, "expires_at": started.expires_at.isoformat()}


@router.delete("/session", status_code=204)
def sign_out(request: Request, svc: Svc, _: Owner) -> Response:
    svc.people.end_session(request.headers["authorization"].partition(" ")[2].strip())
    return Response(status_code=204)


class CameraIn(BaseModel):
    name: str = Field(max_length=1000)
    latitude: float
    longitude: float
    note: str = Field(default="", max_length=10_000)


@router.get("/cameras")
def list_cameras(svc: Svc, owner: Owner) -> dict[str, Any]:
    return {"cameras": [c.to_json() for c in svc.portal.list_cameras(owner)]}


@router.post("/cameras", status_code=201)
def register_camera(body: CameraIn, svc: Svc, owner: Owner) -> dict[str, Any]:
    camera = svc.portal.register_camera(
        owner, body.name, body.latitude, body.longitude, body.note, surface="rest"
    )
    return camera.to_json()


@router.delete("/cameras/{camera_id}", status_code=204)
def delete_camera(camera_id: str, svc: Svc, owner: Owner) -> Response:
    svc.portal.delete_camera(owner, camera_id, surface="rest")
    return Response(status_code=204)


@router.get("/clips")
def list_clips(svc: Svc, owner: Owner) -> dict[str, Any]:
    return {"clips": [c.to_json() for c in svc.portal.list_clips(owner)]}


@router.post("/clips", status_code=201, openapi_extra=_CLIP_BODY)
@body_limit(lambda s: s.portal_clip_max_bytes, code=MediaTooLargeError.code)
async def upload_clip(
    request: Request,
    svc: Svc,
    owner: Owner,
    camera_id: Annotated[str, Query(max_length=64)],
    started_at: Annotated[datetime, Query(description="When the recording started, with a time zone.")],
    filename: Annotated[str, Query(max_length=1000)] = "clip.mp4",
) -> Response:
    """Upload a clip: the request body is the file, streamed; it must decode as MP4, MOV or WebM."""
    content_type = request.headers.get("content-type")
    view = await receive_upload(
        request,
        svc.portal.max_clip_bytes,
        "clips",
        lambda chunks: svc.portal.upload_clip(
            owner, camera_id, filename, content_type, chunks, started_at, surface="rest"
        ),
    )
    if isinstance(view, JSONResponse):
        return view
    return JSONResponse(view.to_json(), status_code=201)


@router.get("/clips/{clip_id}", openapi_extra=_BYTES)
def play_clip(clip_id: str, svc: Svc, owner: Owner) -> StreamingResponse:
    """The owner's own clip's bytes."""
    view, stream = svc.portal.open_clip(owner, clip_id)
    return _stream(view, stream)


@router.delete("/clips/{clip_id}", status_code=204)
def delete_clip(clip_id: str, svc: Svc, owner: Owner) -> Response:
    svc.portal.delete_clip(owner, clip_id, surface="rest")
    return Response(status_code=204)


@router.get("/inbox")
def inbox(svc: Svc, owner: Owner) -> dict[str, Any]:
    """Requests that asked this owner, with their matching clips (and emergency disclosure notices)."""
    return {"items": [i.to_json() for i in svc.portal.inbox(owner)]}


class ShareIn(BaseModel):
    #: Clips shared as recorded.
    clip_ids: list[str] = Field(default_factory=list, max_length=1000)
    #: Clips shared with faces redacted: clip id -> the id of the redacted preview the owner watched.
    redacted: dict[str, str] = Field(default_factory=dict, max_length=1000)


@router.post("/inbox/{request_id}/share")
def share(request_id: str, body: ShareIn, svc: Svc, owner: Owner) -> dict[str, Any]:
    """Share chosen clips with the request's agency (the owner's consent; gated as footage.share): those in
    ``redacted`` as their redacted preview (the agency gets only that copy), ``clip_ids`` as recorded."""
    shares = svc.portal.share(owner, request_id, body.clip_ids, redacted=body.redacted, surface="rest")
    return {"shares": [s.to_json() for s in shares]}


class PreviewIn(BaseModel):
    clip_id: str = Field(max_length=36)


@router.post(
    "/inbox/{request_id}/previews",
    status_code=201,
    openapi_extra={"x-glasshouse-capability": pol.Capability.MEDIA_REDACT.value},
)
def preview_redacted(request_id: str, body: PreviewIn, svc: Svc, owner: Owner) -> dict[str, Any]:
    """Make the redacted copy of a matching clip (every face blurred) to watch before sharing it; answers
    when the copy is ready (as long as redacting the clip takes), with its record."""
    copy = svc.portal.preview_redacted(owner, request_id, body.clip_id, surface="rest")
    return copy.to_json()


@router.get("/previews/{copy_id}", openapi_extra=_BYTES)
def play_preview(copy_id: str, svc: Svc, owner: Owner) -> StreamingResponse:
    """The owner's redacted preview's bytes."""
    view, stream = svc.portal.open_preview(owner, copy_id)
    headers = {
        "Content-Length": str(view.size),
        "ETag": f'"{view.sha256}"',
        "X-SHA256": view.sha256,
        "Content-Disposition": f'inline; filename="{copy_id}-redacted{PurePosixPath(view.name).suffix}"',
    }
    return StreamingResponse(read_chunks(stream), media_type=view.content_type, headers=headers)


@router.delete("/previews/{copy_id}", status_code=204)
def cancel_preview(copy_id: str, svc: Svc, owner: Owner) -> Response:
    """Delete a redacted preview the owner does not share."""
    svc.portal.cancel_preview(owner, copy_id, surface="rest")
    return Response(status_code=204)


@router.get("/unredactions")
def unredaction_requests(svc: Svc, owner: Owner) -> dict[str, Any]:
    """Agencies' requests for the originals of the owner's redacted shares."""
    return {"requests": [u.to_json() for u in svc.portal.unredaction_requests(owner)]}


@router.post("/unredactions/{unredaction_id}/accept")
def accept_unredaction(unredaction_id: str, svc: Svc, owner: Owner) -> dict[str, Any]:
    """Give the agency the original of that shared clip (gated as footage.share)."""
    return svc.portal.answer_unredaction(owner, unredaction_id, True, surface="rest").to_json()


@router.post("/unredactions/{unredaction_id}/refuse")
def refuse_unredaction(unredaction_id: str, svc: Svc, owner: Owner) -> dict[str, Any]:
    return svc.portal.answer_unredaction(owner, unredaction_id, False, surface="rest").to_json()


@router.post("/inbox/{request_id}/decline", status_code=204)
def decline(request_id: str, svc: Svc, owner: Owner) -> Response:
    svc.portal.decline(owner, request_id, surface="rest")
    return Response(status_code=204)


class SettingsIn(BaseModel):
    retention_days: int | None = None
    opted_out: bool | None = None
    share_contact: bool | None = None
    contact: str | None = Field(default=None, max_length=1000)


@router.get("/settings")
def get_settings(svc: Svc, owner: Owner) -> dict[str, Any]:
    return svc.portal.settings(owner).to_json()


@router.put("/settings")
def put_settings(body: SettingsIn, svc: Svc, owner: Owner) -> dict[str, Any]:
    return svc.portal.update_settings(owner, **body.model_dump(), surface="rest").to_json()


# -- operators ----------------------------------------------------------------------------------------------


class EmergencyIn(BaseModel):
    agency: str = Field(max_length=255)
    clip_ids: list[str] = Field(min_length=1, max_length=1000)
    reason: str = Field(max_length=10_000)
    case_number: str = Field(max_length=200)


@router.get("/emergency")
def list_disclosures(svc: Svc, operator: Operator) -> dict[str, Any]:
    return {"disclosures": [d.to_json() for d in svc.portal.emergency_disclosures(operator)]}


@router.post("/emergency", status_code=201)
def emergency_request(body: EmergencyIn, svc: Svc, operator: Operator) -> dict[str, Any]:
    """Ask to disclose clips without consent; a second, different operator must approve."""
    view = svc.portal.emergency_request(operator, body.agency, body.clip_ids, body.reason, body.case_number)
    return view.to_json()


class ApproveIn(BaseModel):
    #: Disclose the originals instead of redacted copies, for this reason (20 characters at least).
    unredacted_reason: str | None = Field(default=None, max_length=10_000)


@router.post("/emergency/{disclosure_id}/approve")
def emergency_approve(
    disclosure_id: str, svc: Svc, operator: Operator, body: ApproveIn | None = None
) -> dict[str, Any]:
    """Approve as a second operator: redacted copies are disclosed unless ``unredacted_reason`` says why not."""
    reason = body.unredacted_reason if body is not None else None
    return svc.portal.emergency_approve(operator, disclosure_id, unredacted_reason=reason).to_json()
