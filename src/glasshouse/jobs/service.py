"""Submitting jobs and reading their state and results; the registry of job kinds.

A job kind is a plain module-level function ``handler(ctx, job)`` that returns (or yields) JSON result
payloads. Workers find it by importing the module that registered it, so the same job runs identically
in ``glasshouse serve`` (in-process backend) and in ``glasshouse worker`` (Celery backend).
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from glasshouse.db import transaction, utcnow
from glasshouse.errors import InvalidParameterError, NotFoundError
from glasshouse.idempotency.service import IdempotentParameterMismatchError, request_digest
from glasshouse.jobs.models import Job, JobResult, JobStatus

if TYPE_CHECKING:
    from glasshouse.config import Settings
    from glasshouse.jobs.runner import JobContext

log = logging.getLogger("glasshouse.jobs")

Handler = Callable[["JobContext", "JobView"], Iterable[Mapping[str, Any]]]

#: Modules whose import registers the built-in job kinds (each calls :func:`register` at import).
BUILTIN_JOB_MODULES: tuple[str, ...] = ("glasshouse.video.jobs", "glasshouse.redaction.exports")
MAX_PARAMS_BYTES = 64 * 1024
MAX_TOKEN_LENGTH = 64
MAX_TAG_LENGTH = 256
MAX_PAGE = 1000

_handlers: dict[str, Handler] = {}


def register(kind: str, handler: Handler) -> Handler:
    """Make ``handler`` run jobs of ``kind``. It must be a module-level function (workers import it);
    registering the same function twice is harmless, a different one for a taken kind is an error."""
    module = sys.modules.get(handler.__module__)
    found: object = getattr(module, handler.__qualname__, None)
    if "<locals>" in handler.__qualname__ or found is not handler:
        raise ValueError(f"job handler for {kind!r} must be a module-level function")
    existing = _handlers.get(kind)
    if existing is not None and existing is not handler:
        raise ValueError(f"job kind {kind!r} is already registered to {existing.__qualname__}")
    _handlers[kind] = handler
    return handler


def load_job_modules(extra: Iterable[str] = ()) -> None:
    """Import the built-in job modules and ``extra`` (``Settings.job_modules``) so their kinds register."""
    for name in (*BUILTIN_JOB_MODULES, *extra):
        importlib.import_module(name)


def handler_for(kind: str) -> Handler | None:
    return _handlers.get(kind)


def registered_kinds() -> frozenset[str]:
    return frozenset(_handlers)


def _as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=utcnow().tzinfo)


@dataclass(frozen=True)
class JobView:
    """A job as callers see it (no lease internals)."""

    id: str
    org_id: str
    kind: str
    status: JobStatus
    status_message: str | None
    progress: int
    params: dict[str, Any]
    client_request_token: str | None
    job_tag: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int
    result_count: int
    result_summary: dict[str, Any] | None

    @classmethod
    def of(cls, job: Job) -> JobView:
        created = _as_utc(job.created_at)
        assert created is not None
        return cls(
            id=job.id,
            org_id=job.org_id,
            kind=job.kind,
            status=JobStatus(job.status),
            status_message=job.status_message,
            progress=job.progress,
            params=dict(job.params),
            client_request_token=job.client_request_token,
            job_tag=job.job_tag,
            created_at=created,
            started_at=_as_utc(job.started_at),
            finished_at=_as_utc(job.finished_at),
            attempts=job.attempts,
            result_count=job.result_count,
            result_summary=dict(job.result_summary) if job.result_summary is not None else None,
        )


@dataclass(frozen=True)
class ResultsPage:
    """Result payloads with ``seq`` greater than the requested ``after_seq``, in order.
    ``next_after_seq`` is the ``after_seq`` of the next page, ``None`` on the last page."""

    job: JobView
    items: list[dict[str, Any]]
    next_after_seq: int | None


def _check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    try:
        encoded = json.dumps(params, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"job parameters must be plain JSON: {exc}") from exc
    if len(encoded) > MAX_PARAMS_BYTES:
        raise InvalidParameterError("job parameters are too large (store media, pass a reference)")
    return cast(dict[str, Any], json.loads(encoded))


class JobService:
    """Submit jobs (idempotently per client token), read their status, list them, page their results."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        dispatch: Callable[[str], None] | None = None,
        job_modules: Iterable[str] = (),
    ) -> None:
        self.sessions = sessions
        self._dispatch = dispatch
        self._listeners: list[Callable[[str], None]] = []
        load_job_modules(job_modules)

    @classmethod
    def from_settings(cls, settings: Settings, sessions: sessionmaker[Session]) -> JobService:
        dispatch: Callable[[str], None] | None = None
        if settings.job_backend == "celery":
            from glasshouse.jobs.celery_app import CeleryDispatcher

            dispatch = CeleryDispatcher(settings)
        return cls(sessions, dispatch=dispatch, job_modules=settings.job_modules)

    def add_listener(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(job_id)`` after each new job commits (the in-process runner wakes up)."""
        self._listeners.append(listener)

    def submit(
        self,
        org_id: str,
        kind: str,
        params: Mapping[str, Any],
        token: str | None = None,
        tag: str | None = None,
        created: Callable[[JobView], None] | None = None,
    ) -> JobView:
        """Queue a job. The same ``token`` with the same params returns the job it started; with other
        params it raises :class:`IdempotentParameterMismatchError`. ``created`` is called inside the
        inserting transaction (the policy gate notes the job id there, so its audit entry names it)."""
        if handler_for(kind) is None:
            raise InvalidParameterError(f"unknown job kind {kind!r}")
        if token is not None and not 1 <= len(token) <= MAX_TOKEN_LENGTH:
            raise InvalidParameterError(f"client request token must be 1-{MAX_TOKEN_LENGTH} characters")
        if tag is not None and len(tag) > MAX_TAG_LENGTH:
            raise InvalidParameterError(f"job tag must be at most {MAX_TAG_LENGTH} characters")
        clean = _check_params(params)
        digest = request_digest(clean)
        if token is not None and (existing := self._by_token(org_id, kind, token, digest)) is not None:
            return existing
        try:
            with transaction(self.sessions) as session:
                job = Job(
                    org_id=org_id,
                    kind=kind,
                    status=JobStatus.IN_PROGRESS.value,
                    progress=0,
                    params=clean,
                    params_digest=digest,
                    client_request_token=token,
                    job_tag=tag,
                    attempts=0,
                    result_count=0,
                    dispatched_at=utcnow(),
                )
                session.add(job)
                session.flush()
                view = JobView.of(job)
                if created is not None:
                    created(view)
        except IntegrityError:
            if token is None:
                raise
            existing = self._by_token(org_id, kind, token, digest)  # a concurrent twin won the race
            if existing is None:
                raise
            return existing
        self._announce(view.id)
        return view

    def _by_token(self, org_id: str, kind: str, token: str, digest: str) -> JobView | None:
        with self.sessions() as session:
            job = session.scalar(
                select(Job).where(Job.org_id == org_id, Job.kind == kind, Job.client_request_token == token)
            )
            if job is None:
                return None
            if job.params_digest != digest:
                raise IdempotentParameterMismatchError(
                    "ClientRequestToken was already used with different parameters"
                )
            return JobView.of(job)

    def _announce(self, job_id: str) -> None:
        for listener in self._listeners:
            listener(job_id)
        if self._dispatch is not None:
            try:
                self._dispatch(job_id)
            except Exception:
                # The row is committed: a worker's sweep publishes it again (job_lease_seconds later).
                log.exception("could not publish job %s to the broker; a worker sweep will retry", job_id)

    def get(self, org_id: str, job_id: str, kind: str | None = None) -> JobView:
        """The job, if it belongs to ``org_id`` (and is of ``kind`` when given); else NotFoundError."""
        with self.sessions() as session:
            return JobView.of(self._owned(session, org_id, job_id, kind))

    def results(
        self,
        org_id: str,
        job_id: str,
        after_seq: int = 0,
        limit: int = MAX_PAGE,
        kind: str | None = None,
    ) -> ResultsPage:
        """Up to ``limit`` result payloads after ``after_seq`` (results exist once the job SUCCEEDED)."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidParameterError(f"limit must be 1-{MAX_PAGE}")
        if after_seq < 0:
            raise InvalidParameterError("after_seq must not be negative")
        with self.sessions() as session:
            view = JobView.of(self._owned(session, org_id, job_id, kind))
            rows = session.execute(
                select(JobResult.seq, JobResult.payload)
                .where(JobResult.job_id == job_id, JobResult.seq > after_seq)
                .order_by(JobResult.seq)
                .limit(limit + 1)
            ).all()
        more = len(rows) > limit
        rows = rows[:limit]
        return ResultsPage(
            job=view,
            items=[dict(payload) for _, payload in rows],
            next_after_seq=rows[-1][0] if more else None,
        )

    def list(
        self,
        org_id: str,
        *,
        kind: str | None = None,
        status: JobStatus | None = None,
        limit: int = 100,
    ) -> list[JobView]:
        """The organisation's jobs, newest first."""
        stmt = select(Job).where(Job.org_id == org_id)
        if kind is not None:
            stmt = stmt.where(Job.kind == kind)
        if status is not None:
            stmt = stmt.where(Job.status == status.value)
        with self.sessions() as session:
            jobs = session.scalars(stmt.order_by(Job.created_at.desc(), Job.id).limit(limit))
            return [JobView.of(job) for job in jobs]

    def purge_finished(self, older_than: datetime) -> int:
        """Delete jobs (and results) that finished before ``older_than``; the count deleted."""
        expired = (Job.status != JobStatus.IN_PROGRESS.value) & (Job.finished_at < older_than)
        with self.sessions() as session:  # read first: nothing to purge takes no write lock
            ids = list(session.scalars(select(Job.id).where(expired).limit(1000)))
        if not ids:
            return 0
        with transaction(self.sessions) as session:
            session.execute(delete(JobResult).where(JobResult.job_id.in_(ids)))
            session.execute(delete(Job).where(Job.id.in_(ids), expired))
        return len(ids)

    @staticmethod
    def _owned(session: Session, org_id: str, job_id: str, kind: str | None) -> Job:
        job = session.get(Job, job_id)
        if job is None or job.org_id != org_id or (kind is not None and job.kind != kind):
            raise NotFoundError(f"job {job_id} not found")
        return job
