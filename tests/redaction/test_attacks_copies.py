"""Stored redacted copies tried as an attacker, over REST on a real redacted cut of the hamilton clip: a copy's
bytes can never be swapped (an upload by the copy's name, REST or the domain, is refused and the copy still
downloads as recorded), another organisation reaches neither the copy nor its object by any name, and an
export cannot take over an existing object's name. SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from clip_cuts import cut
from glasshouse.config import Settings
from glasshouse.errors import AlreadyExistsError
from glasshouse.governance.actor import Actor
from glasshouse.governance.policy import Capability
from glasshouse.http.app import create_app
from glasshouse.redaction import RedactionSettings
from glasshouse.redaction.copies import CopyView
from glasshouse.services import Services
from web_support import PASSWORD, SETUP, cheap_hashes, csrf_of, signed_in

NOBODY = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path, shared_data: Path
) -> Iterator[dict[str, Any]]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("copies-attack") / "var",
        model_cache_dir=model_cache_dir,
        throttle_rate=0,
    )
    svc = Services(settings)
    headers, actors = {}, {}
    for name in ("city", "other"):
        org = svc.organisations.create(SETUP, name, sector="other_government")
        key = svc.keys.create(org.id)
        headers[name] = {"Authorization": f"Bearer {key.access_key_id}:{key.secret}"}
        actors[name] = Actor(org_id=org.id, org_name=name, surface="rest", key_id=key.access_key_id)
    clip = cut(
        shared_data / "video/hamilton/short_hamilton_clip.mp4",
        tmp_path_factory.mktemp("clip") / "door.mp4",
        0.5,
    )
    city = actors["city"]
    svc.media.upload(city, "cams/door.mp4", [clip.read_bytes()], "video/mp4")
    with svc.gate.guard(city, Capability.MEDIA_REDACT):
        copy = svc.redacted_copies.make(
            city,
            source_org_id=city.org_id,
            source_name="cams/door.mp4",
            settings=RedactionSettings(),
            purpose="release",
            copy_name="release/door-redacted.mp4",
        )
    client = TestClient(create_app(services=svc))
    yield {"svc": svc, "client": client, "headers": headers, "actors": actors, "clip": clip, "copy": copy}
    svc.close()


def _downloaded(world: dict[str, Any], copy: CopyView) -> bytes:
    got = world["client"].get(f"/v1/redaction/copies/{copy.id}/content", headers=world["headers"]["city"])
    assert got.status_code == 200, got.text
    assert got.headers["X-Glasshouse-SHA256"] == copy.sha256
    return got.content


def test_a_copys_bytes_cannot_be_replaced_by_uploading_under_its_name(world: dict[str, Any]) -> None:
    """Before: PUT /v1/media/<the copy's name> repointed the copy's object at the uploaded bytes (the
    unredacted original, say) while its record, and the download's X-Glasshouse-SHA256, still claimed the
    redacted copy."""
    client, svc, copy = world["client"], world["svc"], world["copy"]
    original = world["clip"].read_bytes()
    city = world["headers"]["city"]
    for name in (copy.name, copy.name.replace("/", "%2F")):
        put = client.put(f"/v1/media/{name}", content=original, headers={**city, "Content-Type": "video/mp4"})
        assert put.status_code == 409, put.text
        assert put.json()["error"]["code"] == "AlreadyExists" and "redacted copy" in put.text
    with pytest.raises(AlreadyExistsError):  # every surface (UI, S3 PutObject, multipart, CLI) lands here
        svc.media.upload(world["actors"]["city"], copy.name, [original], "video/mp4")
    data = _downloaded(world, copy)
    assert hashlib.sha256(data).hexdigest() == copy.sha256 != hashlib.sha256(original).hexdigest()
    assert svc.media.get(copy.org_id, copy.name).sha256 == copy.sha256
    # Deleting it stays possible (audited; the record goes with it): only swapping the bytes is refused.


def test_another_organisation_reaches_no_copy_by_any_name(world: dict[str, Any]) -> None:
    client, copy = world["client"], world["copy"]
    other = world["headers"]["other"]
    for path in (
        f"/v1/redaction/copies/{copy.id}",
        f"/v1/redaction/copies/{copy.id}/content",
        f"/v1/media/{copy.name}",
    ):
        got = client.get(path, headers=other)
        missing = client.get(
            path.replace(copy.id, NOBODY).replace(copy.name, "release/nothing.mp4"), headers=other
        )
        assert got.status_code == missing.status_code == 404, path
        assert got.json()["error"]["code"] == missing.json()["error"]["code"]
    assert client.delete(f"/v1/media/{copy.name}", headers=other).status_code == 404
    assert client.put(f"/v1/media/{copy.name}", content=b"x", headers=other).status_code == 200  # its own
    assert client.get("/v1/redaction/copies", headers=other).json() == {"copies": []}
    assert _downloaded(world, copy)  # city's copy untouched
    client.delete(f"/v1/media/{copy.name}", headers=other)


@pytest.mark.parametrize("copy_name", ["release/door-redacted.mp4", "cams/door.mp4"])
def test_an_export_cannot_take_over_an_existing_objects_name(world: dict[str, Any], copy_name: str) -> None:
    client, svc = world["client"], world["svc"]
    city = world["headers"]["city"]
    before = len(svc.jobs.list(world["actors"]["city"].org_id))
    body = {"source": {"name": "cams/door.mp4"}, "copy_name": copy_name}
    got = client.post("/v1/redaction/exports", json=body, headers=city)
    # Refused at once, or its job fails: either way the object keeps its bytes and no copy is added.
    assert got.status_code in (202, 409), got.text
    assert len(svc.redacted_copies.list_for_org(world["actors"]["city"].org_id)) == 1
    assert _downloaded(world, world["copy"])
    assert len(svc.jobs.list(world["actors"]["city"].org_id)) <= before + 1


def test_the_redaction_pages_answer_another_organisations_ids_like_missing_ones(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    cheap_hashes(monkeypatch)
    svc, client, copy = world["svc"], world["client"], world["copy"]
    started = client.post(
        "/v1/redaction/exports", json={"source": {"name": "cams/door.mp4"}}, headers=world["headers"]["city"]
    )
    assert started.status_code == 202, started.text
    job_id = started.json()["job_id"]
    other = world["actors"]["other"]
    svc.people.create(
        SETUP,
        svc.organisations.get_by_id(other.org_id),
        "eve@other.example",
        "Eve",
        PASSWORD,
        ["investigator"],
    )
    eve = signed_in(client.app, "eve@other.example")  # type: ignore[arg-type]
    for path, real in (
        ("/ui/redaction/copies/{}", copy.id),
        ("/ui/redaction/copies/{}/download", copy.id),
        ("/ui/redaction/jobs/{}", job_id),
    ):
        theirs, missing = eve.get(path.format(real)), eve.get(path.format(NOBODY))
        assert theirs.status_code == missing.status_code == 404, path
        assert theirs.text.replace(real, NOBODY) == missing.text, path
    index = eve.get("/ui/redaction/").text
    assert copy.id not in index and job_id not in index and "cams/door.mp4" not in index
    # Exporting city's clip by name from the page: like a clip that does not exist, and nothing queued.
    token = csrf_of(index)
    jobs_before = len(svc.jobs.list(other.org_id))
    tried = eve.post(
        "/ui/redaction/exports", data={"csrf_token": token, "video": "cams/door.mp4", "method": "blur"}
    )
    assert tried.status_code == 404 and len(svc.jobs.list(other.org_id)) == jobs_before
