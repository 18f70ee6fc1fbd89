"""Release exports through ``/v1/redaction`` on a real cut of the hamilton clip: a face detection job names the
persons, an export keeps one of them (with the required reason) and runs as a job with progress; the copy
downloads streamed, its record says what was left visible and by whom, and the audit log has each step.
Then as an attacker: another organisation's media, copy and job, names that climb out, a bucket that is
not shared, malformed and huge bodies — each refused without creating anything."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from clip_cuts import cut
from glasshouse.audit.service import AuditFilter
from glasshouse.config import Settings
from glasshouse.http.app import create_app
from glasshouse.jobs.runner import JobContext
from glasshouse.redaction.exports import export
from glasshouse.services import Services
from glasshouse.video.decode import probe
from web_support import SETUP

NOBODY = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path, shared_data: Path
) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("redaction-rest") / "var"
    settings = Settings(data_dir=data, model_cache_dir=model_cache_dir, throttle_rate=0)
    svc = Services(settings)
    headers = {}
    for name in ("city", "other"):
        org = svc.organisations.create(SETUP, name, sector="other_government")
        key = svc.keys.create(org.id)
        headers[name] = {"Authorization": f"Bearer {key.access_key_id}:{key.secret}"}
    svc.close()
    clip = cut(
        shared_data / "video/hamilton/short_hamilton_clip.mp4",
        tmp_path_factory.mktemp("clip") / "door.mp4",
        1.0,
    )
    with TestClient(create_app(settings)) as client:
        for who in ("city", "other"):
            put = client.put("/v1/media/cams/door.mp4", content=clip.read_bytes(), headers=headers[who])
            assert put.status_code == 200, put.text
        yield {"client": client, "headers": headers, "clip": clip, "settings": settings}


def _wait(client: TestClient, path: str, headers: dict[str, str], seen: list[int]) -> dict[str, Any]:
    deadline = time.monotonic() + 240
    while True:
        response = client.get(path, headers=headers)
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        seen.append(int(job["progress"]))
        if job["status"] != "IN_PROGRESS":
            return job
        assert time.monotonic() < deadline, "job did not finish"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def exported(world: dict[str, Any]) -> dict[str, Any]:
    """An export keeping the first person a job on the clip would index (Person.Index 0: a person the
    redaction does not find in the clip is refused, so the job succeeding shows it was one)."""
    client, city = world["client"], world["headers"]["city"]
    body = {
        "source": {"name": "cams/door.mp4"},
        "method": "box",
        "keep_persons": [0],
        "reason": "the suspect: released to ask the public who he is",
        "job_tag": "appeal",
    }
    started = client.post("/v1/redaction/exports", json=body, headers=city)
    assert started.status_code == 202, started.text
    progress: list[int] = []
    job = _wait(client, f"/v1/redaction/exports/{started.json()['job_id']}", city, progress)
    return {"job": job, "progress": progress, "kept": 0}


def test_an_export_runs_as_a_job_and_its_copy_downloads_with_its_record(
    world: dict[str, Any], exported: dict[str, Any]
) -> None:
    client, city, job = world["client"], world["headers"]["city"], exported["job"]
    assert job["status"] == "SUCCEEDED", job["status_message"]
    assert (
        job["progress"] == 100 and job["job_tag"] == "appeal" and job["source"] == {"name": "cams/door.mp4"}
    )
    copy_id = job["copy_id"]
    assert job["download"] == f"/v1/redaction/copies/{copy_id}/content"
    response = client.get(job["download"], headers=city)
    assert response.status_code == 200 and response.headers["content-type"] == "video/mp4"
    body = response.content
    original = world["clip"].read_bytes()
    assert body != original and response.headers["x-glasshouse-sha256"] == hashlib.sha256(body).hexdigest()
    assert response.headers["x-glasshouse-original-sha256"] == hashlib.sha256(original).hexdigest()
    out = world["clip"].parent / "copy.mp4"
    out.write_bytes(body)
    assert probe(out).frame_count == probe(world["clip"]).frame_count
    record = client.get(f"/v1/redaction/copies/{copy_id}", headers=city).json()
    assert record["purpose"] == "release" and record["sha256"] == hashlib.sha256(body).hexdigest()
    assert record["source_sha256"] == hashlib.sha256(original).hexdigest()
    assert record["kept_persons"] == [exported["kept"]] and record["settings"]["method"] == "box"
    assert record["reason"] == "the suspect: released to ask the public who he is"
    assert record["made_by"].startswith("key:") and "CenterFace" in record["engine"]
    listed = client.get("/v1/redaction/copies", headers=city).json()["copies"]
    assert [c["id"] for c in listed] == [copy_id]


def test_each_step_is_audited_through_the_gate(world: dict[str, Any], exported: dict[str, Any]) -> None:
    """Submitted under the gate (the job's id noted), run under it again as the requester, and the copy's own
    change entry holds both digests and the reason."""
    client, city = world["client"], world["headers"]["city"]
    copy = client.get(f"/v1/redaction/copies/{exported['job']['copy_id']}", headers=city).json()
    svc = Services(world["settings"])
    try:
        entries = svc.audit.search(AuditFilter(action="media.redact"))
        [made] = svc.audit.search(AuditFilter(action="redaction.copy"))
    finally:
        svc.close()
    details = [e.details for e in entries if e.decision == "allow"]
    job_id = exported["job"]["job_id"]
    assert any(d.get("job_id") == job_id and d.get("kept") == [exported["kept"]] for d in details)
    # the job's own pass (its entry joins its first write, so it names the job and the original)
    ran = [d for d in details if d.get("job_id") == job_id and "kept" not in d]
    assert len(ran) == 1 and ran[0]["source_sha256"] == copy["source_sha256"]
    assert any(d.get("copy_id") == copy["id"] for d in details)  # reading the record
    assert made.details["copy_id"] == copy["id"] and made.details["purpose"] == "release"
    assert made.details["reason"] == copy["reason"] and made.details["sha256"] == copy["sha256"]
    assert made.details["source_sha256"] == copy["source_sha256"]


def test_kept_persons_need_a_reason_and_bad_settings_are_refused(world: dict[str, Any]) -> None:
    client, city = world["client"], world["headers"]["city"]
    source = {"name": "cams/door.mp4"}
    cases = [
        ({"source": source, "keep_persons": [0]}, 400, "reason"),
        ({"source": source, "keep_persons": [0], "reason": "   "}, 400, "reason"),
        ({"source": source, "method": "pixelate"}, 400, "blur or box"),
        ({"source": source, "keep_persons": [-1], "reason": "x"}, 400, "Person.Index"),
        ({"source": source, "keep_persons": list(range(101)), "reason": "x"}, 422, ""),
        ({"source": source, "padding": 9}, 422, ""),
    ]
    for body, status, words in cases:
        response = client.post("/v1/redaction/exports", json=body, headers=city)
        assert response.status_code == status, (body, response.text)
        assert words in response.text


def test_an_attacker_reaches_nothing_of_another_organisation(
    world: dict[str, Any], exported: dict[str, Any]
) -> None:
    client, other = world["client"], world["headers"]["other"]
    copy_id, job_id = exported["job"]["copy_id"], exported["job"]["job_id"]
    for path in (
        f"/v1/redaction/copies/{copy_id}",
        f"/v1/redaction/copies/{copy_id}/content",
        f"/v1/redaction/exports/{job_id}",
    ):
        response = client.get(path, headers=other)
        assert response.status_code == 404, (path, response.text)
        missing = client.get(path.replace(copy_id, NOBODY).replace(job_id, NOBODY), headers=other)
        # exactly the answer for an id that does not exist: nothing says the copy or job is there
        assert response.text == missing.text.replace(NOBODY, copy_id if copy_id in path else job_id)
    assert client.get("/v1/redaction/copies", headers=other).json() == {"copies": []}
    # city's clip by its bucket (city's organisation name), a bucket that is not shared, climbing names
    for source, status in (
        ({"name": "cams/door2.mp4"}, 404),
        ({"name": "cams/door.mp4", "bucket": "city"}, 404),
        ({"name": "cams/door.mp4", "bucket": "portal-shared"}, 404),
        ({"name": "../city/cams/door.mp4"}, 400),
        ({"name": "cams/../../etc/passwd"}, 400),
        ({"name": "/etc/passwd"}, 400),
    ):
        body = {"source": source}
        response = client.post("/v1/redaction/exports", json=body, headers=other)
        assert response.status_code == status, (source, response.text)
    bad_copy = {"source": {"name": "cams/door.mp4"}, "copy_name": "../../x.mp4"}
    assert client.post("/v1/redaction/exports", json=bad_copy, headers=other).status_code == 400
    # a video job id is not an export; a made-up copy id is not a copy
    assert client.get("/v1/redaction/copies/../../v1/media", headers=other).status_code == 404
    assert client.get("/v1/redaction/copies/nope/content", headers=other).status_code == 404


def test_malformed_and_huge_bodies_are_refused(world: dict[str, Any]) -> None:
    client, city = world["client"], world["headers"]["city"]
    headers = {**city, "Content-Type": "application/json"}
    assert client.post("/v1/redaction/exports", content=b"{not json", headers=headers).status_code in (
        400,
        422,
    )
    assert client.post("/v1/redaction/exports", json=["a"], headers=city).status_code in (400, 422)
    huge = b'{"source": {"name": "cams/door.mp4"}, "reason": "' + b"x" * (20 << 20) + b'"}'
    response = client.post("/v1/redaction/exports", content=huge, headers=headers)
    assert response.status_code == 413, response.text[:200]


def test_a_rerun_of_the_job_after_a_lost_worker_finds_its_copy_instead_of_making_another(
    world: dict[str, Any], exported: dict[str, Any]
) -> None:
    """The runner runs a job again when its worker's lease lapsed; the copy the first run stored (named
    after the job) is its result, not a second copy."""
    client, city = world["client"], world["headers"]["city"]
    job_id = exported["job"]["job_id"]
    copy = client.get(f"/v1/redaction/copies/{exported['job']['copy_id']}", headers=city).json()
    assert copy["name"] == f"release/{job_id}.mp4"
    svc = Services(world["settings"])
    try:
        job = svc.jobs.get(copy_org(svc), job_id)
        ctx = JobContext(job=job, services=svc, _report=lambda percent, message: None)
        [again] = list(export(ctx, job))
        assert again["copy_id"] == copy["id"] and ctx.summary["copy_id"] == copy["id"]
        assert len(svc.redacted_copies.list_for_org(job.org_id)) == 1
    finally:
        svc.close()


def copy_org(svc: Services) -> str:
    return svc.organisations.get("city").id
