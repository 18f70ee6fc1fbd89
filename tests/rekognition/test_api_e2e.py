"""Unmodified boto3 against a live server: every operation, every class of bad input, tenancy.

Every response is also checked against botocore's output shapes (conftest's autouse fixture).
"""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.auth
import httpx
import numpy as np
import pytest
from botocore.exceptions import ClientError
from PIL import Image

from aws_clients import code_of, make_client, raises
from aws_clients import raw_post as _raw_post

EXAMPLES = Path("face_recognition") / "examples"


@pytest.fixture(scope="module")
def images(shared_data: Path) -> dict[str, bytes]:
    root = shared_data / EXAMPLES
    names = ["obama.jpg", "obama2.jpg", "biden.jpg", "two_people.jpg", "alex-lacamoire.png"]
    return {n: (root / n).read_bytes() for n in names}


def blank_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (200, 200), (120, 160, 200)).save(buf, format="JPEG")
    return buf.getvalue()


# -- faces in images -----------------------------------------------------------------------------------------
def test_detect_faces_returns_only_what_the_engine_computes(rek: Any, images: dict[str, bytes]) -> None:
    for attributes in (["DEFAULT"], ["ALL"]):
        faces = rek.detect_faces(Image={"Bytes": images["two_people.jpg"]}, Attributes=attributes)[
            "FaceDetails"
        ]
        assert len(faces) == 2
        for face in faces:
            assert set(face) == {"BoundingBox", "Landmarks", "Pose", "Quality", "Confidence"}
            assert [lm["Type"] for lm in face["Landmarks"]] == [
                "eyeLeft",
                "eyeRight",
                "nose",
                "mouthLeft",
                "mouthRight",
            ]
            box = face["BoundingBox"]
            assert 0 <= box["Left"] <= 1 and 0 < box["Width"] <= 1 and face["Confidence"] > 50
    assert rek.detect_faces(Image={"Bytes": blank_jpeg()})["FaceDetails"] == []


def test_compare_faces(rek: Any, images: dict[str, bytes]) -> None:
    same = rek.compare_faces(
        SourceImage={"Bytes": images["obama.jpg"]}, TargetImage={"Bytes": images["obama2.jpg"]}
    )
    assert len(same["FaceMatches"]) == 1 and same["FaceMatches"][0]["Similarity"] >= 80
    assert same["UnmatchedFaces"] == [] and "BoundingBox" in same["SourceImageFace"]
    other = rek.compare_faces(
        SourceImage={"Bytes": images["obama.jpg"]}, TargetImage={"Bytes": images["biden.jpg"]}
    )
    assert other["FaceMatches"] == [] and len(other["UnmatchedFaces"]) == 1
    strict = rek.compare_faces(
        SourceImage={"Bytes": images["obama.jpg"]},
        TargetImage={"Bytes": images["obama2.jpg"]},
        SimilarityThreshold=100,
    )
    assert strict["FaceMatches"] == [] or strict["FaceMatches"][0]["Similarity"] == 100
    raises(
        "InvalidParameterException",
        rek.compare_faces,
        SourceImage={"Bytes": blank_jpeg()},
        TargetImage={"Bytes": images["obama.jpg"]},
    )


# -- collections ---------------------------------------------------------------------------------------------
def test_collection_lifecycle_and_pagination(rek: Any) -> None:
    created = rek.create_collection(CollectionId="life-1", Tags={"team": "a"})
    assert created["StatusCode"] == 200 and created["CollectionArn"].endswith(":collection/life-1")
    raises("ResourceAlreadyExistsException", rek.create_collection, CollectionId="life-1")
    rek.create_collection(CollectionId="life-2")
    described = rek.describe_collection(CollectionId="life-1")
    assert described["FaceCount"] == 0 and described["UserCount"] == 0
    assert described["CollectionARN"].startswith("arn:aws:rekognition:eu-west-2:")

    seen: list[str] = []
    token: str | None = None
    while True:
        page = rek.list_collections(MaxResults=1, **({"NextToken": token} if token else {}))
        assert len(page["CollectionIds"]) <= 1
        seen += page["CollectionIds"]
        token = page.get("NextToken")
        if not token:
            break
    assert {"life-1", "life-2"} <= set(seen) and len(seen) == len(set(seen))
    paginated = [c for p in rek.get_paginator("list_collections").paginate() for c in p["CollectionIds"]]
    assert set(seen) == set(paginated)

    assert rek.delete_collection(CollectionId="life-1")["StatusCode"] == 200
    raises("ResourceNotFoundException", rek.describe_collection, CollectionId="life-1")
    raises("ResourceNotFoundException", rek.delete_collection, CollectionId="life-1")
    rek.delete_collection(CollectionId="life-2")


def test_index_list_search_and_delete_faces(rek: Any, images: dict[str, bytes]) -> None:
    rek.create_collection(CollectionId="faces")
    indexed = rek.index_faces(
        CollectionId="faces",
        Image={"Bytes": images["obama.jpg"]},
        ExternalImageId="obama",
        DetectionAttributes=["ALL"],
    )
    assert len(indexed["FaceRecords"]) == 1 and indexed["UnindexedFaces"] == []
    obama_id = indexed["FaceRecords"][0]["Face"]["FaceId"]
    assert indexed["FaceRecords"][0]["Face"]["ExternalImageId"] == "obama"
    two = rek.index_faces(CollectionId="faces", Image={"Bytes": images["two_people.jpg"]}, MaxFaces=1)
    assert len(two["FaceRecords"]) == 1
    assert [u["Reasons"] for u in two["UnindexedFaces"]] == [["EXCEEDS_MAX_FACES"]]
    rek.index_faces(CollectionId="faces", Image={"Bytes": images["biden.jpg"]}, ExternalImageId="biden")
    assert rek.index_faces(CollectionId="faces", Image={"Bytes": blank_jpeg()})["FaceRecords"] == []

    everything = rek.list_faces(CollectionId="faces")["Faces"]
    assert len(everything) == 3
    pages, token = [], None
    while True:
        page = rek.list_faces(CollectionId="faces", MaxResults=2, **({"NextToken": token} if token else {}))
        pages.append(page["Faces"])
        token = page.get("NextToken")
        if not token:
            break
    assert [len(p) for p in pages] == [2, 1]
    assert {f["FaceId"] for p in pages for f in p} == {f["FaceId"] for f in everything}
    only = rek.list_faces(CollectionId="faces", FaceIds=[obama_id])["Faces"]
    assert [f["FaceId"] for f in only] == [obama_id]
    raises("InvalidPaginationTokenException", rek.list_faces, CollectionId="faces", NextToken="not-a-token")
    other_token = rek.list_collections(MaxResults=1).get("NextToken")
    if other_token:
        raises("InvalidPaginationTokenException", rek.list_faces, CollectionId="faces", NextToken=other_token)

    by_image = rek.search_faces_by_image(CollectionId="faces", Image={"Bytes": images["obama2.jpg"]})
    assert by_image["FaceMatches"][0]["Face"]["ExternalImageId"] == "obama"
    assert by_image["FaceMatches"][0]["Similarity"] >= 80 and "SearchedFaceBoundingBox" in by_image
    assert all(m["Face"].get("ExternalImageId") != "biden" for m in by_image["FaceMatches"])
    by_id = rek.search_faces(CollectionId="faces", FaceId=obama_id)
    assert by_id["SearchedFaceId"] == obama_id and obama_id not in [
        m["Face"]["FaceId"] for m in by_id["FaceMatches"]
    ]
    raises(
        "InvalidParameterException",
        rek.search_faces_by_image,
        CollectionId="faces",
        Image={"Bytes": blank_jpeg()},
    )

    missing = "00000000-0000-0000-0000-000000000000"
    deleted = rek.delete_faces(CollectionId="faces", FaceIds=[obama_id, missing])
    assert deleted["DeletedFaces"] == [obama_id]
    assert deleted["UnsuccessfulFaceDeletions"] == [{"FaceId": missing, "Reasons": ["FACE_NOT_FOUND"]}]
    after = rek.search_faces_by_image(CollectionId="faces", Image={"Bytes": images["obama2.jpg"]})
    assert all(m["Face"].get("ExternalImageId") != "obama" for m in after["FaceMatches"])
    raises("ResourceNotFoundException", rek.search_faces, CollectionId="faces", FaceId=obama_id)
    rek.delete_collection(CollectionId="faces")


# -- users ---------------------------------------------------------------------------------------------------
def test_users_lifecycle_search_and_idempotency(rek: Any, images: dict[str, bytes]) -> None:
    rek.create_collection(CollectionId="users")
    obama = rek.index_faces(CollectionId="users", Image={"Bytes": images["obama.jpg"]})["FaceRecords"][0][
        "Face"
    ]
    obama2 = rek.index_faces(CollectionId="users", Image={"Bytes": images["obama2.jpg"]})["FaceRecords"][0][
        "Face"
    ]
    biden = rek.index_faces(CollectionId="users", Image={"Bytes": images["biden.jpg"]})["FaceRecords"][0][
        "Face"
    ]

    rek.create_user(CollectionId="users", UserId="barack", ClientRequestToken="tok-1")
    rek.create_user(
        CollectionId="users", UserId="barack", ClientRequestToken="tok-1"
    )  # replayed, not repeated
    raises(
        "IdempotentParameterMismatchException",
        rek.create_user,
        CollectionId="users",
        UserId="joe",
        ClientRequestToken="tok-1",
    )
    raises(
        "ConflictException",
        rek.create_user,
        CollectionId="users",
        UserId="barack",
        ClientRequestToken="tok-2",
    )
    rek.create_user(CollectionId="users", UserId="joe")
    listed = rek.list_users(CollectionId="users")["Users"]
    assert {(u["UserId"], u["UserStatus"]) for u in listed} == {("barack", "CREATED"), ("joe", "CREATED")}

    assoc = rek.associate_faces(
        CollectionId="users", UserId="barack", FaceIds=[obama["FaceId"], obama2["FaceId"]]
    )
    assert {f["FaceId"] for f in assoc["AssociatedFaces"]} == {obama["FaceId"], obama2["FaceId"]}
    assert assoc["UserStatus"] == "ACTIVE"
    refused = rek.associate_faces(CollectionId="users", UserId="barack", FaceIds=[biden["FaceId"]])
    assert refused["UnsuccessfulFaceAssociations"][0]["Reasons"] == ["LOW_MATCH_CONFIDENCE"]
    rek.associate_faces(CollectionId="users", UserId="joe", FaceIds=[biden["FaceId"]])
    taken = rek.associate_faces(CollectionId="users", UserId="joe", FaceIds=[obama["FaceId"]])
    assert taken["UnsuccessfulFaceAssociations"][0]["Reasons"] == ["ASSOCIATED_TO_A_DIFFERENT_USER"]
    assert [f["FaceId"] for f in rek.list_faces(CollectionId="users", UserId="joe")["Faces"]] == [
        biden["FaceId"]
    ]
    undeletable = rek.delete_faces(CollectionId="users", FaceIds=[biden["FaceId"]])
    assert undeletable["UnsuccessfulFaceDeletions"][0]["Reasons"] == ["ASSOCIATED_TO_AN_EXISTING_USER"]

    by_image = rek.search_users_by_image(CollectionId="users", Image={"Bytes": images["two_people.jpg"]})
    assert len(by_image["UnsearchedFaces"]) == 1 and "FaceDetail" in by_image["SearchedFace"]
    by_face = rek.search_users(CollectionId="users", FaceId=obama2["FaceId"])
    assert by_face["UserMatches"] == [] or by_face["UserMatches"][0]["User"]["UserId"] != "barack"
    by_user = rek.search_users(CollectionId="users", UserId="barack")
    assert all(m["User"]["UserId"] != "barack" for m in by_user["UserMatches"])
    obama_probe = rek.search_users_by_image(CollectionId="users", Image={"Bytes": images["obama2.jpg"]})
    assert obama_probe["UserMatches"][0]["User"]["UserId"] == "barack"

    dis = rek.disassociate_faces(CollectionId="users", UserId="joe", FaceIds=[biden["FaceId"]])
    assert dis["DisassociatedFaces"] == [{"FaceId": biden["FaceId"]}] and dis["UserStatus"] == "CREATED"
    rek.delete_user(CollectionId="users", UserId="barack")
    raises("ResourceNotFoundException", rek.delete_user, CollectionId="users", UserId="barack")
    assert {u["UserId"] for u in rek.list_users(CollectionId="users")["Users"]} == {"joe"}
    rek.delete_collection(CollectionId="users")


# -- tags ----------------------------------------------------------------------------------------------------
def test_tags(rek: Any) -> None:
    arn = rek.create_collection(CollectionId="tagged", Tags={"a": "1"})["CollectionArn"]
    arn = "arn:" + arn
    assert rek.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"a": "1"}
    rek.tag_resource(ResourceArn=arn, Tags={"b": "2", "a": "3"})
    assert rek.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"a": "3", "b": "2"}
    rek.untag_resource(ResourceArn=arn, TagKeys=["a"])
    assert rek.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"b": "2"}
    missing = arn.replace("collection/tagged", "collection/absent")
    raises("ResourceNotFoundException", rek.list_tags_for_resource, ResourceArn=missing)
    rek.delete_collection(CollectionId="tagged")


# -- bad input -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fixed_collection(rek: Any) -> str:
    rek.create_collection(CollectionId="errors")
    return "errors"


def test_bad_images(rek: Any, fixed_collection: str) -> None:
    raises("InvalidImageFormatException", rek.detect_faces, Image={"Bytes": b"definitely not an image"})
    gif = io.BytesIO()
    Image.new("RGB", (20, 20)).save(gif, format="GIF")
    raises("InvalidImageFormatException", rek.detect_faces, Image={"Bytes": gif.getvalue()})
    noise = np.random.default_rng(0).integers(0, 256, size=(1500, 1500, 3), dtype=np.uint8)
    png = io.BytesIO()
    Image.fromarray(noise).save(png, format="PNG", compress_level=0)
    assert len(png.getvalue()) > 6 * 1024 * 1024
    raises(
        "ImageTooLargeException",
        rek.index_faces,
        CollectionId=fixed_collection,
        Image={"Bytes": png.getvalue()},
    )
    raises(
        "InvalidParameterException", rek.detect_faces, Image={"S3Object": {"Bucket": "b", "Name": "n.jpg"}}
    )


def test_bad_parameters(rek: Any, fixed_collection: str, images: dict[str, bytes]) -> None:
    image = {"Bytes": images["obama.jpg"]}
    raises("ResourceNotFoundException", rek.search_faces_by_image, CollectionId="no-such", Image=image)
    message = raises("InvalidParameterException", rek.create_collection, CollectionId="bad id!")
    assert "collectionId" in message
    for bad in (0, 5000):
        message = raises(
            "InvalidParameterException",
            rek.search_faces_by_image,
            CollectionId=fixed_collection,
            Image=image,
            MaxFaces=bad,
        )
        assert "maxFaces" in message
    raises(
        "InvalidParameterException",
        rek.search_faces_by_image,
        CollectionId=fixed_collection,
        Image=image,
        FaceMatchThreshold=101,
    )
    raises(
        "InvalidParameterException", rek.index_faces, CollectionId=fixed_collection, Image=image, MaxFaces=101
    )


def test_protocol_errors(server: Any) -> None:
    srv, keys = server
    key = keys["acme"]
    bad_b64 = _raw_post(srv.url, key.access_key_id, key.secret, "DetectFaces", b'{"Image": {"Bytes": "***"}}')
    assert bad_b64.status_code == 400 and bad_b64.json()["__type"] == "SerializationException"
    assert bad_b64.headers["content-type"] == "application/x-amz-json-1.1"
    malformed = _raw_post(srv.url, key.access_key_id, key.secret, "DetectFaces", b'{"Image": ')
    assert malformed.json()["__type"] == "SerializationException"
    unknown_op = _raw_post(srv.url, key.access_key_id, key.secret, "FlyToTheMoon", b"{}")
    assert unknown_op.json()["__type"] == "UnknownOperationException"
    unsigned = httpx.post(
        srv.url + "/", content=b"{}", headers={"X-Amz-Target": "RekognitionService.ListCollections"}
    )
    assert unsigned.status_code == 400 and unsigned.json()["__type"] == "MissingAuthenticationTokenException"


def test_authentication_errors(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    srv, keys = server
    key = keys["acme"]
    unknown = make_client(srv.url, "GHUNKNOWNKEY00000000", key.secret)
    raises("UnrecognizedClientException", unknown.list_collections)
    wrong_secret = make_client(srv.url, key.access_key_id, "x" * 40)
    raises("InvalidSignatureException", wrong_secret.list_collections)
    client = make_client(srv.url, key.access_key_id, key.secret)
    stale = datetime.now(UTC) - timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: stale.replace(tzinfo=None))
    message = raises("InvalidSignatureException", client.list_collections)
    assert "Signature expired" in message


def test_throttling_is_per_key(tmp_path: Path, model_cache_dir: Path) -> None:
    from glasshouse.bench.live_server import live_server
    from glasshouse.config import Settings
    from glasshouse.services import Services

    svc = Services(Settings(data_dir=tmp_path / "var", model_cache_dir=model_cache_dir))
    first, second = svc.keys.create(svc.org_id("a")), svc.keys.create(svc.org_id("b"))
    svc.close()
    with live_server(tmp_path / "var", model_cache_dir, throttle_rate="0.01", throttle_burst="3") as srv:
        a = make_client(srv.url, first.access_key_id, first.secret)
        for _ in range(3):
            a.list_collections()
        raises("ThrottlingException", a.list_collections)
        make_client(srv.url, second.access_key_id, second.secret).list_collections()  # other keys unaffected


# -- tenancy -------------------------------------------------------------------------------------------------
def test_one_organisation_never_sees_another(rek: Any, rek_other: Any, images: dict[str, bytes]) -> None:
    arn = "arn:" + rek.create_collection(CollectionId="private", Tags={"k": "v"})["CollectionArn"]
    face = rek.index_faces(CollectionId="private", Image={"Bytes": images["obama.jpg"]})["FaceRecords"][0][
        "Face"
    ]
    rek.create_user(CollectionId="private", UserId="u1")
    image = {"Bytes": images["obama2.jpg"]}
    fid = face["FaceId"]

    assert "private" not in rek_other.list_collections()["CollectionIds"]
    foreign = [
        (rek_other.describe_collection, {"CollectionId": "private"}),
        (rek_other.delete_collection, {"CollectionId": "private"}),
        (rek_other.index_faces, {"CollectionId": "private", "Image": image}),
        (rek_other.list_faces, {"CollectionId": "private"}),
        (rek_other.search_faces, {"CollectionId": "private", "FaceId": fid}),
        (rek_other.search_faces_by_image, {"CollectionId": "private", "Image": image}),
        (rek_other.delete_faces, {"CollectionId": "private", "FaceIds": [fid]}),
        (rek_other.list_users, {"CollectionId": "private"}),
        (rek_other.create_user, {"CollectionId": "private", "UserId": "u2"}),
        (rek_other.delete_user, {"CollectionId": "private", "UserId": "u1"}),
        (rek_other.associate_faces, {"CollectionId": "private", "UserId": "u1", "FaceIds": [fid]}),
        (rek_other.disassociate_faces, {"CollectionId": "private", "UserId": "u1", "FaceIds": [fid]}),
        (rek_other.search_users, {"CollectionId": "private", "FaceId": fid}),
        (rek_other.search_users_by_image, {"CollectionId": "private", "Image": image}),
        (rek_other.list_tags_for_resource, {"ResourceArn": arn}),
        (rek_other.tag_resource, {"ResourceArn": arn, "Tags": {"x": "y"}}),
        (rek_other.untag_resource, {"ResourceArn": arn, "TagKeys": ["k"]}),
    ]
    for call, kwargs in foreign:
        with pytest.raises(ClientError) as exc:
            call(**kwargs)
        assert code_of(exc) == "ResourceNotFoundException", call
    # The foreign answer is exactly the missing one: same code, same message shape.
    missing = raises("ResourceNotFoundException", rek.describe_collection, CollectionId="absent")
    foreign_msg = raises("ResourceNotFoundException", rek_other.describe_collection, CollectionId="private")
    assert missing.replace("absent", "X") == foreign_msg.replace("private", "X")
    # And nothing changed for the owner.
    assert rek.describe_collection(CollectionId="private")["FaceCount"] == 1
    assert rek.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"k": "v"}
    assert [u["UserId"] for u in rek.list_users(CollectionId="private")["Users"]] == ["u1"]
    # The other organisation may use the same collection id independently.
    rek_other.create_collection(CollectionId="private")
    assert rek_other.describe_collection(CollectionId="private")["FaceCount"] == 0
    rek_other.delete_collection(CollectionId="private")
    assert rek.describe_collection(CollectionId="private")["FaceCount"] == 1
    rek.delete_collection(CollectionId="private")


def test_operational_endpoints(server: Any) -> None:
    srv, _ = server
    assert httpx.get(srv.url + "/health").json() == {"status": "ok"}
    assert "version" in httpx.get(srv.url + "/version").json()
    metrics = httpx.get(srv.url + "/metrics").text
    assert "glasshouse_requests_total" in metrics and "glasshouse_request_seconds" in metrics
    spec = httpx.get(srv.url + "/openapi.json").json()
    assert "/health" in spec["paths"]


def test_server_logs_are_json_without_image_data(server: Any) -> None:
    srv, _ = server
    log_file = next(srv.data_dir.parent.glob("server-*.log"))
    lines = [line for line in log_file.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]
    assert any(r.get("operation") == "IndexFaces" for r in records)
    text = log_file.read_text()
    assert "Bytes" not in text and base64.b64encode(b"\xff\xd8\xff").decode()[:4] not in text
