"""What code written for Amazon Rekognition relies on, with unmodified boto3 against a live server:
idempotent IndexFaces (also under concurrency), reasons inside the service model's enum, regional
collections, Glasshouse's model identifier as FaceModelVersion, AWS's error wording and body.

Every response is also checked against botocore's output shapes, enums included (conftest's autouse fixture).
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from aws_clients import make_client, raises
from aws_clients import raw_post as _raw_post
from glasshouse.rekognition.errors import IMAGE_TOO_LARGE_MESSAGE
from glasshouse.rekognition.shapes import unindexed_reasons
from glasshouse.rekognition.validation import validate_response

MODEL_VERSION = "glasshouse-centerface1-lm5-dlibresnet1"


@pytest.fixture(scope="module")
def obama(shared_data: Path) -> bytes:
    return (shared_data / "face_recognition" / "examples" / "obama.jpg").read_bytes()


@pytest.fixture(scope="module")
def two_people(shared_data: Path) -> bytes:
    return (shared_data / "face_recognition" / "examples" / "two_people.jpg").read_bytes()


def _face_ids(response: dict[str, Any]) -> list[str]:
    return [r["Face"]["FaceId"] for r in response["FaceRecords"]]


# -- 1. IndexFaces is idempotent for the same image -------------------------------------------------------
def test_indexing_the_same_image_again_returns_the_stored_faces(
    rek: Any, obama: bytes, two_people: bytes
) -> None:
    rek.create_collection(CollectionId="idem")
    first = rek.index_faces(CollectionId="idem", Image={"Bytes": obama}, ExternalImageId="obama")
    for _ in range(2):
        again = rek.index_faces(CollectionId="idem", Image={"Bytes": obama}, ExternalImageId="obama")
        assert again["FaceRecords"] == first["FaceRecords"]  # same FaceId, ImageId, box and face detail
    assert len(rek.list_faces(CollectionId="idem")["Faces"]) == 1

    # Another ExternalImageId, or none, is another enrolment (AWS: same image *and* same external id).
    other = rek.index_faces(CollectionId="idem", Image={"Bytes": obama}, ExternalImageId="obama-2")
    assert set(_face_ids(other)).isdisjoint(_face_ids(first))
    bare = rek.index_faces(CollectionId="idem", Image={"Bytes": obama})
    assert rek.index_faces(CollectionId="idem", Image={"Bytes": obama})["FaceRecords"] == bare["FaceRecords"]
    assert len(rek.list_faces(CollectionId="idem")["Faces"]) == 3

    # Several faces: all of them come back, largest first, with one ImageId; unindexed ones again listed.
    group = rek.index_faces(CollectionId="idem", Image={"Bytes": two_people}, ExternalImageId="g", MaxFaces=1)
    repeat = rek.index_faces(
        CollectionId="idem", Image={"Bytes": two_people}, ExternalImageId="g", MaxFaces=1
    )
    assert repeat == {**group, "ResponseMetadata": repeat["ResponseMetadata"]}
    assert [u["Reasons"] for u in repeat["UnindexedFaces"]] == [["EXCEEDS_MAX_FACES"]]

    # The same image in another collection is stored there.
    rek.create_collection(CollectionId="idem-other")
    elsewhere = rek.index_faces(CollectionId="idem-other", Image={"Bytes": obama}, ExternalImageId="obama")
    assert set(_face_ids(elsewhere)).isdisjoint(_face_ids(first))
    # Once deleted, indexing the image again stores it afresh.
    rek.delete_faces(CollectionId="idem", FaceIds=_face_ids(first))
    fresh = rek.index_faces(CollectionId="idem", Image={"Bytes": obama}, ExternalImageId="obama")
    assert _face_ids(fresh) != _face_ids(first) and len(_face_ids(fresh)) == 1
    rek.delete_collection(CollectionId="idem")
    rek.delete_collection(CollectionId="idem-other")


def simultaneously(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads released together; each one's result, or the exception it raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:  # reported by the caller's assertions
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_simultaneous_identical_index_calls_store_one_set(
    client_for: Callable[[str], Any], obama: bytes
) -> None:
    clients = [client_for("acme") for _ in range(4)]
    clients[0].create_collection(CollectionId="idem-race")
    for attempt in range(3):  # each attempt: four identical calls released together
        external = f"race-{attempt}"
        results = simultaneously(
            [
                lambda c=c, external=external: c.index_faces(
                    CollectionId="idem-race", Image={"Bytes": obama}, ExternalImageId=external
                )
                for c in clients
            ]
        )
        assert all(isinstance(r, dict) for r in results), results
        records = [r["FaceRecords"] for r in results]
        assert all(r == records[0] for r in records) and len(records[0]) == 1
        stored = clients[0].list_faces(CollectionId="idem-race")["Faces"]
        assert [f["FaceId"] for f in stored if f.get("ExternalImageId") == external] == _face_ids(results[0])
    clients[0].delete_collection(CollectionId="idem-race")


# -- 2. UnindexedFaces reasons stay inside the enum -------------------------------------------------------
def _over_exposed(image: bytes) -> bytes:
    """The face washed out towards white: still detected, brightness above the HIGH filter's 90."""
    pixels = np.asarray(Image.open(io.BytesIO(image)).convert("RGB")).astype(np.float32)
    bright = (255 - (255 - pixels) * 0.15).clip(0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(bright).save(out, format="JPEG", quality=95)
    return out.getvalue()


def test_an_over_exposed_face_is_refused_with_a_reason_from_the_enum(rek: Any, obama: bytes) -> None:
    rek.create_collection(CollectionId="bright")
    refused = rek.index_faces(
        CollectionId="bright", Image={"Bytes": _over_exposed(obama)}, QualityFilter="HIGH"
    )
    assert refused["FaceRecords"] == []
    assert [u["Reasons"] for u in refused["UnindexedFaces"]] == [["LOW_FACE_QUALITY"]]
    assert refused["UnindexedFaces"][0]["FaceDetail"]["Quality"]["Brightness"] > 90
    rek.delete_collection(CollectionId="bright")


def test_every_internal_reason_maps_into_the_enum() -> None:
    enum = {"EXCEEDS_MAX_FACES", "EXTREME_POSE", "LOW_BRIGHTNESS", "LOW_SHARPNESS", "LOW_CONFIDENCE"}
    enum |= {"SMALL_BOUNDING_BOX", "LOW_FACE_QUALITY"}
    for reason in enum:
        assert unindexed_reasons([reason]) == [reason]
    assert unindexed_reasons(["EXPOSURE"]) == ["LOW_FACE_QUALITY"]
    assert unindexed_reasons(["SOMETHING_NEW", "EXPOSURE"]) == ["LOW_FACE_QUALITY"]


def test_the_response_check_rejects_a_value_outside_an_enum() -> None:
    """The check every test client runs on every response (conftest) catches an enum value botocore's
    model does not list, as strongly typed SDKs would."""
    box = {"Width": 0.5, "Height": 0.5, "Left": 0.1, "Top": 0.1}
    response = {
        "FaceRecords": [],
        "UnindexedFaces": [{"Reasons": ["EXPOSURE"], "FaceDetail": {"BoundingBox": box}}],
    }
    problems = validate_response("IndexFaces", response)
    assert len(problems) == 1 and "enum" in problems[0] and "EXPOSURE" in problems[0]
    response["UnindexedFaces"][0]["Reasons"] = ["LOW_FACE_QUALITY"]
    assert validate_response("IndexFaces", response) == []
    listed = {"JobStatus": "SUCCEEDED", "Persons": [], "JobId": "x" * 10}
    assert validate_response("GetFaceSearch", {**listed, "JobStatus": "DONE"}) != []


# -- 3. Collections are regional -------------------------------------------------------------------------
def test_collections_are_scoped_by_the_signed_region(
    server: Any, client_for: Callable[[str], Any], obama: bytes
) -> None:
    srv, keys = server
    key = keys["acme"]
    eu = make_client(srv.url, key.access_key_id, key.secret, region="eu-west-1")
    us = make_client(srv.url, key.access_key_id, key.secret, region="us-east-1")
    created = eu.create_collection(CollectionId="regional")
    assert created["CollectionArn"].startswith("aws:rekognition:eu-west-1:")
    assert "regional" in eu.list_collections()["CollectionIds"]
    assert "regional" not in us.list_collections()["CollectionIds"]
    raises("ResourceNotFoundException", us.describe_collection, CollectionId="regional")
    raises("ResourceNotFoundException", us.index_faces, CollectionId="regional", Image={"Bytes": obama})

    # The same name in another region is another collection, with its own faces and ARN.
    us.create_collection(CollectionId="regional")
    eu.index_faces(CollectionId="regional", Image={"Bytes": obama}, ExternalImageId="eu")
    assert eu.describe_collection(CollectionId="regional")["FaceCount"] == 1
    assert us.describe_collection(CollectionId="regional")["FaceCount"] == 0
    eu_arn = eu.describe_collection(CollectionId="regional")["CollectionARN"]
    us_arn = us.describe_collection(CollectionId="regional")["CollectionARN"]
    assert ":eu-west-1:" in eu_arn and ":us-east-1:" in us_arn

    # An ARN names one region's collection: through another region it does not exist.
    eu.tag_resource(ResourceArn=eu_arn, Tags={"where": "eu"})
    assert eu.list_tags_for_resource(ResourceArn=eu_arn)["Tags"] == {"where": "eu"}
    raises("ResourceNotFoundException", us.list_tags_for_resource, ResourceArn=eu_arn)
    assert us.list_tags_for_resource(ResourceArn=us_arn)["Tags"] == {}

    eu.delete_collection(CollectionId="regional")
    assert us.describe_collection(CollectionId="regional")["FaceCount"] == 0
    us.delete_collection(CollectionId="regional")

    # Any region SigV4 accepts is stored as signed (the longest botocore sends: 63 characters), never a 500.
    odd = make_client(srv.url, key.access_key_id, key.secret, region="r" * 63)
    assert f":{'r' * 63}:" in odd.create_collection(CollectionId="regional")["CollectionArn"]
    assert odd.list_collections()["CollectionIds"] == ["regional"]
    odd.delete_collection(CollectionId="regional")


# -- 4. FaceModelVersion means something -----------------------------------------------------------------
def test_face_model_version_is_the_engines_identifier(rek: Any, obama: bytes) -> None:
    created = rek.create_collection(CollectionId="versioned")
    assert created["FaceModelVersion"] == MODEL_VERSION
    assert rek.describe_collection(CollectionId="versioned")["FaceModelVersion"] == MODEL_VERSION
    listed = rek.list_collections()
    assert listed["FaceModelVersions"][listed["CollectionIds"].index("versioned")] == MODEL_VERSION
    indexed = rek.index_faces(CollectionId="versioned", Image={"Bytes": obama})
    assert indexed["FaceModelVersion"] == MODEL_VERSION
    # Face.IndexFacesModelVersion must be numeric in the service model: left out rather than faked.
    assert "IndexFacesModelVersion" not in indexed["FaceRecords"][0]["Face"]
    assert rek.list_faces(CollectionId="versioned")["FaceModelVersion"] == MODEL_VERSION
    searched = rek.search_faces_by_image(CollectionId="versioned", Image={"Bytes": obama})
    assert searched["FaceModelVersion"] == MODEL_VERSION
    rek.delete_collection(CollectionId="versioned")


# -- 5. Error messages in AWS's wording, Message in the body ---------------------------------------------
def _error(response: Any) -> dict[str, Any]:
    assert response.status_code == 400 and response.headers["content-type"] == "application/x-amz-json-1.1"
    body: dict[str, Any] = json.loads(response.content)
    assert set(body) == {"__type", "Code", "Logref", "Message"}, body
    assert body["Code"] == body["__type"] and body["Logref"] == response.headers["x-amzn-requestid"]
    return body


def test_errors_use_aws_wording_and_body(server: Any, rek: Any, obama: bytes) -> None:
    srv, keys = server
    key = keys["acme"]
    body = _error(
        _raw_post(srv.url, key.access_key_id, key.secret, "DescribeCollection", b'{"CollectionId": "nope"}')
    )
    assert body == {
        **body,
        "__type": "ResourceNotFoundException",
        "Message": "The collection id: nope does not exist",
    }
    assert raises(
        "ResourceNotFoundException", rek.index_faces, CollectionId="nope", Image={"Bytes": obama}
    ) == ("The collection id: nope does not exist")
    rek.create_collection(CollectionId="twice")
    assert raises("ResourceAlreadyExistsException", rek.create_collection, CollectionId="twice") == (
        "The collection id: twice already exists"
    )
    rek.delete_collection(CollectionId="twice")

    noise = np.random.default_rng(0).integers(0, 256, size=(1400, 1400, 3), dtype=np.uint8)
    png = io.BytesIO()
    Image.fromarray(noise).save(png, format="PNG", compress_level=0)
    assert len(png.getvalue()) > 5 * 1024 * 1024
    assert raises("ImageTooLargeException", rek.detect_faces, Image={"Bytes": png.getvalue()}) == (
        IMAGE_TOO_LARGE_MESSAGE
    )
    assert "java.nio" not in IMAGE_TOO_LARGE_MESSAGE
    assert raises("InvalidImageFormatException", rek.detect_faces, Image={"Bytes": b"not an image"}) == (
        "Request has invalid image format"
    )
