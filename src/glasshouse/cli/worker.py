"""``glasshouse worker``: run background jobs from the Redis broker (``job_backend=celery``)."""

from __future__ import annotations

from typing import Annotated

import typer

from glasshouse.config import Settings


def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Jobs run at once (default: GLASSHOUSE_JOB_WORKERS, else 1).")
    ] = None,
    pool: Annotated[
        str, typer.Option(help="Celery pool: threads (the engine releases the GIL) or solo.")
    ] = "threads",
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
) -> None:
    """Run queued jobs (video analysis) for the celery job backend, with GLASSHOUSE_REDIS_URL as broker.
    Jobs are leased: start as many workers as you like, and restart them at will."""
    from glasshouse.jobs.celery_app import run_worker

    settings = Settings()
    if not settings.redis_url:
        typer.echo("error: set GLASSHOUSE_REDIS_URL (e.g. redis://localhost:6379/0)", err=True)
        raise typer.Exit(2)
    if pool not in ("threads", "solo"):
        typer.echo("error: --pool must be threads or solo", err=True)
        raise typer.Exit(2)
    run_worker(settings, concurrency=concurrency or settings.job_workers, pool=pool, loglevel=loglevel)


if __name__ == "__main__":
    typer.run(worker)
