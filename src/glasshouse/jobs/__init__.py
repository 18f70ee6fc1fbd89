"""Durable background jobs (video analysis): submitted through :class:`JobService`, run under a lease
by threads in ``glasshouse serve`` (``job_backend=inprocess``) or by ``glasshouse worker`` processes fed
by Redis (``job_backend=celery``). Job kinds are registered with :func:`register`."""

from glasshouse.idempotency.service import IdempotentParameterMismatchError
from glasshouse.jobs.models import JobStatus
from glasshouse.jobs.runner import InProcessRunner, JobContext, JobExecutor, LeaseLostError, Outcome
from glasshouse.jobs.service import (
    Handler,
    JobService,
    JobView,
    ResultsPage,
    handler_for,
    load_job_modules,
    register,
    registered_kinds,
)

__all__ = [
    "Handler",
    "IdempotentParameterMismatchError",
    "InProcessRunner",
    "JobContext",
    "JobExecutor",
    "JobService",
    "JobStatus",
    "JobView",
    "LeaseLostError",
    "Outcome",
    "ResultsPage",
    "handler_for",
    "load_job_modules",
    "register",
    "registered_kinds",
]
