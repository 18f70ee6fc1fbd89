"""Running jobs under a lease, in-process or on a Celery worker (the same code either way).

A runner *claims* a job with one conditional UPDATE (still IN_PROGRESS, and unclaimed or its lease
lapsed), renews the lease while the handler runs, and writes every result row together with the
SUCCEEDED status in one transaction that again requires the lease. So a job whose worker died is run
again from scratch (up to ``job_max_attempts`` claims, then FAILED "worker lost after N attempts"), and
a runner that lost its lease can never write results: nothing is lost, nothing duplicated.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, cast

from sqlalchemy import CursorResult, Update, delete, insert, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from glasshouse.db import transaction, utcnow
from glasshouse.errors import GlasshouseError, ModelUnavailableError
from glasshouse.jobs.models import Job, JobResult, JobStatus
from glasshouse.jobs.service import JobService, JobView, handler_for, load_job_modules

if TYPE_CHECKING:
    from glasshouse.services import Services

log = logging.getLogger("glasshouse.jobs")

#: Seconds between deletions of jobs past their retention.
PURGE_EVERY = 300.0


class FinishListener(Protocol):
    """Told, inside the transaction that finishes a job, that it finished (e.g. to queue a notification);
    asked by the runners' periodic sweep to deliver what is due."""

    def job_finished(self, session: Session, job: Job) -> None: ...

    def deliver_due(self) -> int: ...


class LeaseLostError(Exception):
    """This runner's lease lapsed and another runner may own the job: stop, write nothing."""


class _Abandoned(Exception):
    """The runner is shutting down: hand the job back for another runner."""


class Outcome(StrEnum):
    NOT_CLAIMED = "not_claimed"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    LEASE_LOST = "lease_lost"
    ABANDONED = "abandoned"


@dataclass
class JobContext:
    """What a handler gets besides its job: the process's services and a progress callback."""

    job: JobView
    services: Services
    _report: Callable[[float, str | None], None]
    #: Job-level facts the handler wants kept beside its results (e.g. video metadata).
    summary: dict[str, Any] = field(default_factory=dict)

    def progress(self, percent: float, message: str | None = None) -> None:
        """Report progress (0-100). Raises if the job was taken over or the runner is stopping."""
        self._report(percent, message)


def _failure_message(exc: Exception) -> str:
    if isinstance(exc, GlasshouseError):
        return exc.message
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _refusal(exc: Exception) -> bool:
    """A typed refusal of the job's input (logged as one line with its reason), not an unexpected error
    (logged with its traceback)."""
    return (
        isinstance(exc, GlasshouseError)
        and not isinstance(exc, ModelUnavailableError)
        and exc.code != GlasshouseError.code
    )


def _rowcount(session: Session, stmt: Update) -> int:
    return cast(CursorResult[Any], session.execute(stmt)).rowcount


class _Lease:
    """Renews a claimed job's lease every quarter of its length, on a thread of its own, and writes
    progress (throttled). ``lost`` becomes true when a renewal finds the lease taken."""

    def __init__(self, sessions: sessionmaker[Session], job_id: str, owner: str, seconds: float) -> None:
        self.sessions, self.job_id, self.owner, self.seconds = sessions, job_id, owner, seconds
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{job_id[:8]}", daemon=True)
        self._last_progress = -1
        self._last_write = 0.0

    def __enter__(self) -> _Lease:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _held(self) -> Update:
        return update(Job).where(
            Job.id == self.job_id, Job.lease_owner == self.owner, Job.status == JobStatus.IN_PROGRESS.value
        )

    def renew(self, **values: Any) -> None:
        expires = utcnow() + timedelta(seconds=self.seconds)
        with transaction(self.sessions) as session:
            if _rowcount(session, self._held().values(lease_expires_at=expires, **values)) != 1:
                self.lost = True

    def _beat(self) -> None:
        while not self._stop.wait(self.seconds / 4):
            try:
                self.renew()
            except Exception:  # a busy database: try again at the next beat, the lease has slack
                log.exception("renewing the lease of job %s failed", self.job_id)
            if self.lost:
                return

    def progress(self, percent: float, message: str | None) -> None:
        value = max(0, min(99, int(percent)))  # 100 only with the results
        now = time.monotonic()
        if value != self._last_progress and (now - self._last_write >= 0.2 or value >= 99):
            values: dict[str, Any] = {"progress": value}
            if message is not None:
                values["status_message"] = message[:500]
            self.renew(**values)
            self._last_progress, self._last_write = value, now


class JobExecutor:
    """Claims and runs jobs by id. Shared by the in-process runner and the Celery task."""

    def __init__(
        self,
        services: Services,
        *,
        lease_seconds: float,
        max_attempts: int,
        retention_hours: float = 0.0,
        listener: FinishListener | None = None,
    ) -> None:
        self.services = services
        self.listener = listener
        self.sessions = services.sessions
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.retention_hours = retention_hours
        self._owner_prefix = f"{socket.gethostname()[:64]}:{os.getpid()}"
        load_job_modules(services.settings.job_modules)

    @classmethod
    def from_services(cls, services: Services) -> JobExecutor:
        s = services.settings
        return cls(
            services,
            lease_seconds=s.job_lease_seconds,
            max_attempts=s.job_max_attempts,
            retention_hours=s.job_retention_hours,
            listener=services.notifications,
        )

    def _finished(self, session: Session, job_id: str) -> None:
        if self.listener is not None:
            job = session.get(Job, job_id)
            if job is not None:
                self.listener.job_finished(session, job)

    def deliver(self) -> int:
        """Deliver due notifications (the periodic sweep); how many."""
        return self.listener.deliver_due() if self.listener is not None else 0

    # -- claiming ---------------------------------------------------------------------------------
    def _claimable(self) -> Any:
        now = utcnow()
        return (
            (Job.status == JobStatus.IN_PROGRESS.value)
            & (Job.attempts < self.max_attempts)
            & or_(Job.lease_owner.is_(None), Job.lease_expires_at < now)
        )

    def _claiming(self, owner: str) -> Update:
        now = utcnow()
        return (
            update(Job)
            .where(self._claimable())
            .values(
                lease_owner=owner,
                lease_expires_at=now + timedelta(seconds=self.lease_seconds),
                attempts=Job.attempts + 1,
                started_at=now,
                progress=0,
                status_message=None,
            )
            .execution_options(synchronize_session=False)
        )

    def _new_owner(self) -> str:
        return f"{self._owner_prefix}:{uuid.uuid4().hex[:12]}"

    def claim(self, job_id: str) -> str | None:
        """Take the job's lease if it is free or lapsed; the new lease owner, or None.

        One conditional UPDATE: on PostgreSQL (READ COMMITTED) a concurrent claimer waits on the row lock
        and then re-checks the condition against the committed row, so exactly one of them wins."""
        owner = self._new_owner()
        with transaction(self.sessions) as session:
            return owner if _rowcount(session, self._claiming(owner).where(Job.id == job_id)) == 1 else None

    def claim_next(self) -> tuple[str, str] | None:
        """Claim the oldest claimable job: (job id, lease owner), or None when there is none."""
        if self.services.db_engine.dialect.name == "postgresql":
            return self._claim_next_skip_locked()
        with self.sessions() as session:
            ids = list(
                session.scalars(select(Job.id).where(self._claimable()).order_by(Job.created_at).limit(8))
            )
        for job_id in ids:
            owner = self.claim(job_id)
            if owner is not None:
                return job_id, owner
        return None

    def _claim_next_skip_locked(self) -> tuple[str, str] | None:
        """PostgreSQL: pick and claim in one statement; rows another runner is claiming right now are
        skipped (``FOR UPDATE SKIP LOCKED``) instead of waited for, so runners on many nodes never queue
        behind each other on the same job."""
        owner = self._new_owner()
        oldest = (
            select(Job.id)
            .where(self._claimable())
            .order_by(Job.created_at)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        with transaction(self.sessions) as session:
            job_id = session.scalar(self._claiming(owner).where(Job.id == oldest).returning(Job.id))
        return (job_id, owner) if job_id is not None else None

    # -- running ----------------------------------------------------------------------------------
    def run(self, job_id: str, should_stop: Callable[[], bool] = lambda: False) -> Outcome:
        """Claim ``job_id`` and run it; NOT_CLAIMED when it is finished or another runner holds it."""
        owner = self.claim(job_id)
        if owner is None:
            return Outcome.NOT_CLAIMED
        return self.execute(job_id, owner, should_stop)

    def execute(self, job_id: str, owner: str, should_stop: Callable[[], bool] = lambda: False) -> Outcome:
        """Run a job this runner has claimed as ``owner``."""
        with self.sessions() as session:
            job = session.get(Job, job_id)
            assert job is not None
            view = JobView.of(job)
        handler = handler_for(view.kind)
        if handler is None:
            message = f"no handler for job kind {view.kind!r} in this worker (see GLASSHOUSE_JOB_MODULES)"
            return self._fail(job_id, owner, message)
        with _Lease(self.sessions, job_id, owner, self.lease_seconds) as lease:

            def check() -> None:
                if lease.lost:
                    raise LeaseLostError(job_id)
                if should_stop():
                    raise _Abandoned(job_id)

            def report(percent: float, message: str | None) -> None:
                check()
                lease.progress(percent, message)
                check()

            ctx = JobContext(view, self.services, report)
            try:
                payloads: list[dict[str, Any]] = []
                for payload in handler(ctx, view):
                    check()
                    payloads.append(json.loads(json.dumps(dict(payload), allow_nan=False)))
                check()
                summary = json.loads(json.dumps(ctx.summary, allow_nan=False))
                return self._succeed(job_id, owner, payloads, summary)
            except LeaseLostError:
                log.warning("job %s: lease lost to another runner; this run's results are dropped", job_id)
                return Outcome.LEASE_LOST
            except _Abandoned:
                self._release(job_id, owner)
                return Outcome.ABANDONED
            except Exception as exc:
                if _refusal(exc):  # e.g. a corrupt video: the job's answer, not a fault of ours
                    log.info("job %s (%s) refused: %s", job_id, view.kind, _failure_message(exc))
                else:
                    log.exception("job %s (%s) failed", job_id, view.kind)
                return self._fail(job_id, owner, _failure_message(exc))

    def _owned(self, job_id: str, owner: str) -> Update:
        return (
            update(Job)
            .where(Job.id == job_id, Job.lease_owner == owner, Job.status == JobStatus.IN_PROGRESS.value)
            .execution_options(synchronize_session=False)
        )

    def _succeed(
        self, job_id: str, owner: str, payloads: list[dict[str, Any]], summary: Mapping[str, Any]
    ) -> Outcome:
        done = self._owned(job_id, owner).values(
            status=JobStatus.SUCCEEDED.value,
            status_message=None,
            progress=100,
            finished_at=utcnow(),
            lease_owner=None,
            lease_expires_at=None,
            result_summary=dict(summary) or None,
            result_count=len(payloads),
        )
        with transaction(self.sessions) as session:
            lost = _rowcount(session, done) != 1
            if not lost:  # else nothing is written: the runner holding the lease writes the results
                session.execute(delete(JobResult).where(JobResult.job_id == job_id))
                if payloads:
                    session.execute(
                        insert(JobResult),
                        [{"job_id": job_id, "seq": i, "payload": p} for i, p in enumerate(payloads, 1)],
                    )
                self._finished(session, job_id)
        if lost:
            log.warning("job %s: lease lost before the results were written; dropped", job_id)
            return Outcome.LEASE_LOST
        return Outcome.SUCCEEDED

    def _fail(self, job_id: str, owner: str, message: str) -> Outcome:
        failed = self._owned(job_id, owner).values(
            status=JobStatus.FAILED.value,
            status_message=message[:2000],
            finished_at=utcnow(),
            lease_owner=None,
            lease_expires_at=None,
        )
        with transaction(self.sessions) as session:
            if _rowcount(session, failed) != 1:
                return Outcome.LEASE_LOST
            self._finished(session, job_id)
        return Outcome.FAILED

    def _release(self, job_id: str, owner: str) -> None:
        """Give the job back without spending an attempt (graceful shutdown)."""
        released = self._owned(job_id, owner).values(
            lease_owner=None, lease_expires_at=None, progress=0, attempts=Job.attempts - 1
        )
        with transaction(self.sessions) as session:
            session.execute(released)

    # -- maintenance ------------------------------------------------------------------------------
    def reap(self) -> int:
        """FAIL jobs whose lease lapsed on their last allowed attempt; how many."""
        now = utcnow()
        exhausted = (
            (Job.status == JobStatus.IN_PROGRESS.value)
            & Job.lease_owner.is_not(None)
            & (Job.lease_expires_at < now)
            & (Job.attempts >= self.max_attempts)
        )
        with self.sessions() as session:  # read first: idle polls take no write lock
            if session.scalar(select(Job.id).where(exhausted).limit(1)) is None:
                return 0
        stmt = (
            update(Job)
            .where(exhausted)
            .values(
                status=JobStatus.FAILED.value,
                status_message=f"worker lost after {self.max_attempts} attempts",
                finished_at=now,
                lease_owner=None,
                lease_expires_at=None,
            )
            .returning(Job.id)
            .execution_options(synchronize_session=False)
        )
        with transaction(self.sessions) as session:
            failed_ids = list(session.scalars(stmt))
            for job_id in failed_ids:
                self._finished(session, job_id)
        count = len(failed_ids)
        if count:
            log.warning("%d job(s) failed: their worker was lost %d times", count, self.max_attempts)
        return count

    def purge(self) -> int:
        """Delete finished jobs older than the retention period (none when it is 0)."""
        if self.retention_hours <= 0:
            return 0
        return JobService(self.sessions).purge_finished(utcnow() - timedelta(hours=self.retention_hours))

    def due_for_dispatch(self) -> list[str]:
        """Celery backend: claimable jobs not published for a lease period (the broker lost them or
        their worker died). Each is marked published now, so concurrent sweepers publish it once."""
        now = utcnow()
        stale = now - timedelta(seconds=self.lease_seconds)
        due = or_(Job.dispatched_at.is_(None), Job.dispatched_at < stale)
        with self.sessions() as session:
            ids = list(
                session.scalars(
                    select(Job.id).where(self._claimable(), due).order_by(Job.created_at).limit(100)
                )
            )
        marked = []
        for job_id in ids:
            stmt = (
                update(Job)
                .where(Job.id == job_id, due)
                .values(dispatched_at=now)
                .execution_options(synchronize_session=False)
            )
            with transaction(self.sessions) as session:
                if _rowcount(session, stmt) == 1:
                    marked.append(job_id)
        return marked


class InProcessRunner:
    """A few threads inside ``glasshouse serve`` that poll the jobs table and run what they claim."""

    def __init__(self, executor: JobExecutor, *, workers: int = 1, poll_seconds: float = 1.0) -> None:
        self.executor = executor
        self.workers = workers
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._maintenance_lock = threading.Lock()
        self._next_maintenance = 0.0
        self._next_purge = 0.0

    @classmethod
    def start_for(cls, services: Services) -> InProcessRunner:
        """Start a runner for ``services`` that wakes up as soon as ``services.jobs`` accepts a job."""
        s = services.settings
        runner = cls(
            JobExecutor.from_services(services), workers=s.job_workers, poll_seconds=s.job_poll_seconds
        )
        services.jobs.add_listener(runner.wake)
        runner.start()
        return runner

    def start(self) -> None:
        for i in range(self.workers):
            thread = threading.Thread(target=self._loop, name=f"glasshouse-job-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        # Notifications on a thread of their own: a slow webhook never holds up the jobs.
        notifier = threading.Thread(target=self._deliver_loop, name="glasshouse-notify", daemon=True)
        notifier.start()
        self._threads.append(notifier)

    def _deliver_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.executor.deliver()
            except Exception:
                log.exception("notification delivery failed; retrying after the poll interval")
            self._stop.wait(self.poll_seconds)

    def wake(self, _job_id: str | None = None) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop; running jobs are handed back at their next progress report or result (else their
        lease lapses and they are retried)."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def maintain(self) -> None:
        """Fail exhausted jobs and purge old ones, at most once per poll interval across threads."""
        with self._maintenance_lock:
            now = time.monotonic()
            if now < self._next_maintenance:
                return
            self._next_maintenance = now + self.poll_seconds
            purge, self._next_purge = now >= self._next_purge, max(self._next_purge, now + PURGE_EVERY)
        self.executor.reap()
        if purge:
            self.executor.purge()

    def run_pending(self) -> int:
        """Run every claimable job on this thread until none is left (CLI and tests); how many ran."""
        ran = 0
        while (claimed := self.executor.claim_next()) is not None:
            self.executor.execute(*claimed)
            ran += 1
        return ran

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.maintain()
                claimed = self.executor.claim_next()
                if claimed is not None:
                    self.executor.execute(*claimed, should_stop=self._stop.is_set)
                    continue
            except Exception:
                log.exception("job runner loop error; retrying after the poll interval")
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
