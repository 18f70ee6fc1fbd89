"""``/v1/video``: face detection and face search jobs over an organisation's uploaded media
(``PUT /v1/media/{name}``). Starting a job passes the policy gate; reading one's own job does not (the
gate decided, and audited, when it started). Another organisation's job answers 404 like a missing one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from glasshouse.errors import NotFoundError
from glasshouse.governance import policy as pol
from glasshouse.jobs.service import JobView
from glasshouse.rest.api import Obliged
from glasshouse.rest.auth import CurrentActor, HeadersFirstRoute, Svc
from glasshouse.services import Services
from glasshouse.video.jobs import FACE_DETECTION, FACE_SEARCH
from glasshouse.video.submit import VIDEO_KINDS, submit_video_job

router = APIRouter(prefix="/v1/video", tags=["video"], route_class=HeadersFirstRoute)


def _capability(capability: pol.Capability) -> dict[str, Any]:
    return {"x-glasshouse-capability": capability.value}


class FaceDetectionIn(Obliged):
    video: str = Field(description="Name of one of the caller's media objects (PUT /v1/media/{name}).")
    client_request_token: str | None = Field(
        default=None, description="The same token with the same body returns the job it started."
    )
    job_tag: str | None = None


class FaceSearchIn(FaceDetectionIn):
    collection: str
    threshold: float = Field(default=80.0, ge=0, le=100)


@router.post(
    "/face-detection",
    status_code=202,
    openapi_extra=_capability(pol.Capability.VIDEO_FACE_DETECTION),
)
def start_face_detection(body: FaceDetectionIn, svc: Svc, actor: CurrentActor) -> dict[str, str]:
    """Queue a job finding every face in the video, by time; poll ``GET /v1/video/jobs/{job_id}``."""
    request = body.request(video=body.video)
    with svc.gate.guard(actor, pol.Capability.VIDEO_FACE_DETECTION, request) as grant:
        job = submit_video_job(
            svc, grant, FACE_DETECTION, body.video, token=body.client_request_token, tag=body.job_tag
        )
    return {"job_id": job.id}


@router.post(
    "/face-search",
    status_code=202,
    openapi_extra=_capability(pol.Capability.VIDEO_FACE_SEARCH),
)
def start_face_search(body: FaceSearchIn, svc: Svc, actor: CurrentActor) -> dict[str, str]:
    """Queue a job searching the collection for the faces seen in the video."""
    request = body.request(video=body.video, collection=body.collection)
    with svc.gate.guard(actor, pol.Capability.VIDEO_FACE_SEARCH, request) as grant:
        job = submit_video_job(
            svc,
            grant,
            FACE_SEARCH,
            body.video,
            collection=body.collection,
            threshold=body.threshold,
            token=body.client_request_token,
            tag=body.job_tag,
        )
    return {"job_id": job.id}


def _video_job(svc: Services, org_id: str, job_id: str) -> JobView:
    job = svc.jobs.get(org_id, job_id)
    if job.kind not in VIDEO_KINDS:
        raise NotFoundError(f"job {job_id} not found")  # the same answer as for a missing job
    return job


def job_view(job: JobView) -> dict[str, Any]:
    """A video job's state: status, progress, message and, once analysed, the video's metadata."""
    summary = job.result_summary or {}
    lead_id = summary.get("lead_id")
    return {
        "job_id": job.id,
        "kind": job.kind,
        "status": job.status.value,
        "progress": job.progress,
        "status_message": job.status_message,
        "job_tag": job.job_tag,
        "video": job.params.get("video"),
        "collection": job.params.get("collection"),
        "threshold": job.params.get("threshold"),
        "video_metadata": summary.get("VideoMetadata"),
        "result_count": job.result_count,
        "lead_id": lead_id,
        "review": "pending" if lead_id else None,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


@router.get("/jobs/{job_id}")
def get_job(job_id: str, svc: Svc, actor: CurrentActor) -> dict[str, Any]:
    return job_view(_video_job(svc, actor.org_id, job_id))


@router.get("/jobs/{job_id}/results")
def get_results(
    job_id: str,
    svc: Svc,
    actor: CurrentActor,
    after: Annotated[int, Query(ge=0, description="The previous page's next_after (0: the start).")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """A page of results in time order (Rekognition's ``Faces`` or ``Persons`` items); results exist
    once the job SUCCEEDED. ``next_after`` is null on the last page."""
    job = _video_job(svc, actor.org_id, job_id)
    page = svc.jobs.results(actor.org_id, job.id, after_seq=after, limit=limit, kind=job.kind)
    return {
        "job_id": job.id,
        "status": page.job.status.value,
        "results": page.items,
        "next_after": page.next_after_seq,
    }
