"""Bulk enrolment benchmark: ``glasshouse index`` (``collections.bulk``) with 1, 2, ... worker processes on
the same images, each run into a fresh collection in a throwaway data directory.

A run's enrolments per second count every image enrolled over the run's wall time, pool start and model
loading included (that is what an operator waits for); ``steady_per_s`` leaves out the time until the first
image came back (the workers' start), which is what a 100,000-image run approaches.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from glasshouse.collections.bulk import bulk_index
from glasshouse.config import Settings
from glasshouse.governance.policy import Capability
from glasshouse.services import Services

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class IndexRun:
    workers: int
    files: int
    images_indexed: int
    no_face: int
    wall_s: float
    startup_s: float
    load_average_1m: float

    @property
    def per_s(self) -> float:
        return self.images_indexed / self.wall_s if self.wall_s else 0.0

    @property
    def steady_per_s(self) -> float:
        steady = self.wall_s - self.startup_s
        return (self.files - 1) / steady if steady > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "enrolments_per_s": round(self.per_s, 2),
            "steady_files_per_s": round(self.steady_per_s, 2),
            "wall_s": round(self.wall_s, 2),
            "startup_s": round(self.startup_s, 2),
        }


def run_once(
    paths: Sequence[Path],
    workers: int,
    model_cache_dir: Path,
    *,
    batch_size: int = 64,
    progress: Progress | None = None,
) -> IndexRun:
    """Enrol ``paths`` with ``workers`` processes into a new collection on a throwaway SQLite database."""
    with tempfile.TemporaryDirectory(prefix="glasshouse-bench-index-") as tmp:
        # Never the configured database: a benchmark must not enrol into an operator's real collections.
        settings = Settings(data_dir=Path(tmp) / "var", model_cache_dir=model_cache_dir, database_url=None)
        svc = Services(settings)
        try:
            actor = svc.cli_actor()
            collection = svc.collections.create(actor.org_id, "bench")
            first: list[float] = []

            def tick(n: int) -> None:
                if not first:
                    first.append(time.perf_counter())
                if progress:
                    progress(n)

            with svc.gate.guard(actor, Capability.FACE_INDEX):
                start = time.perf_counter()
                report = bulk_index(
                    svc.collections,
                    settings,
                    collection,
                    list(paths),
                    workers=workers,
                    batch_size=batch_size,
                    progress=tick,
                )
                wall = time.perf_counter() - start
        finally:
            svc.close()
    return IndexRun(
        workers=workers,
        files=report.files,
        images_indexed=report.images_indexed,
        no_face=report.no_face,
        wall_s=wall,
        startup_s=(first[0] - start) if first else wall,
        load_average_1m=round(os.getloadavg()[0], 2),
    )
