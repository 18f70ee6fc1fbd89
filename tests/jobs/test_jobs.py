"""Jobs: submission, idempotency, tenancy, paginated results, the in-process runner, leases."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from glasshouse import db
from glasshouse.config import Settings
from glasshouse.errors import InvalidParameterError, NotFoundError
from glasshouse.jobs import (
    IdempotentParameterMismatchError,
    InProcessRunner,
    JobContext,
    JobExecutor,
    JobStatus,
    JobView,
    Outcome,
    register,
)
from glasshouse.jobs.models import Job, JobResult
from glasshouse.services import Services
from jobs.job_kinds import COUNT, FAIL

LEASE = 1.0


def expected(n: int) -> list[dict[str, Any]]:
    return [{"i": i, "square": i * i, "label": f"item-{i}"} for i in range(n)]


@pytest.fixture
def svc(settings: Settings) -> Iterator[Services]:
    settings = settings.model_copy(
        update={
            "job_modules": ["jobs.job_kinds"],
            "job_lease_seconds": LEASE,
            "job_poll_seconds": 0.05,
            "job_max_attempts": 3,
        }
    )
    services = Services(settings)
    yield services
    services.close()


@pytest.fixture
def orgs(svc: Services) -> tuple[str, str]:
    return svc.org_id("alpha"), svc.org_id("beta")


@pytest.fixture
def runner(svc: Services) -> Iterator[InProcessRunner]:
    started = InProcessRunner.start_for(svc)
    yield started
    started.stop()


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def wait_done(svc: Services, org: str, job_id: str, timeout: float = 10.0) -> JobView:
    wait_for(lambda: svc.jobs.get(org, job_id).status != JobStatus.IN_PROGRESS, timeout)
    return svc.jobs.get(org, job_id)


def all_results(svc: Services, org: str, job_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after = 0
    while True:
        page = svc.jobs.results(org, job_id, after_seq=after, limit=7)
        items += page.items
        if page.next_after_seq is None:
            return items
        after = page.next_after_seq


def result_rows(svc: Services, job_id: str) -> list[int]:
    with svc.sessions() as session:
        return list(session.scalars(select(JobResult.seq).where(JobResult.job_id == job_id)))


def lapse_lease(svc: Services, job_id: str) -> None:
    """What a dead worker leaves behind: a lease nobody renews, now expired."""
    with db.transaction(svc.sessions) as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(lease_expires_at=db.utcnow() - timedelta(seconds=1))
            .execution_options(synchronize_session=False)
        )


# -- service ------------------------------------------------------------------------------------------
def test_submit_and_get(svc: Services, orgs: tuple[str, str]) -> None:
    alpha, _ = orgs
    job = svc.jobs.submit(alpha, COUNT, {"n": 3}, tag="tagged")
    got = svc.jobs.get(alpha, job.id)
    assert got == job
    assert (got.status, got.progress, got.params, got.job_tag, got.attempts) == (
        JobStatus.IN_PROGRESS,
        0,
        {"n": 3},
        "tagged",
        0,
    )
    assert svc.jobs.results(alpha, job.id).items == []
    with pytest.raises(InvalidParameterError, match="unknown job kind"):
        svc.jobs.submit(alpha, "no.such.kind", {})
    with pytest.raises(InvalidParameterError, match="plain JSON"):
        svc.jobs.submit(alpha, COUNT, {"n": 1, "image": b"\xff\xd8"})


def test_client_token_is_idempotent_per_org_and_kind(svc: Services, orgs: tuple[str, str]) -> None:
    alpha, beta = orgs
    first = svc.jobs.submit(alpha, COUNT, {"n": 2}, token="tok-1")
    assert svc.jobs.submit(alpha, COUNT, {"n": 2}, token="tok-1").id == first.id
    with pytest.raises(IdempotentParameterMismatchError):
        svc.jobs.submit(alpha, COUNT, {"n": 3}, token="tok-1")
    assert svc.jobs.submit(beta, COUNT, {"n": 2}, token="tok-1").id != first.id
    assert svc.jobs.submit(alpha, FAIL, {"n": 2}, token="tok-1").id != first.id
    assert svc.jobs.submit(alpha, COUNT, {"n": 2}).id != first.id  # no token: a new job each time


def test_jobs_of_another_organisation_are_not_found(svc: Services, orgs: tuple[str, str]) -> None:
    alpha, beta = orgs
    job = svc.jobs.submit(alpha, COUNT, {"n": 1})
    for read in (svc.jobs.get, svc.jobs.results):
        with pytest.raises(NotFoundError):
            read(beta, job.id)  # type: ignore[operator]
    with pytest.raises(NotFoundError):
        svc.jobs.get(alpha, job.id, kind=FAIL)  # a face-search job id is no face-detection job
    assert [j.id for j in svc.jobs.list(alpha)] == [job.id]
    assert svc.jobs.list(beta) == []
    assert svc.jobs.list(alpha, status=JobStatus.SUCCEEDED) == []


def test_handlers_must_be_importable_functions() -> None:
    def local(ctx: JobContext, job: JobView) -> list[dict[str, Any]]:
        return []

    with pytest.raises(ValueError, match="module-level"):
        register("test.closure", local)
    with pytest.raises(ValueError, match="already registered"):
        register(COUNT, expected)  # type: ignore[arg-type]


# -- in-process runner --------------------------------------------------------------------------------
def test_runner_completes_a_job_with_paginated_results(
    svc: Services, orgs: tuple[str, str], runner: InProcessRunner
) -> None:
    alpha, _ = orgs
    job = svc.jobs.submit(alpha, COUNT, {"n": 25})
    done = wait_done(svc, alpha, job.id)
    assert (done.status, done.progress, done.attempts, done.result_count) == (JobStatus.SUCCEEDED, 100, 1, 25)
    assert done.result_summary == {"n": 25} and done.finished_at is not None
    first = svc.jobs.results(alpha, job.id, limit=10)
    assert first.next_after_seq == 10 and len(first.items) == 10
    assert svc.jobs.results(alpha, job.id, after_seq=20, limit=10).next_after_seq is None
    assert all_results(svc, alpha, job.id) == expected(25)
    assert [j.id for j in svc.jobs.list(alpha, status=JobStatus.SUCCEEDED)] == [job.id]


def test_a_failing_handler_fails_its_job_and_the_runner_serves_the_next(
    svc: Services, orgs: tuple[str, str], runner: InProcessRunner
) -> None:
    alpha, _ = orgs
    bad = svc.jobs.submit(alpha, FAIL, {"what": "the moon"})
    good = svc.jobs.submit(alpha, COUNT, {"n": 3})
    failed = wait_done(svc, alpha, bad.id)
    assert failed.status == JobStatus.FAILED
    assert failed.status_message == "cannot process the moon"
    assert svc.jobs.results(alpha, bad.id).items == [] and result_rows(svc, bad.id) == []
    assert wait_done(svc, alpha, good.id).status == JobStatus.SUCCEEDED
    assert all_results(svc, alpha, good.id) == expected(3)


def test_a_refused_job_logs_one_info_line_with_its_reason_and_no_traceback(
    svc: Services, orgs: tuple[str, str], runner: InProcessRunner, caplog: pytest.LogCaptureFixture
) -> None:
    """A typed refusal (a corrupt video, here a handler's InvalidParameterError) is the job's answer: one INFO
    line naming the reason, never a traceback at ERROR (those are for unexpected errors)."""
    logger = logging.getLogger("glasshouse.jobs")
    logger.addHandler(caplog.handler)  # serve's JSON logging may have stopped propagation to the root
    try:
        with caplog.at_level(logging.DEBUG, logger="glasshouse.jobs"):
            alpha, _ = orgs
            job = svc.jobs.submit(alpha, FAIL, {"what": "a corrupt clip"})
            assert wait_done(svc, alpha, job.id).status == JobStatus.FAILED
            wait_for(lambda: any(job.id in r.getMessage() for r in caplog.records))
    finally:
        logger.removeHandler(caplog.handler)
    # The same record may reach the handler twice (on the root too, where propagation is on).
    about = list({id(r): r for r in caplog.records if job.id in r.getMessage()}.values())
    assert all(r.levelno == logging.INFO and r.exc_info is None for r in about), about
    refused = [r.getMessage() for r in about if "refused" in r.getMessage()]
    assert len(refused) == 1 and "cannot process a corrupt clip" in refused[0]


def test_a_lapsed_lease_is_run_again_from_scratch_without_duplicates(
    svc: Services, orgs: tuple[str, str]
) -> None:
    alpha, _ = orgs
    job = svc.jobs.submit(alpha, COUNT, {"n": 5})
    executor = JobExecutor.from_services(svc)
    dead_owner = executor.claim(job.id)  # a worker claims it, writes a stray row, and dies
    assert dead_owner is not None and executor.claim(job.id) is None  # the lease excludes others
    with db.transaction(svc.sessions) as session:
        session.add(JobResult(job_id=job.id, seq=3, payload={"stale": True}))
    lapse_lease(svc, job.id)
    assert InProcessRunner(executor).run_pending() == 1
    done = svc.jobs.get(alpha, job.id)
    assert (done.status, done.attempts) == (JobStatus.SUCCEEDED, 2)
    assert all_results(svc, alpha, job.id) == expected(5)
    assert sorted(result_rows(svc, job.id)) == [1, 2, 3, 4, 5]
    # The dead worker comes back to life: its lease is gone, so it writes nothing.
    assert executor._succeed(job.id, dead_owner, [{"late": True}], {}) == Outcome.LEASE_LOST
    assert all_results(svc, alpha, job.id) == expected(5)


def test_a_job_whose_worker_keeps_dying_fails_with_a_reason(svc: Services, orgs: tuple[str, str]) -> None:
    alpha, _ = orgs
    job = svc.jobs.submit(alpha, COUNT, {"n": 1})
    executor = JobExecutor.from_services(svc)
    for _ in range(3):
        assert executor.claim(job.id) is not None
        lapse_lease(svc, job.id)
    assert executor.claim(job.id) is None  # attempts are spent
    assert executor.reap() == 1
    failed = svc.jobs.get(alpha, job.id)
    assert failed.status == JobStatus.FAILED
    assert failed.status_message == "worker lost after 3 attempts"


def test_a_live_runner_keeps_its_lease_past_the_lease_period(
    svc: Services, orgs: tuple[str, str], runner: InProcessRunner
) -> None:
    alpha, _ = orgs
    job = svc.jobs.submit(alpha, COUNT, {"n": 8, "delay": 0.3})  # 2.4 s, more than twice the lease
    executor = JobExecutor.from_services(svc)
    wait_for(lambda: svc.jobs.get(alpha, job.id).progress > 0)
    time.sleep(LEASE * 1.2)
    assert executor.claim(job.id) is None  # heartbeats kept it
    done = wait_done(svc, alpha, job.id)
    assert (done.status, done.attempts) == (JobStatus.SUCCEEDED, 1)


def test_stopping_the_runner_hands_a_running_job_back(svc: Services, orgs: tuple[str, str]) -> None:
    alpha, _ = orgs
    runner = InProcessRunner.start_for(svc)
    job = svc.jobs.submit(alpha, COUNT, {"n": 20, "delay": 0.05})
    wait_for(lambda: svc.jobs.get(alpha, job.id).progress > 0)
    runner.stop()
    back = svc.jobs.get(alpha, job.id)
    assert (back.status, back.attempts) == (JobStatus.IN_PROGRESS, 0)
    assert InProcessRunner(JobExecutor.from_services(svc)).run_pending() == 1
    assert all_results(svc, alpha, job.id) == expected(20)


def test_finished_jobs_are_purged_after_retention(svc: Services, orgs: tuple[str, str]) -> None:
    alpha, _ = orgs
    job = svc.jobs.submit(alpha, COUNT, {"n": 2})
    executor = JobExecutor.from_services(svc)
    assert executor.run(job.id) == Outcome.SUCCEEDED
    assert executor.run(job.id) == Outcome.NOT_CLAIMED
    assert executor.purge() == 0
    with db.transaction(svc.sessions) as session:
        session.execute(
            update(Job)
            .values(finished_at=db.utcnow() - timedelta(days=8))
            .execution_options(synchronize_session=False)
        )
    assert executor.purge() == 1
    with svc.sessions() as session:
        assert session.scalar(select(func.count()).select_from(JobResult)) == 0
    with pytest.raises(NotFoundError):
        svc.jobs.get(alpha, job.id)


def test_serve_runs_jobs_in_process_while_the_app_is_up(svc: Services, orgs: tuple[str, str]) -> None:
    from fastapi.testclient import TestClient

    from glasshouse.http.app import create_app

    alpha, _ = orgs
    with TestClient(create_app(services=svc)):
        job = svc.jobs.submit(alpha, COUNT, {"n": 4})
        assert wait_done(svc, alpha, job.id).status == JobStatus.SUCCEEDED
    assert all_results(svc, alpha, job.id) == expected(4)
