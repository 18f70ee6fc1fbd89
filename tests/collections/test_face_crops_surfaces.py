"""The crop opt-in on every surface that creates collections: the Rekognition API (a header, since tags
can be changed later and this choice cannot), REST and the CLI; each needs a reason and is audited."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError
from sqlalchemy import select
from typer.testing import CliRunner

from aws_clients import make_client
from glasshouse.audit.service import AuditFilter
from glasshouse.bench.live_server import live_server
from glasshouse.cli.main import app as cli_app
from glasshouse.collections.models import Face, FaceCrop
from glasshouse.config import Settings
from glasshouse.services import Services

REASON = "Reviewers compare enrolled faces by eye (DPIA 2026-14)."


def test_rekognition_and_rest_opt_in_with_a_reason(
    tmp_path: Path, model_cache_dir: Path, shared_data: Path
) -> None:
    data = tmp_path / "var"
    svc = Services(Settings(data_dir=data, model_cache_dir=model_cache_dir))
    key = svc.keys.create(svc.org_id("agency"))
    svc.close()
    photo = (shared_data / "face_recognition/examples/obama.jpg").read_bytes()
    with live_server(data, model_cache_dir, throttle_rate="0") as server:
        rek = make_client(server.url, key.access_key_id, key.secret, region="us-east-1")
        headers: dict[str, str] = {"X-Glasshouse-Keep-Face-Crops": REASON}

        def add(request, **_):  # type: ignore[no-untyped-def]
            for name, value in headers.items():
                request.headers[name] = value

        rek.meta.events.register("before-sign.rekognition.*", add)
        rek.create_collection(CollectionId="kept")
        headers = {"X-Glasshouse-Keep-Face-Crops": "  "}
        with pytest.raises(ClientError) as exc:
            rek.create_collection(CollectionId="no-reason")
        assert exc.value.response["Error"]["Code"] == "InvalidParameterException"
        headers = {}
        rek.create_collection(CollectionId="plain")
        for name in ("kept", "plain"):
            rek.index_faces(CollectionId=name, Image={"Bytes": photo})

        auth = {"Authorization": f"Bearer {key.access_key_id}:{key.secret}"}
        made = httpx.post(
            server.url + "/v1/collections",
            json={"name": "rest-kept", "retention_days": 30, "face_crops_reason": REASON},
            headers=auth,
        )
        assert made.status_code == 201 and made.json()["face_crops_kept"] is True
        refused = httpx.post(
            server.url + "/v1/collections", json={"name": "rest-bad", "face_crops_reason": ""}, headers=auth
        )
        assert refused.status_code == 400 and "reason" in refused.text
        plain = httpx.post(server.url + "/v1/collections", json={"name": "rest-plain"}, headers=auth)
        assert plain.status_code == 201 and plain.json()["face_crops_kept"] is False

    svc = Services(Settings(data_dir=data, model_cache_dir=model_cache_dir))
    try:
        org = svc.org_id("agency")
        names = {c.name: c for c in svc.collections.get_all(org)}  # the default region, us-east-1
        assert {n for n, c in names.items() if c.keeps_face_crops} == {"kept", "rest-kept"}
        assert names["kept"].face_crops_reason == REASON and "no-reason" not in names
        kept = names["kept"]
        with svc.sessions() as session:
            crops = session.execute(
                select(Face.collection_id).join(FaceCrop, FaceCrop.face_id == Face.id)
            ).all()
        assert [row[0] for row in crops] == [kept.id]  # the plain collection kept none
        entries = svc.audit.search(AuditFilter(action="collection.face_crops"))
        assert [(e.details["collection"], e.surface, e.actor_key) for e in entries] == [
            ("kept", "rekognition-api", key.access_key_id),
            ("rest-kept", "rest", key.access_key_id),
        ]
        assert all(e.details["reason"] == REASON for e in entries)
    finally:
        svc.close()


def test_the_cli_opts_in_with_a_reason(settings: Settings) -> None:
    runner = CliRunner()
    made = runner.invoke(cli_app, ["collection", "create", "kept", "--keep-face-crops", REASON])
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["face_crops_kept"] is True
    refused = runner.invoke(cli_app, ["collection", "create", "bad", "--keep-face-crops", " "])
    assert refused.exit_code != 0 and "reason" in refused.output
    plain = runner.invoke(cli_app, ["collection", "create", "plain", "--retention-days", "7"])
    assert plain.exit_code == 0 and json.loads(plain.output)["face_crops_kept"] is False
    svc = Services(settings)
    try:
        [entry] = svc.audit.search(AuditFilter(action="collection.face_crops"))
        assert entry.details["collection"] == "kept" and entry.details["reason"] == REASON
        plain_collection = svc.collections.get(svc.org_id(), "plain")
        assert plain_collection.retention_days == 7 and not plain_collection.keeps_face_crops
    finally:
        svc.close()


def test_bulk_enrolment_keeps_a_crop_for_every_face_it_enrols(settings: Settings, shared_data: Path) -> None:
    """`glasshouse index` analyses in worker processes; they make the crops, the parent seals them."""
    photos = shared_data / "face_recognition/examples"
    runner = CliRunner()
    assert (
        runner.invoke(cli_app, ["collection", "create", "bulk", "--keep-face-crops", REASON]).exit_code == 0
    )
    files = [str(photos / name) for name in ("obama.jpg", "biden.jpg", "obama2.jpg")]
    done = runner.invoke(cli_app, ["index", "bulk", *files, "--workers", "1"])
    assert done.exit_code == 0, done.output
    svc = Services(settings)
    try:
        faces = svc.collections.list_faces(svc.org_id(), "bulk")
        assert len(faces) == 3
        with svc.sessions() as session:
            crops = list(session.scalars(select(FaceCrop)))
        assert {c.face_id for c in crops} == {f.id for f in faces}
        for crop in crops:
            assert not crop.sealed.startswith(b"\xff\xd8")
            assert svc.collections.open_crop(crop).startswith(b"\xff\xd8")
    finally:
        svc.close()
