"""`glasshouse index` killed with SIGKILL part-way, then rerun: every image enrolled exactly once."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
from sqlalchemy import func, select

from glasshouse.collections.models import Face
from glasshouse.config import Settings
from glasshouse.errors import NotFoundError
from glasshouse.services import Services

IMAGES = 60  # LFW, seed 8 (the first 60 of the 120 this test used to take; killed after 12)
BATCH = 4


def _env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env["GLASSHOUSE_DATA_DIR"] = str(settings.data_dir)
    env["GLASSHOUSE_MODEL_CACHE_DIR"] = str(settings.models_path)
    if settings.database_url:
        env["GLASSHOUSE_DATABASE_URL"] = settings.database_url
    return env


def _index_command(files: list[Path]) -> list[str]:
    options = ["--workers", "2", "--batch-size", str(BATCH)]
    return [sys.executable, "-m", "glasshouse", "index", "bulk", *map(str, files), *options]


def _faces_per_digest(svc: Services) -> dict[str, int]:
    with svc.sessions() as session:
        rows = session.execute(select(Face.image_sha256, func.count(Face.id)).group_by(Face.image_sha256))
        return {sha: int(n) for sha, n in rows}


def _count(svc: Services, org: str) -> int:
    try:
        return svc.collections.face_count(svc.collections.get(org, "bulk"))
    except NotFoundError:
        return 0


def test_kill_9_part_way_then_rerun_enrols_every_image_once(
    settings: Settings, shared_data: Path, tmp_path: Path
) -> None:
    lfw = sorted((shared_data / "lfw" / "lfw-deepfunneled").glob("*/*.jpg"))
    files = random.Random(8).sample(lfw, IMAGES)
    twin = tmp_path / "twin.jpg"  # the same bytes under another name are enrolled once
    shutil.copy(files[0], twin)
    files.append(twin)
    digests = {hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    env = _env(settings)
    svc = Services(settings)
    org = svc.org_id()  # created before the CLI looks it up
    try:
        proc = subprocess.Popen(
            _index_command(files), env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        workers: list[psutil.Process] = []
        deadline = time.monotonic() + 180
        while _count(svc, org) < 3 * BATCH:  # a few batches committed, most images not yet
            assert proc.poll() is None, "the run ended before it could be interrupted"
            assert time.monotonic() < deadline
            workers = psutil.Process(proc.pid).children(recursive=True) or workers
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        before = _count(svc, org)
        assert 0 < before < IMAGES, before
        assert workers, "no pool workers seen"
        _, alive = psutil.wait_procs(workers, timeout=15)  # pool workers follow their parent
        assert alive == []

        done = _faces_per_digest(svc)
        assert set(done) <= digests and set(done.values()) == {1}  # no image half-enrolled
        rerun = subprocess.run(_index_command(files), env=env, capture_output=True, timeout=600, check=True)
        report = json.loads(rerun.stdout)
        assert report["skipped_already_indexed"] == len(done) + 1  # + the twin of a file
        after = _faces_per_digest(svc)
        assert set(after.values()) == {1}, "an image was enrolled twice"
        assert set(done) <= set(after) <= digests
        assert report["images_indexed"] == len(after) - len(done)
        # Every distinct image is enrolled, or reported as having no face that passes the filter.
        assert len(after) + report["no_face"] + report["unreadable"] == len(digests)
        assert report["no_face"] <= 3 and report["unreadable"] == 0

        third = json.loads(
            subprocess.run(
                _index_command(files), env=env, capture_output=True, timeout=600, check=True
            ).stdout
        )
        assert third["images_indexed"] == 0 and third["skipped_already_indexed"] == len(after) + 1
        assert _faces_per_digest(svc) == after
    finally:
        svc.close()
