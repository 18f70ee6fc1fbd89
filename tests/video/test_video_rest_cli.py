"""Video jobs through ``/v1/video`` and ``glasshouse video``: start, poll and page results on the real
Hamilton clip, tenancy (another organisation's job is 404), failures with a clear message, and the police
moratorium on every surface."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from glasshouse.cli.video import appearances, video_app
from glasshouse.config import Settings
from glasshouse.governance.actor import Actor
from glasshouse.governance.policy import Capability
from glasshouse.http.app import create_app
from glasshouse.services import Services

SETUP = Actor(org_id="", org_name="test-setup", surface="cli", is_operator=True)


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path, shared_data: Path
) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("video-rest") / "var"
    settings = Settings(data_dir=data, model_cache_dir=model_cache_dir, throttle_rate=0)
    svc = Services(settings)
    headers, ids = {}, {}
    for name, sector in (("studio", "commercial"), ("other", "commercial"), ("police", "law_enforcement")):
        org = svc.organisations.create(SETUP, name, sector=sector)
        key = svc.keys.create(org.id)
        ids[name] = org.id
        headers[name] = {"Authorization": f"Bearer {key.access_key_id}:{key.secret}"}
        svc.collections.create(org.id, "cast")
    hamilton = shared_data / "video/hamilton"
    studio_id = ids["studio"]
    actor = Actor(org_id=studio_id, org_name="studio", surface="cli")
    with svc.gate.guard(actor, Capability.FACE_INDEX):
        for person in ("lin-manuel-miranda", "alex-lacamoire"):
            svc.collections.index_image(
                studio_id,
                "cast",
                (hamilton / f"{person}.png").read_bytes(),
                external_image_id=person,
                max_faces=1,
            )
    svc.close()
    with TestClient(create_app(settings)) as client:
        yield {
            "client": client,
            "headers": headers,
            "data": data,
            "clip": hamilton / "short_hamilton_clip.mp4",
        }


def _wait(client: TestClient, headers: dict[str, str], job_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/v1/video/jobs/{job_id}", headers=headers)
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        if job["status"] != "IN_PROGRESS":
            return job
        assert time.monotonic() < deadline, "job did not finish"
        time.sleep(0.3)


def test_appearances_merge_close_sightings() -> None:
    assert appearances([0, 200, 400, 3000, 3500, 400]) == [
        {"start_ms": 0, "end_ms": 400},
        {"start_ms": 3000, "end_ms": 3500},
    ]
    assert appearances([]) == []


@pytest.mark.slow
def test_rest_face_search_start_poll_and_page(world: dict[str, Any]) -> None:
    client, studio = world["client"], world["headers"]["studio"]
    put = client.put("/v1/media/hamilton.mp4", content=world["clip"].read_bytes(), headers=studio)
    assert put.status_code == 200, put.text
    body = {"video": "hamilton.mp4", "collection": "cast", "job_tag": "hamilton"}
    started = client.post("/v1/video/face-search", json=body, headers=studio)
    assert started.status_code == 202, started.text
    job_id = started.json()["job_id"]
    job = _wait(client, studio, job_id)
    assert job["status"] == "SUCCEEDED", job["status_message"]
    assert job["kind"] == "video.face_search" and job["job_tag"] == "hamilton" and job["progress"] == 100
    assert job["video_metadata"]["DurationMillis"] > 9000 and job["result_count"] > 0
    paged: list[dict[str, Any]] = []
    after: int | None = 0
    while after is not None:
        page = client.get(f"/v1/video/jobs/{job_id}/results?after={after}&limit=7", headers=studio).json()
        assert len(page["results"]) <= 7
        paged += page["results"]
        after = page["next_after"]
    assert len(paged) == job["result_count"]
    assert [p["Timestamp"] for p in paged] == sorted(p["Timestamp"] for p in paged)
    seen = {m["Face"]["ExternalImageId"] for p in paged for m in p["FaceMatches"]}
    assert seen == {"lin-manuel-miranda", "alex-lacamoire"}
    # Another organisation's job answers exactly like a missing one.
    other = world["headers"]["other"]
    for path in (f"/v1/video/jobs/{job_id}", f"/v1/video/jobs/{job_id}/results"):
        response = client.get(path, headers=other)
        assert response.status_code == 404, path
        assert response.json()["error"] == {"code": "NotFound", "message": f"job {job_id} not found"}
    missing = client.get("/v1/video/jobs/00000000-0000-0000-0000-000000000000", headers=studio)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NotFound"


def test_rest_detection_of_a_non_video_fails_clearly(world: dict[str, Any]) -> None:
    client, studio = world["client"], world["headers"]["studio"]
    client.put("/v1/media/notes.mp4", content=b"this is not a video at all" * 10, headers=studio)
    started = client.post("/v1/video/face-detection", json={"video": "notes.mp4"}, headers=studio)
    assert started.status_code == 202, started.text
    job = _wait(client, studio, started.json()["job_id"], timeout=60)
    assert job["status"] == "FAILED" and "not" in job["status_message"], job
    absent = client.post("/v1/video/face-detection", json={"video": "absent.mp4"}, headers=studio)
    assert absent.status_code == 404 and absent.json()["error"]["code"] == "MediaNotFound"


def test_rest_police_search_is_refused_under_the_moratorium(world: dict[str, Any]) -> None:
    client, police = world["client"], world["headers"]["police"]
    body = {"video": "anything.mp4", "collection": "cast", "purpose": "criminal_investigation"}
    response = client.post("/v1/video/face-search", json=body, headers=police)
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "AccessDenied"
    assert "police-moratorium-2020" in response.json()["error"]["message"]


def _cli(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, org: str, *args: str) -> Any:
    monkeypatch.setenv("GLASSHOUSE_DATA_DIR", str(world["data"]))
    monkeypatch.setenv("GLASSHOUSE_ORG", org)
    return CliRunner().invoke(video_app, list(args))


@pytest.mark.slow
def test_cli_video_search_says_who_appears_when(
    world: dict[str, Any], model_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLASSHOUSE_MODEL_CACHE_DIR", str(model_cache_dir))
    result = _cli(world, monkeypatch, "studio", "search", "cast", str(world["clip"]))
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout[result.stdout.index("{") :])
    assert out["status"] == "SUCCEEDED" and out["results"] > 0 and out["job_id"]
    lin = out["people"]["lin-manuel-miranda"]
    assert lin["best_similarity"] >= 80
    assert lin["appearances"][0]["start_ms"] < 648 and lin["appearances"][-1]["end_ms"] > 6148
    assert set(out["people"]) <= {"lin-manuel-miranda", "alex-lacamoire"}


def test_cli_video_detect_on_a_non_video_exits_1(
    world: dict[str, Any], model_cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLASSHOUSE_MODEL_CACHE_DIR", str(model_cache_dir))
    notes = tmp_path / "notes.txt"
    notes.write_text("meeting notes, certainly not a video\n")
    result = _cli(world, monkeypatch, "studio", "detect", str(notes))
    assert result.exit_code == 1, result.output
    assert "VideoJobFailed" in result.output and "not" in result.output.split("VideoJobFailed", 1)[1]


def test_cli_police_search_is_refused_and_uploads_nothing(
    world: dict[str, Any], model_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLASSHOUSE_MODEL_CACHE_DIR", str(model_cache_dir))
    result = _cli(world, monkeypatch, "police", "search", "cast", str(world["clip"]))
    assert result.exit_code == 1, result.output
    assert "AccessDenied" in result.output and "police-moratorium-2020" in result.output
    listing = world["client"].get("/v1/media", headers=world["headers"]["police"]).json()
    assert listing["objects"] == []


def test_the_cli_progress_bar_names_the_phase_and_the_outcome() -> None:
    from datetime import UTC, datetime

    from glasshouse.cli.video import phase
    from glasshouse.jobs.models import JobStatus
    from glasshouse.jobs.service import JobView

    def job(status: JobStatus, progress: int, message: str | None) -> JobView:
        fields = {name: None for name in JobView.__dataclass_fields__}
        now = datetime.now(UTC)
        fields.update(status=status, progress=progress, status_message=message, created_at=now)
        return JobView(**fields)  # type: ignore[arg-type]

    assert phase(job(JobStatus.IN_PROGRESS, 0, None)) == "queued"
    reading = "decoding and tracking faces: 40% of the video"
    assert phase(job(JobStatus.IN_PROGRESS, 35, reading)) == reading
    assert phase(job(JobStatus.SUCCEEDED, 100, None)) == "succeeded"
    assert phase(job(JobStatus.FAILED, 20, "not a video")) == "failed"
