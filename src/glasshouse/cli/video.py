"""``glasshouse video detect|search``: a local video file analysed here, now, as a job of the acting
organisation. The file goes to the organisation's media store (an object with the same SHA-256 is reused),
the job is started under the policy gate exactly like ``POST /v1/video/...`` and then run on this machine
while a progress bar follows it; the output is who appears when."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from glasshouse.cli.common import Case, Purpose, print_json, progress_bar, services
from glasshouse.errors import GlasshouseError
from glasshouse.governance.actor import Actor
from glasshouse.governance.gate import Grant, RequestContext
from glasshouse.governance.policy import Capability
from glasshouse.jobs.models import JobStatus
from glasshouse.jobs.runner import JobExecutor
from glasshouse.jobs.service import JobView
from glasshouse.media.service import MediaInfo
from glasshouse.media.store import READ_CHUNK
from glasshouse.services import Services
from glasshouse.video.jobs import FACE_DETECTION, FACE_SEARCH
from glasshouse.video.submit import submit_video_job

video_app = typer.Typer(
    help="Face detection and face search in a video file, run here as a job.", no_args_is_help=True
)

#: Sightings of the same person at most this far apart are one continuous appearance.
APPEARANCE_GAP_MS = 1000
_POLL_SECONDS = 0.2

VideoFile = Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The video file.")]
Warrant = Annotated[
    str | None, typer.Option("--warrant", help="Warrant reference (policy obligations may require it).")
]
WarrantExpires = Annotated[
    datetime | None,
    typer.Option("--warrant-expires", help="When the warrant expires (UTC unless a zone is given)."),
]


class VideoJobFailedError(GlasshouseError):
    code = "VideoJobFailed"


@contextmanager
def _gated(
    svc: Services,
    actor: Actor,
    capability: Capability,
    purpose: str | None,
    case: str | None,
    warrant: str | None,
    expires: datetime | None,
) -> Iterator[Grant]:
    """The policy gate, with a warrant (``cli.common.gated`` declares only purpose and case)."""
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    request = RequestContext(purpose=purpose, case_number=case, warrant=warrant, warrant_expires=expires)
    with svc.gate.guard(actor, capability, request) as grant:
        yield grant


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(READ_CHUNK):
            yield chunk


def _stored(svc: Services, actor: Actor, path: Path) -> MediaInfo:
    """The file as one of the organisation's media objects: one with the same bytes, else a new upload."""
    digest = hashlib.sha256()
    for chunk in _chunks(path):
        digest.update(chunk)
    sha256 = digest.hexdigest()
    for info in svc.media.list(actor.org_id):
        if info.sha256 == sha256:
            return info
    suffix = path.suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,10}", path.suffix) else ""
    return svc.media.upload(actor, f"cli/{sha256}{suffix}", _chunks(path), None)


def _start(
    svc: Services,
    kind: str,
    path: Path,
    request: tuple[str | None, str | None, str | None, datetime | None],
    collection: str | None = None,
    threshold: float = 80.0,
) -> JobView:
    actor = svc.cli_actor()
    capability = Capability.VIDEO_FACE_SEARCH if kind == FACE_SEARCH else Capability.VIDEO_FACE_DETECTION
    # Inside the gate: a refused caller uploads nothing.
    with _gated(svc, actor, capability, *request) as grant:
        if collection is not None:
            svc.collections.get(actor.org_id, collection)  # a missing collection: nothing uploaded
        media = _stored(svc, actor, path)
        return submit_video_job(svc, grant, kind, media, collection=collection, threshold=threshold)


def _run(svc: Services, job: JobView) -> JobView:
    """Run the job on a worker thread (or wait for the runner that holds it) with a progress bar."""
    executor = JobExecutor.from_services(svc)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            executor.reap()  # a job out of attempts is FAILED rather than waited for forever
            executor.run(job.id)
        except BaseException as exc:  # re-raised on the main thread
            errors.append(exc)

    # The job's failure is reported below; without this, an unconfigured CLI would also print its traceback
    # (logging's last-resort handler). Configured logging still receives it.
    quiet = logging.NullHandler()
    log = logging.getLogger("glasshouse.jobs")
    log.addHandler(quiet)
    try:
        current = _follow(svc, job, work, errors)
    finally:
        log.removeHandler(quiet)
    if current.status == JobStatus.FAILED:
        raise VideoJobFailedError(current.status_message or "the video job failed")
    return current


def _follow(svc: Services, job: JobView, work: Callable[[], None], errors: list[BaseException]) -> JobView:
    """Poll the job into a progress bar until it finishes, (re)starting ``work`` while it is queued."""
    thread: threading.Thread | None = None
    with progress_bar() as bar:
        task = bar.add_task(f"video job {job.id[:8]}", total=100)
        while True:
            if errors:
                raise errors[0]
            current = svc.jobs.get(job.org_id, job.id)
            bar.update(task, completed=current.progress, description=phase(current))
            if current.status != JobStatus.IN_PROGRESS:
                bar.update(task, completed=100 if current.status == JobStatus.SUCCEEDED else current.progress)
                break
            if thread is None or not thread.is_alive():
                # Claims and runs the job; returns at once if another runner holds its lease.
                thread = threading.Thread(target=work, name="glasshouse-video-job", daemon=True)
                thread.start()
            time.sleep(_POLL_SECONDS)
    if thread is not None:
        thread.join()
    return current


def phase(job: JobView) -> str:
    """What the progress bar says: the job's own words while it runs, its outcome once it has one."""
    if job.status != JobStatus.IN_PROGRESS:
        return job.status.value.lower()
    return job.status_message or ("queued" if job.progress == 0 else "working")


def _results(svc: Services, job: JobView) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after = 0
    while True:
        page = svc.jobs.results(job.org_id, job.id, after_seq=after, kind=job.kind)
        items += page.items
        if page.next_after_seq is None:
            return items
        after = page.next_after_seq


def appearances(timestamps: list[int], gap_ms: int = APPEARANCE_GAP_MS) -> list[dict[str, int]]:
    """Sorted sightings (ms) merged into ``{"start_ms", "end_ms"}`` ranges with gaps of at most ``gap_ms``."""
    ranges: list[dict[str, int]] = []
    for ms in sorted(set(timestamps)):
        if ranges and ms - ranges[-1]["end_ms"] <= gap_ms:
            ranges[-1]["end_ms"] = ms
        else:
            ranges.append({"start_ms": ms, "end_ms": ms})
    return ranges


def _summary(job: JobView, results: list[dict[str, Any]]) -> dict[str, Any]:
    summary = job.result_summary or {}
    return {
        "job_id": job.id,
        "status": job.status.value,
        "video": job.params.get("video"),
        "video_metadata": summary.get("VideoMetadata"),
        "results": len(results),
    }


@video_app.command("detect")
def detect(
    video: VideoFile,
    purpose: Purpose = None,
    case: Case = None,
    warrant: Warrant = None,
    warrant_expires: WarrantExpires = None,
) -> None:
    """Find every face in VIDEO; prints when faces are on screen."""
    with services() as svc:
        job = _start(svc, FACE_DETECTION, video, (purpose, case, warrant, warrant_expires))
        done = _run(svc, job)
        results = _results(svc, done)
    out = _summary(done, results)
    out["faces_on_screen"] = appearances([int(r["Timestamp"]) for r in results])
    print_json(out)


@video_app.command("search")
def search(
    collection: str,
    video: VideoFile,
    threshold: Annotated[float, typer.Option(min=0, max=100)] = 80.0,
    purpose: Purpose = None,
    case: Case = None,
    warrant: Warrant = None,
    warrant_expires: WarrantExpires = None,
) -> None:
    """Search COLLECTION for the faces in VIDEO; prints who appears when (by ExternalImageId)."""
    request = (purpose, case, warrant, warrant_expires)
    with services() as svc:
        job = _start(svc, FACE_SEARCH, video, request, collection=collection, threshold=threshold)
        done = _run(svc, job)
        results = _results(svc, done)
    seen: dict[str, list[int]] = {}
    best: dict[str, float] = {}
    for item in results:
        for match in item["FaceMatches"]:
            face = match["Face"]
            who = face.get("ExternalImageId") or f"face:{face['FaceId']}"
            seen.setdefault(who, []).append(int(item["Timestamp"]))
            best[who] = max(best.get(who, 0.0), float(match["Similarity"]))
    lead_id = (done.result_summary or {}).get("lead_id")
    out = _summary(done, results)
    out.update(
        collection=done.params.get("collection"),
        threshold=done.params.get("threshold"),
        lead_id=lead_id,
        review="pending" if lead_id else None,
        people={
            who: {"best_similarity": best[who], "appearances": appearances(times)}
            for who, times in sorted(seen.items())
        },
    )
    print_json(out)
