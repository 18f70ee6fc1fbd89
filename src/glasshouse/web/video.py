"""Video jobs in the UI: start a face search (or detection) on a stored video through the policy gate, follow
its progress, and read its results as a timeline of who appears when, with one face thumbnail per person.

The Start forms pass the gate exactly like Rekognition's StartFaceSearch / StartFaceDetection (same
capability, same obligations carried in the job's parameters). Timelines are inline SVG drawn here (no
JavaScript); thumbnails are cut from the stored video's frames in memory and sent as ``data:`` URIs.
"""

from __future__ import annotations

import math
import mimetypes
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from html import escape
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from glasshouse.engine.types import Box, RGBImage
from glasshouse.errors import GlasshouseError, InvalidInputError, InvalidParameterError, NotFoundError
from glasshouse.governance.decision import obligations_in_words
from glasshouse.governance.gate import RequestContext
from glasshouse.governance.policy import PURPOSES, Capability
from glasshouse.http.body_limit import FORM_SLACK, body_limit
from glasshouse.jobs.models import JobStatus
from glasshouse.jobs.service import JobView
from glasshouse.rest.errors import status_of
from glasshouse.rest.streaming import error_response, read_chunks, receive_upload
from glasshouse.services import Services
from glasshouse.video.decode import VideoReader
from glasshouse.video.jobs import FACE_DETECTION, FACE_SEARCH
from glasshouse.video.submit import submit_video_job
from glasshouse.web import annotate, areas
from glasshouse.web.deps import CsrfForm, Svc, WebUser, render, require_roles, start_job, streamed_by
from glasshouse.web.deps import field as form_field

router = APIRouter(prefix="/ui/video", include_in_schema=False)

Investigator = Annotated[WebUser, Depends(require_roles(*areas.VIDEO.roles))]
#: An investigator whose streamed request carries the session's CSRF token in a header.
Uploader = Annotated[WebUser, Depends(streamed_by(*areas.VIDEO.roles))]
KINDS: dict[str, tuple[str, Capability]] = {
    FACE_SEARCH: ("Face search", Capability.VIDEO_FACE_SEARCH),
    FACE_DETECTION: ("Face detection", Capability.VIDEO_FACE_DETECTION),
}
#: Sightings of one person closer than this are one span on the timeline (the sampler's gaps are shorter).
MERGE_GAP_MS = 1000
#: Most people given a row (and a thumbnail) on a job's page; the table lists every span regardless.
MAX_PEOPLE = 30
RESULT_LIMIT = 20_000  # results read for one page (a very long video's table is cut here)

# SVG geometry (user units; the drawing scales to the page width).
WIDTH, LABEL_W, PAD, ROW_H, BAR_H, AXIS_H, TITLE_H = 640, 170, 8, 26, 16, 22, 26
PLOT_W = WIDTH - LABEL_W - PAD - 14  # room on the right for the last tick's label
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#8C6D1F", "#555555")


# -- results → timeline ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Span:
    start_ms: int
    end_ms: int
    sightings: int


@dataclass(slots=True)
class Person:
    """One matched identity: when it is visible, and its best sighting (for the thumbnail)."""

    label: str
    face_id: str
    timestamps: list[int] = field(default_factory=list)
    best_similarity: float = -1.0
    best_ms: int = 0
    best_box: Mapping[str, float] = field(default_factory=dict)
    thumbnail: str | None = None

    @property
    def spans(self) -> list[Span]:
        return merge_spans(self.timestamps)


def merge_spans(timestamps: Iterable[int], gap_ms: int = MERGE_GAP_MS) -> list[Span]:
    """Sorted timestamps → spans, joining neighbours at most ``gap_ms`` apart."""
    spans: list[Span] = []
    start = last = count = None
    for ts in sorted(set(timestamps)):
        if last is not None and start is not None and count is not None and ts - last <= gap_ms:
            last, count = ts, count + 1
            continue
        if start is not None and last is not None and count is not None:
            spans.append(Span(start, last, count))
        start = last = ts
        count = 1
    if start is not None and last is not None and count is not None:
        spans.append(Span(start, last, count))
    return spans


def people_of(persons: Iterable[Mapping[str, Any]]) -> list[Person]:
    """GetFaceSearch ``Persons`` → one :class:`Person` per matched face identity (its top match), in order of
    first appearance."""
    found: dict[str, Person] = {}
    for item in persons:
        matches = item.get("FaceMatches") or []
        if not matches:
            continue
        top = max(matches, key=lambda m: float(m.get("Similarity", 0.0)))
        face = top.get("Face") or {}
        face_id = str(face.get("FaceId", "?"))
        label = str(face.get("ExternalImageId") or face_id)
        person = found.setdefault(label, Person(label, face_id))
        ts = int(item["Timestamp"])
        person.timestamps.append(ts)
        similarity = float(top.get("Similarity", 0.0))
        if similarity > person.best_similarity:
            person.best_similarity, person.best_ms = similarity, ts
            person.best_box = dict(item.get("Person", {}).get("Face", {}).get("BoundingBox", {}))
    return sorted(found.values(), key=lambda p: (min(p.timestamps), p.label))


def faces_per_second(faces: Iterable[Mapping[str, Any]]) -> dict[int, int]:
    """GetFaceDetection ``Faces`` → the most faces seen together in one sampled frame, per second."""
    per_frame: dict[int, int] = {}
    for item in faces:
        ts = int(item["Timestamp"])
        per_frame[ts] = per_frame.get(ts, 0) + 1
    per_second: dict[int, int] = {}
    for ts, n in per_frame.items():
        per_second[ts // 1000] = max(per_second.get(ts // 1000, 0), n)
    return per_second


# -- SVG --------------------------------------------------------------------------------------------------------
def _x(text: object) -> str:
    return escape(str(text), quote=True)


def _s(ms: float) -> str:
    return f"{ms / 1000:.1f} s"


def _svg(chart_id: str, title: str, desc: str, height: int, body: Sequence[str]) -> str:
    t, d = f"{chart_id}-title", f"{chart_id}-desc"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{_x(chart_id)}" class="chart timeline" role="img" '
        f'aria-labelledby="{t} {d}" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" font-family="sans-serif" font-size="12">'
        f'<title id="{t}">{_x(title)}</title><desc id="{d}">{_x(desc)}</desc>'
        f'<text x="{PAD}" y="17" font-size="14" font-weight="bold">{_x(title)}</text>'
        + "".join(body)
        + "</svg>"
    )


def _axis(end_ms: int, top: int, bottom: int) -> tuple[list[str], float]:
    """Second ticks (every 1, 2, 5, 10… s so at most ~12) with grid lines; returns the parts and px per ms."""
    scale = PLOT_W / max(end_ms, 1)
    seconds = end_ms / 1000
    step = next(s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600) if seconds / s <= 12)
    parts = []
    for sec in range(0, int(seconds) + 1, step):
        x = round(LABEL_W + sec * 1000 * scale, 1)
        parts.append(f'<line x1="{x}" y1="{top}" x2="{x}" y2="{bottom}" stroke="#ccc" stroke-width="1"/>')
        parts.append(f'<text x="{x}" y="{bottom + 14}" text-anchor="middle" fill="#444">{sec} s</text>')
    return parts, scale


def axis_end_ms(duration_ms: int, last_ms: int) -> int:
    """The timeline's end: the video's end (or the last sighting), up to a whole second."""
    return max(1000, math.ceil(max(duration_ms, last_ms + 1) / 1000) * 1000)


def person_timeline(people: Sequence[Person], end_ms: int, chart_id: str = "timeline") -> str:
    """One row per person, a bar per span of visibility (at least 3 px so a single sighting shows)."""
    top = TITLE_H + 4
    bottom = top + max(1, len(people)) * ROW_H
    parts, scale = _axis(end_ms, top, bottom)
    described = []
    for i, person in enumerate(people):
        y = top + i * ROW_H
        colour = PALETTE[i % len(PALETTE)]
        label = person.label if len(person.label) <= 24 else person.label[:23] + "…"
        parts.append(f'<text x="{LABEL_W - 6}" y="{y + 16}" text-anchor="end">{_x(label)}</text>')
        parts.append(f'<rect x="{LABEL_W}" y="{y + 4}" width="{PLOT_W}" height="{BAR_H}" fill="#f2f2f2"/>')
        spans = person.spans
        for span in spans:
            x = round(LABEL_W + span.start_ms * scale, 1)
            w = max(3.0, round((span.end_ms - span.start_ms) * scale, 1))
            parts.append(
                f"<g><title>{_x(person.label)}: {_s(span.start_ms)} to {_s(span.end_ms)}</title>"
                f'<rect class="span" x="{x}" y="{y + 4}" width="{w}" height="{BAR_H}" fill="{colour}"/></g>'
            )
        ranges = ", ".join(f"{_s(s.start_ms)} to {_s(s.end_ms)}" for s in spans)
        described.append(f"{person.label}: {ranges}")
    if not people:
        parts.append(f'<text x="{LABEL_W + 6}" y="{top + 16}" font-style="italic">Nobody matched.</text>')
    desc = "Who appears when in the video. " + ("; ".join(described) if described else "Nobody matched.")
    return _svg(chart_id, "Who appears when", desc, bottom + AXIS_H, parts)


def count_timeline(counts: Mapping[int, int], end_ms: int, chart_id: str = "faces-per-second") -> str:
    """A column per second: the most faces seen together in that second."""
    top, plot_h = TITLE_H + 18, 120
    bottom = top + plot_h
    parts, scale = _axis(end_ms, top, bottom)
    peak = max(counts.values(), default=0)
    width = max(2.0, 1000 * scale - 2)
    for sec, n in sorted(counts.items()):
        h = round(plot_h * n / peak, 1) if peak else 0.0
        x = round(LABEL_W + sec * 1000 * scale + 1, 1)
        parts.append(
            f"<g><title>{sec} s to {sec + 1} s: {n} face{'s' if n != 1 else ''}</title>"
            f'<rect class="count" x="{x}" y="{bottom - h}" width="{round(width, 1)}" height="{h}" '
            f'fill="{PALETTE[0]}"/>'
            f'<text x="{round(x + width / 2, 1)}" y="{bottom - h - 3}" text-anchor="middle">{n}</text></g>'
        )
    parts.append(f'<text x="{LABEL_W - 6}" y="{bottom}" text-anchor="end">faces</text>')
    desc = "Most faces seen together, per second: " + (
        ", ".join(f"{sec} s: {n}" for sec, n in sorted(counts.items())) or "no faces"
    )
    return _svg(chart_id, "Faces per second", desc, bottom + AXIS_H, parts)


# -- thumbnails ---------------------------------------------------------------------------------------------------
def add_thumbnails(svc: Services, job: JobView, people: Sequence[Person]) -> str | None:
    """Set each person's thumbnail from the frame at their best sighting, decoded in memory from the stored
    video. Returns why there are none (the video was replaced or deleted since the job ran), else ``None``."""
    if not people:
        return None
    try:
        info, stream = svc.media.open(job.org_id, str(job.params["video"]))
    except NotFoundError:
        return "The video has been deleted since the job ran, so no face thumbnails can be shown."
    with stream:
        if info.sha256 != job.params.get("video_sha256"):
            return "The video was replaced since the job ran, so no face thumbnails can be shown."
        data = stream.read(svc.media.max_bytes + 1)
    wanted = sorted({p.best_ms for p in people})
    frames: dict[int, RGBImage] = {}
    for frame in VideoReader(data).frames():
        ms = round(frame.timestamp_ms)
        due = [w for w in wanted if w not in frames and w <= ms]
        if due:
            image = frame.rgb()
            for w in due:
                frames[w] = image
        if len(frames) == len(wanted):
            break
    for person in people:
        found = frames.get(person.best_ms)
        b = person.best_box
        if found is None or not b:
            continue
        image = found
        h, w = image.shape[:2]
        left, top = float(b["Left"]) * w, float(b["Top"]) * h
        box = Box(left, top, left + float(b["Width"]) * w, top + float(b["Height"]) * h)
        person.thumbnail = annotate.jpeg_data_uri(annotate.face_crop(image, box))
    return None


# -- pages --------------------------------------------------------------------------------------------------------
def _obligations(svc: Services, user: WebUser, capability: Capability) -> dict[str, Any]:
    decision = svc.gate.decide(user.actor, capability)
    needs = obligations_in_words(decision.obligations)
    return {"allowed": decision.allowed, "message": decision.message, "obligations": needs}


def _index(
    request: Request,
    svc: Services,
    user: WebUser,
    *,
    status_code: int = 200,
    denial: str | None = None,
    error: str | None = None,
    notice: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    jobs = [j for j in svc.jobs.list(user.org_id) if j.kind in KINDS]
    context = {
        "jobs": jobs,
        "kinds": {k: v[0] for k, v in KINDS.items()},
        "videos": [m for m in svc.media.list(user.org_id) if not m.content_type.startswith("image/")],
        "collections": [c.name for c in svc.collections.get_all(user.org_id)],
        "search_state": _obligations(svc, user, Capability.VIDEO_FACE_SEARCH),
        "detect_state": _obligations(svc, user, Capability.VIDEO_FACE_DETECTION),
        "purposes": PURPOSES,
        "denial": denial,
        "error": error,
        "notice": notice,
        "max_mb": svc.media.max_bytes // (1024 * 1024),
        "values": values or {},
    }
    return render(request, "video/index.html", context, status_code=status_code)


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def index(request: Request, svc: Svc, user: Investigator, uploaded: str = "") -> Response:
    return _index(request, svc, user, notice=f"Stored {uploaded}." if uploaded else None)


def _threshold(form: FormData) -> float:
    raw = form_field(form, "threshold")
    try:
        value = float(raw) if raw else 80.0
    except ValueError:
        raise InvalidParameterError("threshold must be a number") from None
    if not 0.0 <= value <= 100.0:
        raise InvalidParameterError("threshold must be between 0 and 100")
    return value


def submit(svc: Services, user: WebUser, kind: str, form: FormData) -> JobView:
    """Start a video job as Rekognition's Start operations do: the gate decides with the declared
    purpose/case/warrant, and :func:`submit_video_job` carries the obligations granted with the job."""
    video = form_field(form, "video")
    collection = form_field(form, "collection")
    if not video:
        raise InvalidParameterError("choose a video")
    if kind == FACE_SEARCH and not collection:
        raise InvalidParameterError("choose a collection to search")
    inputs: dict[str, Any] = {"video": video}
    if kind == FACE_SEARCH:
        inputs["collection"] = collection
    context = RequestContext(
        purpose=form_field(form, "purpose") or None,
        case_number=form_field(form, "case_number") or None,
        warrant=form_field(form, "warrant") or None,
        inputs=inputs,
    )
    threshold = _threshold(form)
    with svc.gate.guard(user.actor, KINDS[kind][1], context) as grant:
        return submit_video_job(svc, grant, kind, video, collection=collection or None, threshold=threshold)


def _video_type(content_type: str | None, filename: str) -> str:
    """The upload's media type, if it is a video (the jobs analyse nothing else)."""
    kind = (content_type or "").split(";")[0].strip() or mimetypes.guess_type(filename)[0] or ""
    if not kind.startswith("video/"):
        raise InvalidParameterError("choose a video file (MP4, MOV, WebM or AVI)")
    return kind


@router.put("/uploads/{name:path}")
@body_limit(lambda s: s.media_max_bytes, code="MediaTooLarge")
async def stream_upload(name: str, request: Request, svc: Svc, user: Uploader) -> Response:
    """A video streamed by the page's script (progress shown as it goes) straight into the media store."""
    try:
        content_type = _video_type(request.headers.get("content-type"), name)
    except InvalidParameterError as exc:
        return error_response(400, exc.code, exc.message)
    try:
        info = await receive_upload(
            request,
            svc.media.max_bytes,
            "videos",
            lambda chunks: svc.media.upload(user.actor, name, chunks, content_type),
        )
    except GlasshouseError as exc:  # the script shows the message
        return error_response(status_of(exc), exc.code, exc.message)
    if isinstance(info, JSONResponse):
        return info
    return JSONResponse(info.view(), status_code=201)


@router.post("/uploads", response_class=HTMLResponse)
@body_limit(lambda s: s.media_max_bytes + FORM_SLACK, code="MediaTooLarge")
def form_upload(request: Request, svc: Svc, user: Investigator, form: CsrfForm) -> Response:
    """The same upload from the plain form (no script): the spooled file is streamed into the store."""
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidParameterError("choose a video file to upload")
        name = form_field(form, "name") or upload.filename
        content_type = _video_type(upload.content_type, upload.filename)
        svc.media.upload(user.actor, name, read_chunks(upload.file), content_type)
    except InvalidInputError as exc:
        return _index(request, svc, user, status_code=status_of(exc), error=exc.message)
    return RedirectResponse(f"/ui/video/?{urlencode({'uploaded': name})}", status_code=303)


def _start(request: Request, svc: Services, user: WebUser, form: FormData, kind: str) -> Response:
    return start_job(
        form,
        lambda: f"/ui/video/jobs/{submit(svc, user, kind, form).id}",
        partial(_index, request, svc, user),
    )


@router.post("/search", response_class=HTMLResponse)
def start_search(request: Request, svc: Svc, user: Investigator, form: CsrfForm) -> Response:
    return _start(request, svc, user, form, FACE_SEARCH)


@router.post("/detect", response_class=HTMLResponse)
def start_detection(request: Request, svc: Svc, user: Investigator, form: CsrfForm) -> Response:
    return _start(request, svc, user, form, FACE_DETECTION)


def _all_results(svc: Services, job: JobView) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after = 0
    while len(items) < RESULT_LIMIT:
        page = svc.jobs.results(job.org_id, job.id, after_seq=after, limit=1000, kind=job.kind)
        items += page.items
        if page.next_after_seq is None:
            break
        after = page.next_after_seq
    return items


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: str, svc: Svc, user: Investigator) -> Response:
    job = svc.jobs.get(user.org_id, job_id)
    if job.kind not in KINDS:
        raise NotFoundError(f"job {job_id} not found")
    summary = job.result_summary or {}
    metadata: dict[str, Any] = dict(summary.get("VideoMetadata") or {})
    context: dict[str, Any] = {
        "job": job,
        "kind_title": KINDS[job.kind][0],
        "running": job.status == JobStatus.IN_PROGRESS,
        "metadata": metadata,
        "lead_id": summary.get("lead_id"),
        "people": [],
        "chart": None,
        "thumbnail_note": None,
        "faces": 0,
    }
    if job.status == JobStatus.SUCCEEDED:
        items = _all_results(svc, job)
        last = max((int(i["Timestamp"]) for i in items), default=0)
        end = axis_end_ms(int(metadata.get("DurationMillis", 0)), last)
        if job.kind == FACE_SEARCH:
            people = people_of(items)[:MAX_PEOPLE]
            context["thumbnail_note"] = add_thumbnails(svc, job, people)
            context["people"] = people
            context["chart"] = person_timeline(people, end)
        else:
            context["faces"] = len(items)
            context["chart"] = count_timeline(faces_per_second(items), end)
    response = render(request, "video/job.html", context)
    if context["running"]:
        response.headers["Refresh"] = "2"  # the page's <meta> refresh says the same, for any client
    return response
