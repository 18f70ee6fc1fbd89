"""Release exports: a redacted copy, for public release, of a clip an organisation may read.

The source is one of the organisation's media objects, or footage shared with it (Rekognition's
``S3Object`` in a shared bucket, e.g. ``portal-shared``: what the share resolves to, so for a redacted
share only the copy that was given, never its original). :func:`submit_export` runs inside a
``media.redact`` grant and queues a job; the job (:func:`export`, run by the job runner like the video jobs,
so a long clip never holds a request) passes the gate again as the requester, resolves the source again
(is it still shared with us, unchanged?) and makes the copy with :class:`~glasshouse.redaction.copies.
RedactedCopies` (purpose ``release``), whose record says what was left visible, by whom and why.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from glasshouse.errors import InvalidParameterError
from glasshouse.governance.actor import Actor
from glasshouse.governance.gate import Grant, RequestContext
from glasshouse.governance.policy import Capability
from glasshouse.jobs.runner import JobContext
from glasshouse.jobs.service import JobService, JobView, register
from glasshouse.media.service import MediaInfo, MediaService, check_name
from glasshouse.redaction.copies import CopyView, RedactedCopies
from glasshouse.redaction.cover import Method
from glasshouse.redaction.record import RedactionSettings

EXPORT: Final = "redaction.export"
PURPOSE: Final = "release"
#: Name prefix of an export's copy when none is given: ``release/<job id><the original's suffix>``.
NAME_PREFIX: Final = "release/"
MAX_KEPT: Final = 100  # indexes left visible in one export
MAX_INDEX: Final = 100_000
MAX_REASON: Final = 2000
MAX_PADDING: Final = 2.0


class Services(Protocol):
    """The services an export uses (the composition root's ``Services`` has them)."""

    @property
    def media(self) -> MediaService: ...
    @property
    def jobs(self) -> JobService: ...
    @property
    def redacted_copies(self) -> RedactedCopies: ...


@dataclass(frozen=True, slots=True)
class Source:
    """What to redact: ``name`` among the caller's media (``bucket`` None or the organisation's own name),
    or in a shared bucket."""

    name: str
    bucket: str | None = None

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, **({"bucket": self.bucket} if self.bucket else {})}


def settings_of(method: str, keep_persons: list[int], padding: float = 0.25) -> RedactionSettings:
    """Checked export settings (a clear :class:`InvalidParameterError` for anything out of range)."""
    try:
        chosen = Method(method)
    except ValueError:
        raise InvalidParameterError("method must be blur or box") from None
    if len(keep_persons) > MAX_KEPT:
        raise InvalidParameterError(f"at most {MAX_KEPT} persons can be left visible")
    if any(not 0 <= i <= MAX_INDEX for i in keep_persons):
        raise InvalidParameterError(f"a kept person is a Person.Index between 0 and {MAX_INDEX}")
    if not 0.0 <= padding <= MAX_PADDING:
        raise InvalidParameterError(f"padding must be between 0 and {MAX_PADDING}")
    return RedactionSettings(method=chosen, padding=padding, keep_persons=frozenset(keep_persons))


def settings_from_json(data: Mapping[str, Any]) -> RedactionSettings:
    return RedactionSettings(
        method=Method(str(data["method"])),
        padding=float(data["padding"]),
        keep_persons=frozenset(int(i) for i in data["keep_persons"]),
        hold_ms=int(data["hold_ms"]),
    )


def checked_reason(settings: RedactionSettings, reason: str | None) -> str | None:
    """The reason, stripped; required when anyone is left visible."""
    reason = (reason or "").strip() or None
    if settings.keep_persons and reason is None:
        raise InvalidParameterError("say why faces are left visible: a reason is required with kept persons")
    if reason is not None and len(reason) > MAX_REASON:
        raise InvalidParameterError(f"the reason is at most {MAX_REASON} characters")
    return reason


def resolve(services: Services, org_id: str, source: Source) -> MediaInfo:
    """The media object ``source`` names for ``org_id``: its own, or shared with it. Anything else (another
    organisation's object, a bucket that is not shared with it) answers like a missing object."""
    check_name(source.name)
    if source.bucket:  # the organisation's own bucket (its name) or a shared one; any other is "missing"
        return services.media.resolve_s3_object(org_id, source.bucket, source.name)
    return services.media.get(org_id, source.name)


def submit_export(
    services: Services,
    grant: Grant,
    source: Source,
    settings: RedactionSettings,
    *,
    reason: str | None = None,
    copy_name: str | None = None,
    token: str | None = None,
    tag: str | None = None,
) -> JobView:
    """Queue a release export under ``grant`` (``media.redact``). A reason is required when anyone is left
    visible. Returns the job; its result is the copy's record."""
    reason = checked_reason(settings, reason)
    actor = grant.actor
    if copy_name is not None:
        check_name(copy_name)
    info = resolve(services, actor.org_id, source)
    request = grant.request
    params: dict[str, Any] = {
        "source": source.to_json(),
        "source_sha256": info.sha256,
        "settings": settings.to_json(),
        "reason": reason,
        "copy_name": copy_name,
        "actor": {
            "org_name": actor.org_name,
            "surface": actor.surface,
            "key_id": actor.key_id,
            "person": actor.person,
            "is_operator": actor.is_operator,
        },
        "request": {
            "purpose": request.purpose,
            "case_number": request.case_number,
            "warrant": request.warrant,
            "warrant_expires": request.warrant_expires.isoformat() if request.warrant_expires else None,
        },
    }
    grant.note(
        source_sha256=info.sha256,
        method=settings.method.value,
        kept=sorted(settings.keep_persons),
        shared=info.org_id != actor.org_id,
    )
    job = services.jobs.submit(
        actor.org_id, EXPORT, params, token=token, tag=tag, created=lambda view: grant.note(job_id=view.id)
    )
    grant.note(job_id=job.id)
    return job


def export(ctx: JobContext, job: JobView) -> Iterator[Mapping[str, Any]]:
    """The job: the requester's grant again (the policy may have changed), the source again (a share may
    have been withdrawn, the object replaced), then the copy. Its one result is the copy's record."""
    svc, params = ctx.services, job.params
    who = params["actor"]
    actor = Actor(
        org_id=job.org_id,
        org_name=str(who["org_name"]),
        surface=str(who["surface"]),
        key_id=who.get("key_id"),
        person=who.get("person"),
        is_operator=bool(who.get("is_operator")),
    )
    asked = params["request"]
    expires = asked.get("warrant_expires")
    request = RequestContext(
        purpose=asked.get("purpose"),
        case_number=asked.get("case_number"),
        warrant=asked.get("warrant"),
        warrant_expires=datetime.fromisoformat(expires) if expires else None,
        inputs={"job_id": job.id, "source_sha256": params["source_sha256"]},
    )
    settings = settings_from_json(params["settings"])
    ctx.progress(2, "fetching the clip")

    def progress(stage: str, done: int, total: int | None) -> None:
        if stage == "analyse":
            ctx.progress(5, "finding faces")
        elif total:
            ctx.progress(5 + 90 * min(done, total) / total, f"covering faces: frame {done} of {total}")

    with svc.gate.guard(actor, Capability.MEDIA_REDACT, request) as grant:
        source = Source(str(params["source"]["name"]), params["source"].get("bucket"))
        info = resolve(svc, job.org_id, source)
        if info.sha256 != params["source_sha256"]:
            raise InvalidParameterError("the clip changed after the export was requested: request it again")
        name = params.get("copy_name") or f"{NAME_PREFIX}{job.id}{_suffix(info.name)}"
        # A run after a lost worker finds the copy an earlier run of this job already stored.
        earlier = None if params.get("copy_name") else _stored(svc, job.org_id, name, info.sha256)
        copy = earlier or svc.redacted_copies.make(
            actor,
            source_org_id=info.org_id,
            source_name=info.name,
            settings=settings,
            purpose=PURPOSE,
            copy_name=name,
            reason=params.get("reason"),
            progress=progress,
        )
        grant.note(copy_id=copy.id, sha256=copy.sha256, again=earlier is not None)
    ctx.progress(98, "stored")
    ctx.summary["copy_id"] = copy.id
    yield {"copy_id": copy.id, "sha256": copy.sha256, "source_sha256": copy.source_sha256}


def _suffix(name: str) -> str:
    suffix = name.rsplit("/", 1)[-1].rpartition(".")[2].lower()
    return f".{suffix}" if "." in name.rsplit("/", 1)[-1] and suffix.isalnum() and len(suffix) <= 5 else ""


def _stored(services: Services, org_id: str, name: str, source_sha256: str) -> CopyView | None:
    found = services.redacted_copies.list_for_org(org_id, PURPOSE)
    return next((c for c in found if c.name == name and c.source_sha256 == source_sha256), None)


register(EXPORT, export)
