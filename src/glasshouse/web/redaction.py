"""Release exports in the UI: start a redacted copy of a stored video (blur or box, persons left visible with
the reason why), follow its progress, read the copy's chain-of-custody record and download it.

Starting passes the gate as ``media.redact`` exactly like ``POST /v1/redaction/exports`` (same submit
function); the record page and the download pass it again, so each is audited.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from starlette.datastructures import FormData

from glasshouse.errors import InvalidParameterError, NotFoundError
from glasshouse.governance.decision import obligations_in_words
from glasshouse.governance.gate import RequestContext
from glasshouse.governance.policy import PURPOSES, Capability
from glasshouse.jobs.models import JobStatus
from glasshouse.jobs.service import JobView
from glasshouse.redaction.exports import EXPORT, Source, settings_of, submit_export
from glasshouse.rest.redaction import download_headers
from glasshouse.rest.streaming import read_chunks
from glasshouse.services import Services
from glasshouse.web import areas
from glasshouse.web.deps import CsrfForm, Svc, WebUser, render, require_roles, start_job
from glasshouse.web.deps import field as form_field

router = APIRouter(prefix="/ui/redaction", include_in_schema=False)

Clerk = Annotated[WebUser, Depends(require_roles(*areas.REDACTION.roles))]
_INDEXES = re.compile(r"\s*(\d{1,6}\s*(,\s*\d{1,6}\s*)*)?")


def kept_of(text: str) -> list[int]:
    """``"0, 3"`` → ``[0, 3]``: the Person.Index values to leave visible."""
    if not _INDEXES.fullmatch(text):
        raise InvalidParameterError("persons left visible: Person.Index numbers separated by commas")
    return sorted({int(part) for part in text.split(",") if part.strip()})


def _index(
    request: Request,
    svc: Services,
    user: WebUser,
    *,
    status_code: int = 200,
    denial: str | None = None,
    error: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    decision = svc.gate.decide(user.actor, Capability.MEDIA_REDACT)
    context = {
        "jobs": [j for j in svc.jobs.list(user.org_id) if j.kind == EXPORT],
        "copies": svc.redacted_copies.list_for_org(user.org_id),
        "videos": [
            m
            for m in svc.media.list(user.org_id)
            if m.content_type.startswith("video/") and m.source != "redacted"
        ],
        "state": {
            "allowed": decision.allowed,
            "message": decision.message,
            "obligations": obligations_in_words(decision.obligations),
        },
        "purposes": PURPOSES,
        "denial": denial,
        "error": error,
        "values": values or {},
    }
    return render(request, "redaction/index.html", context, status_code=status_code)


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def index(request: Request, svc: Svc, user: Clerk) -> Response:
    return _index(request, svc, user)


def submit(svc: Services, user: WebUser, form: FormData) -> JobView:
    video = form_field(form, "video")
    if not video:
        raise InvalidParameterError("choose a video")
    settings = settings_of(form_field(form, "method") or "blur", kept_of(form_field(form, "keep_persons")))
    context = RequestContext(
        purpose=form_field(form, "purpose") or None,
        case_number=form_field(form, "case_number") or None,
        warrant=form_field(form, "warrant") or None,
        inputs={"source": {"name": video}, "kept": sorted(settings.keep_persons)},
    )
    with svc.gate.guard(user.actor, Capability.MEDIA_REDACT, context) as grant:
        return submit_export(svc, grant, Source(video), settings, reason=form_field(form, "reason"))


@router.post("/exports", response_class=HTMLResponse)
def start(request: Request, svc: Svc, user: Clerk, form: CsrfForm) -> Response:
    return start_job(
        form,
        lambda: f"/ui/redaction/jobs/{submit(svc, user, form).id}",
        partial(_index, request, svc, user),
    )


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: str, svc: Svc, user: Clerk) -> Response:
    job = svc.jobs.get(user.org_id, job_id)
    if job.kind != EXPORT:
        raise NotFoundError(f"job {job_id} not found")
    running = job.status == JobStatus.IN_PROGRESS
    copy_id = (job.result_summary or {}).get("copy_id") if job.status == JobStatus.SUCCEEDED else None
    context: dict[str, Any] = {"job": job, "running": running, "copy_id": copy_id}
    response = render(request, "redaction/job.html", context)
    if running:
        response.headers["Refresh"] = "2"
    return response


@router.get("/copies/{copy_id}", response_class=HTMLResponse)
def copy_page(request: Request, copy_id: str, svc: Svc, user: Clerk) -> Response:
    """The chain-of-custody record (reading it passes the gate and is audited)."""
    with svc.gate.guard(user.actor, Capability.MEDIA_REDACT) as grant:
        copy = svc.redacted_copies.get(user.actor, copy_id)
        grant.note(copy_id=copy.id)
    return render(request, "redaction/copy.html", {"copy": copy})


@router.get("/copies/{copy_id}/download")
def download(copy_id: str, svc: Svc, user: Clerk) -> StreamingResponse:
    with svc.gate.guard(user.actor, Capability.MEDIA_REDACT) as grant:
        copy, stream = svc.redacted_copies.open(user.actor, copy_id)
        grant.note(copy_id=copy.id, sha256=copy.sha256, download=True)
    headers = download_headers(copy)
    return StreamingResponse(read_chunks(stream), media_type=copy.content_type, headers=headers)
