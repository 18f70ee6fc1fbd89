"""Job kinds for the job tests, imported by the test process and by `glasshouse worker` subprocesses
(GLASSHOUSE_JOB_MODULES='["jobs.job_kinds"]' with tests/ on the path)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from glasshouse.errors import InvalidParameterError
from glasshouse.jobs import JobContext, JobView, register

COUNT = "test.count"
FAIL = "test.fail"


def count(ctx: JobContext, job: JobView) -> Iterator[dict[str, Any]]:
    """``n`` results, sleeping ``delay`` seconds before each and reporting progress after it."""
    n, delay = int(job.params["n"]), float(job.params.get("delay", 0.0))
    ctx.summary["n"] = n
    for i in range(n):
        time.sleep(delay)
        yield {"i": i, "square": i * i, "label": f"item-{i}"}
        ctx.progress(100 * (i + 1) / n, f"{i + 1} of {n}")


def fail(ctx: JobContext, job: JobView) -> Iterator[dict[str, Any]]:
    yield {"partial": True}
    raise InvalidParameterError(f"cannot process {job.params['what']}")


register(COUNT, count)
register(FAIL, fail)
