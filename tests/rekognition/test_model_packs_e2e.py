"""One server, two face models: a dlib collection and a MobileFaceNet collection, each chosen through
unmodified boto3 (the ``glasshouse:face-model`` tag), each indexing and searching with its own model and
answering with its own FaceModelVersion; faces of one model are never mixed into the other's collection."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from aws_clients import make_client
from glasshouse.bench.live_server import live_server
from glasshouse.collections.service import ImageMeta
from glasshouse.config import Settings
from glasshouse.engine.models import DLIB, MOBILEFACENET
from glasshouse.errors import EmbeddingDimensionError, ModelMismatchError
from glasshouse.faces.service import FaceAnalyser
from glasshouse.services import Services

pytestmark = pytest.mark.slow

#: The live server's URL and the organisation's Bearer credentials, for the native REST API.
REST: dict[str, str] = {}


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path, mobilefacenet_tarball: Path
) -> Iterator[tuple[Any, Path]]:
    data = tmp_path_factory.mktemp("packs-e2e") / "var"
    svc = Services(Settings(data_dir=data, model_cache_dir=model_cache_dir))
    svc.model_packs.install("mobilefacenet", svc.cli_actor(), source=mobilefacenet_tarball, accepted=True)
    key = svc.keys.create(svc.org_id("acme"))
    svc.close()
    with live_server(data, model_cache_dir, throttle_rate="0") as srv:
        REST.update(url=srv.url, auth=f"Bearer {key.access_key_id}:{key.secret}")
        yield make_client(srv.url, key.access_key_id, key.secret), data


def _photo(shared_data: Path, name: str, n: int) -> bytes:
    return (shared_data / "lfw/lfw-deepfunneled" / name / f"{name}_{n:04d}.jpg").read_bytes()


def test_each_collection_answers_with_its_own_model(world: tuple[Any, Path], shared_data: Path) -> None:
    rek, _ = world
    expected = {"on-dlib": DLIB.model_version(), "on-mfn": MOBILEFACENET.model_version()}
    made = rek.create_collection(CollectionId="on-dlib")
    assert made["FaceModelVersion"] == expected["on-dlib"]
    made = rek.create_collection(CollectionId="on-mfn", Tags={"glasshouse:face-model": "mobilefacenet"})
    assert made["FaceModelVersion"] == expected["on-mfn"]
    for cid, version in expected.items():
        assert rek.describe_collection(CollectionId=cid)["FaceModelVersion"] == version
        for n, person in ((1, "Colin_Powell"), (1, "George_W_Bush")):
            indexed = rek.index_faces(
                CollectionId=cid, Image={"Bytes": _photo(shared_data, person, n)}, ExternalImageId=person
            )
            assert indexed["FaceModelVersion"] == version
            assert len(indexed["FaceRecords"]) == 1
        found = rek.search_faces_by_image(
            CollectionId=cid, Image={"Bytes": _photo(shared_data, "Colin_Powell", 2)}, FaceMatchThreshold=80
        )
        assert found["FaceModelVersion"] == version
        assert [m["Face"]["ExternalImageId"] for m in found["FaceMatches"]] == ["Colin_Powell"]
        face_id = found["FaceMatches"][0]["Face"]["FaceId"]
        by_id = rek.search_faces(CollectionId=cid, FaceId=face_id, FaceMatchThreshold=99)
        assert by_id["FaceModelVersion"] == version and by_id["FaceMatches"] == []
    listed = rek.list_collections()
    assert dict(zip(listed["CollectionIds"], listed["FaceModelVersions"], strict=True)) == expected


def test_a_model_not_installed_is_a_clear_error(world: tuple[Any, Path]) -> None:
    rek, _ = world
    with pytest.raises(ClientError) as caught:
        rek.create_collection(CollectionId="on-nothing", Tags={"glasshouse:face-model": "sface"})
    error = caught.value.response["Error"]
    assert error["Code"] == "ModelNotInstalledException"
    assert "sface" in error["Message"]
    for sneaky in ("../model-packs/mobilefacenet", ".hidden", "a/b"):  # no path outside the pack folder
        with pytest.raises(ClientError) as caught:
            rek.create_collection(CollectionId="on-nothing", Tags={"glasshouse:face-model": sneaky})
        assert caught.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "on-nothing" not in rek.list_collections()["CollectionIds"]


def test_faces_of_another_model_are_refused(
    world: tuple[Any, Path], model_cache_dir: Path, shared_data: Path
) -> None:
    rek, data = world
    rek.create_collection(CollectionId="mix", Tags={"glasshouse:face-model": "mobilefacenet"})
    svc = Services(Settings(data_dir=data, model_cache_dir=model_cache_dir))
    try:
        org = svc.org_id("acme")
        collection = svc.collections.get(org, "mix", region="eu-west-2")
        engine = svc.face_models.analyser("dlib").engine
        dlib = FaceAnalyser(engine, max_image_bytes=10**7, max_image_pixels=10**8, enforce_gate=False)
        image = dlib.analyse(_photo(shared_data, "Colin_Powell", 1))
        meta = ImageMeta(image.width, image.height, image.sha256)
        with pytest.raises(ModelMismatchError, match="cannot be mixed"):
            svc.collections.add_images(
                collection, [(meta, image.faces[:1], "x")], model_version=dlib.engine.model_version
            )
        with pytest.raises(EmbeddingDimensionError, match="192"):  # a mislabelled batch: caught by its width
            svc.collections.add_images(
                collection, [(meta, image.faces[:1], "x")], model_version=collection.face_model_version
            )
    finally:
        svc.close()
    assert rek.list_faces(CollectionId="mix")["Faces"] == []


def test_the_rest_api_creates_a_collection_on_a_chosen_model(world: tuple[Any, Path]) -> None:
    headers = {"Authorization": REST["auth"]}
    made = httpx.post(
        REST["url"] + "/v1/collections", json={"name": "rest-mfn", "model": "mobilefacenet"}, headers=headers
    )
    assert made.status_code == 201, made.text
    assert made.json()["face_model_version"] == MOBILEFACENET.model_version()
    default = httpx.post(REST["url"] + "/v1/collections", json={"name": "rest-default"}, headers=headers)
    assert default.json()["face_model_version"] == DLIB.model_version()
    missing = httpx.post(
        REST["url"] + "/v1/collections", json={"name": "rest-x", "model": "nope"}, headers=headers
    )
    assert 400 <= missing.status_code < 500 and "nope" in missing.text
    again = httpx.post(REST["url"] + "/v1/collections", json={"name": "rest-x"}, headers=headers)
    assert again.status_code == 201  # the refused create left nothing behind
