"""``/v1/redaction``: release exports (a redacted copy of a clip the caller may read, made by a background
job) and the copies the organisation holds, each with its chain-of-custody record.

Every route passes the policy gate as ``media.redact`` and is audited there: starting an export, reading
a record, listing and downloading copies. Reading an export job's state is like reading a video job's
(the gate decided, and audited, when it started). Another organisation's job or copy answers 404 like a
missing one.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from glasshouse.errors import NotFoundError
from glasshouse.governance import policy as pol
from glasshouse.jobs.models import JobStatus
from glasshouse.jobs.service import JobView
from glasshouse.media.models import MAX_NAME_LENGTH
from glasshouse.redaction.copies import CopyView
from glasshouse.redaction.exports import EXPORT, MAX_KEPT, MAX_REASON, Source, settings_of, submit_export
from glasshouse.rest.api import Obliged
from glasshouse.rest.auth import CurrentActor, HeadersFirstRoute, Svc
from glasshouse.rest.streaming import read_chunks
from glasshouse.services import Services

router = APIRouter(prefix="/v1/redaction", tags=["redaction"], route_class=HeadersFirstRoute)
GATED: dict[str, Any] = {"x-glasshouse-capability": pol.Capability.MEDIA_REDACT.value}


class SourceIn(BaseModel):
    name: str = Field(max_length=MAX_NAME_LENGTH, description="The media object's name.")
    bucket: str | None = Field(
        default=None,
        max_length=255,
        description="Omit for the caller's own media; a shared bucket (portal-shared) for footage shared "
        "with the caller, as in Rekognition's S3Object.",
    )


class ExportIn(Obliged):
    source: SourceIn
    method: str = Field(default="blur", description="blur or box.")
    keep_persons: list[int] = Field(
        default=[],
        max_length=MAX_KEPT,
        description="Person.Index values (a face detection job on the same video) left visible.",
    )
    padding: float = Field(default=0.25, ge=0.0, le=2.0)
    reason: str | None = Field(
        default=None, max_length=MAX_REASON, description="Why faces are left visible (required then)."
    )
    copy_name: str | None = Field(default=None, max_length=MAX_NAME_LENGTH)
    client_request_token: str | None = None
    job_tag: str | None = None


@router.post("/exports", status_code=202, openapi_extra=GATED)
def start_export(body: ExportIn, svc: Svc, actor: CurrentActor) -> dict[str, str]:
    """Queue a redacted copy for public release; poll ``GET /v1/redaction/exports/{job_id}``."""
    settings = settings_of(body.method, body.keep_persons, body.padding)
    source = Source(body.source.name, body.source.bucket)
    request = body.request(source=source.to_json(), kept=sorted(settings.keep_persons))
    with svc.gate.guard(actor, pol.Capability.MEDIA_REDACT, request) as grant:
        job = submit_export(
            svc,
            grant,
            source,
            settings,
            reason=body.reason,
            copy_name=body.copy_name,
            token=body.client_request_token,
            tag=body.job_tag,
        )
    return {"job_id": job.id}


def _export_job(svc: Services, org_id: str, job_id: str) -> JobView:
    job = svc.jobs.get(org_id, job_id)
    if job.kind != EXPORT:
        raise NotFoundError(f"job {job_id} not found")  # the same answer as for a missing job
    return job


@router.get("/exports/{job_id}")
def get_export(job_id: str, svc: Svc, actor: CurrentActor) -> dict[str, Any]:
    """The export's state and progress; once it SUCCEEDED, the copy's id and where to download it."""
    job = _export_job(svc, actor.org_id, job_id)
    copy_id = (job.result_summary or {}).get("copy_id") if job.status == JobStatus.SUCCEEDED else None
    return {
        "job_id": job.id,
        "status": job.status.value,
        "progress": job.progress,
        "status_message": job.status_message,
        "job_tag": job.job_tag,
        "source": job.params.get("source"),
        "copy_id": copy_id,
        "download": f"/v1/redaction/copies/{copy_id}/content" if copy_id else None,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


def record(copy: CopyView) -> dict[str, Any]:
    """A copy's chain-of-custody record, as REST shows it."""
    return {**copy.to_json(), "download": f"/v1/redaction/copies/{copy.id}/content"}


@router.get("/copies", openapi_extra=GATED)
def list_copies(svc: Svc, actor: CurrentActor, purpose: str | None = None) -> dict[str, Any]:
    """The organisation's redacted copies (release exports and portal shares), newest first."""
    with svc.gate.guard(actor, pol.Capability.MEDIA_REDACT) as grant:
        copies = svc.redacted_copies.list_for_org(actor.org_id, purpose)
        grant.note(listed=len(copies))
    return {"copies": [record(c) for c in copies]}


@router.get("/copies/{copy_id}", openapi_extra=GATED)
def get_copy(copy_id: str, svc: Svc, actor: CurrentActor) -> dict[str, Any]:
    """One copy's record: the original's and the copy's SHA-256, settings, engine, kept persons, maker."""
    with svc.gate.guard(actor, pol.Capability.MEDIA_REDACT) as grant:
        copy = svc.redacted_copies.get(actor, copy_id)
        grant.note(copy_id=copy.id)
    return record(copy)


@router.get("/copies/{copy_id}/content", response_class=StreamingResponse, openapi_extra=GATED)
def download_copy(copy_id: str, svc: Svc, actor: CurrentActor) -> StreamingResponse:
    """The copy's bytes, streamed (never its original's)."""
    with svc.gate.guard(actor, pol.Capability.MEDIA_REDACT) as grant:
        copy, stream = svc.redacted_copies.open(actor, copy_id)
        grant.note(copy_id=copy.id, sha256=copy.sha256, download=True)
    return StreamingResponse(
        read_chunks(stream), media_type=copy.content_type, headers=download_headers(copy)
    )


def download_headers(copy: CopyView) -> dict[str, str]:
    """Length, digests (the copy's and its original's) and a safe file name for a copy's download."""
    return {
        "Content-Length": str(copy.size),
        "ETag": f'"{copy.sha256}"',
        "X-Glasshouse-SHA256": copy.sha256,
        "X-Glasshouse-Original-SHA256": copy.source_sha256,
        "Content-Disposition": f'attachment; filename="redacted-{copy.id}{_suffix(copy.name)}"',
    }


def _suffix(name: str) -> str:
    tail = name.rsplit("/", 1)[-1]
    dot = tail.rfind(".")
    suffix = tail[dot:] if dot > 0 else ""
    return suffix if suffix[1:].isalnum() and len(suffix) <= 6 else ""
