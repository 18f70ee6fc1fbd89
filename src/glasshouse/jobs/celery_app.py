"""The Celery backend: a Redis broker carries job ids; ``glasshouse worker`` runs them with the same
claim-and-lease code as the in-process runner, so a redelivered or duplicated message is harmless.

Messages are JSON (Celery refuses pickle as root, and job ids need nothing more), acknowledged late
and rejected when the worker dies, one prefetched at a time. The broker is not the source of truth:
each worker also sweeps the jobs table and republishes claimable jobs that went unpublished or whose
worker died for a lease period, and fails those that ran out of attempts.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from celery import Celery

from glasshouse.config import Settings
from glasshouse.jobs.runner import PURGE_EVERY, JobExecutor
from glasshouse.services import Services

log = logging.getLogger("glasshouse.jobs")

TASK_NAME = "glasshouse.jobs.run"
QUEUE = "glasshouse.jobs"
#: Publishing gives up quickly when the broker is down: the worker sweep republishes the job later.
RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1.0}


def make_celery(settings: Settings, executor: JobExecutor | None = None) -> Celery:
    """A Celery app on ``settings.redis_url``; with ``executor``, it also runs the job task."""
    if not settings.redis_url:
        raise ValueError("GLASSHOUSE_REDIS_URL must be set for the celery job backend")
    app = Celery("glasshouse", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=QUEUE,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        # Redelivery of unacknowledged messages is the sweep's job (it knows leases); this only bounds
        # how long a message whose worker died lingers unacknowledged in Redis.
        broker_transport_options={"visibility_timeout": max(3600.0, 4 * settings.job_lease_seconds)},
    )
    if executor is not None:
        run = executor.run

        @app.task(name=TASK_NAME, ignore_result=True)  # type: ignore[untyped-decorator]
        def run_job(job_id: str) -> str:
            return str(run(job_id))

    return app


def publish(app: Celery, job_id: str) -> None:
    app.send_task(TASK_NAME, args=[job_id], queue=QUEUE, retry=True, retry_policy=RETRY_POLICY)


class CeleryDispatcher:
    """Publishes new jobs from the process that accepts them (``glasshouse serve``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._app: Celery | None = None
        self._lock = threading.Lock()

    def __call__(self, job_id: str) -> None:
        with self._lock:
            if self._app is None:
                self._app = make_celery(self.settings)
        publish(self._app, job_id)


class Sweeper(threading.Thread):
    """Every poll interval: fail exhausted jobs, purge old ones, republish due jobs."""

    def __init__(self, executor: JobExecutor, app: Celery, every: float) -> None:
        super().__init__(name="glasshouse-job-sweeper", daemon=True)
        self.executor, self.app, self.every = executor, app, every
        self.stopped = threading.Event()

    def run(self) -> None:
        next_purge = 0.0
        while True:
            try:
                self.executor.reap()
                if time.monotonic() >= next_purge:
                    self.executor.purge()
                    next_purge = time.monotonic() + PURGE_EVERY
                for job_id in self.executor.due_for_dispatch():
                    log.info("republishing job %s (unclaimed or its worker was lost)", job_id)
                    publish(self.app, job_id)
                self.executor.deliver()  # video job notifications that are due
            except Exception:
                log.exception("job sweep failed; retrying at the next interval")
            if self.stopped.wait(self.every):
                return


def run_worker(
    settings: Settings, *, concurrency: int, pool: str = "threads", loglevel: str = "INFO"
) -> None:
    """Run a Celery worker for the jobs queue in this process until it is stopped."""
    services = Services(settings)
    executor = JobExecutor.from_services(services)
    app = make_celery(settings, executor)
    sweeper = Sweeper(executor, app, settings.job_poll_seconds)
    sweeper.start()
    argv: list[Any] = [
        "worker",
        f"--loglevel={loglevel}",
        f"--concurrency={concurrency}",
        f"--pool={pool}",
        f"--queues={QUEUE}",
        "--without-gossip",
        "--without-mingle",
        f"--hostname=glasshouse-{os.getpid()}@%h",
    ]
    try:
        app.worker_main(argv=argv)
    finally:
        sweeper.stopped.set()
        services.close()
