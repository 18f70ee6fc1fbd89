"""Requests and responses checked against botocore's Rekognition model, with AWS's error names and words."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from glasshouse.errors import InvalidInputError, InvalidParameterError
from glasshouse.rekognition import model
from glasshouse.rekognition.model import UnknownOperationError, operation, operation_names
from glasshouse.rekognition.validation import (
    ImageBytesTooLargeError,
    SerializationError,
    ValidationError,
    java_regex,
    parse_request,
    preload,
    validate_response,
)

IMAGE = b"\xff\xd8\xff\xe0 not really a jpeg \x00\x01\x02"
B64 = base64.b64encode(IMAGE).decode()
FACE_ID = "11111111-2222-3333-4444-555555555555"
ARN = "arn:aws:rekognition:us-east-1:123456789012:collection/faces"
TOKEN = "d2b1c1f0-0000-4000-8000-000000000000"
SESSION = "0d4f5a6e-1111-4222-8333-944445555666"


def body(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def parse(op: str, obj: Any) -> dict[str, Any]:
    return parse_request(op, body(obj))


def invalid(op: str, obj: Any) -> str:
    with pytest.raises(ValidationError) as e:
        parse(op, obj)
    return e.value.message


def unreadable(op: str, raw: bytes) -> str:
    with pytest.raises(SerializationError) as e:
        parse_request(op, raw)
    return e.value.message


SFBI = {"CollectionId": "faces", "Image": {"Bytes": B64}}

VALID: dict[str, dict[str, Any]] = {
    "SearchFacesByImage": {**SFBI, "MaxFaces": 5, "FaceMatchThreshold": 80, "QualityFilter": "AUTO"},
    "IndexFaces": {
        **SFBI,
        "ExternalImageId": "photo-1.jpg:v2",
        "DetectionAttributes": ["DEFAULT"],
        "MaxFaces": 100,
        "QualityFilter": "NONE",
    },
    "CreateCollection": {"CollectionId": "my_collection.v1-2", "Tags": {"team": "vision", "tier": ""}},
    "ListFaces": {"CollectionId": "faces", "MaxResults": 0, "FaceIds": [FACE_ID], "UserId": "u:1"},
    "CompareFaces": {
        "SourceImage": {"Bytes": B64},
        "TargetImage": {"S3Object": {"Bucket": "bkt", "Name": "k.jpg"}},
        "SimilarityThreshold": 99.5,
    },
    "DetectFaces": {"Image": {"Bytes": B64}, "Attributes": ["ALL"]},
    "CreateUser": {"CollectionId": "faces", "UserId": "alice", "ClientRequestToken": TOKEN},
    "SearchUsers": {"CollectionId": "faces", "FaceId": FACE_ID, "UserMatchThreshold": 0, "MaxUsers": 500},
    "TagResource": {"ResourceArn": ARN, "Tags": {"Ünïcode tag": "value", "k": "v"}},
    "StartFaceSearch": {
        "Video": {"S3Object": {"Bucket": "bkt", "Name": "v.mp4"}},
        "CollectionId": "faces",
        "FaceMatchThreshold": 100,
        "ClientRequestToken": "tok_1-2",
        "NotificationChannel": {
            "SNSTopicArn": "arn:aws:sns:us-east-1:123456789012:topic",
            "RoleArn": "arn:aws:iam::123456789012:role/r",
        },
        "JobTag": "job:1/a+b=c",
    },
}


# --- valid requests -----------------------------------------------------------------------------


@pytest.mark.parametrize("op", sorted(VALID))
def test_valid_requests_pass(op: str) -> None:
    params = parse(op, VALID[op])
    assert set(params) == set(VALID[op])


def test_blobs_are_decoded_and_floats_are_floats() -> None:
    params = parse("SearchFacesByImage", VALID["SearchFacesByImage"])
    assert params["Image"] == {"Bytes": IMAGE}
    assert params["FaceMatchThreshold"] == 80.0 and isinstance(params["FaceMatchThreshold"], float)
    cf = parse("CompareFaces", VALID["CompareFaces"])
    assert cf["SourceImage"]["Bytes"] == IMAGE
    assert cf["TargetImage"] == {"S3Object": {"Bucket": "bkt", "Name": "k.jpg"}}


def test_unknown_members_are_ignored_and_null_is_absent() -> None:
    params = parse("DetectFaces", {"Image": {"Bytes": B64, "Extra": 1}, "Attributes": None, "Nope": [1]})
    assert params == {"Image": {"Bytes": IMAGE}}


def test_empty_body_reads_as_empty_object() -> None:
    assert parse_request("ListCollections", b"") == {}
    assert parse_request("ListCollections", b"{}") == {}


# --- constraint violations: ValidationException in Coral's words --------------------------------


def test_collection_id_pattern_is_full_match() -> None:
    msg = invalid("SearchFacesByImage", {**SFBI, "CollectionId": "bad id!"})
    assert msg == (
        "1 validation error detected: Value 'bad id!' at 'collectionId' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9_.\\-]+"
    )


def test_collection_id_too_long() -> None:
    msg = invalid("CreateCollection", {"CollectionId": "a" * 256})
    assert "at 'collectionId'" in msg
    assert msg.endswith("Member must have length less than or equal to 255")
    parse("CreateCollection", {"CollectionId": "a" * 255})


def test_empty_collection_id_breaks_length_and_pattern() -> None:
    msg = invalid("CreateCollection", {"CollectionId": ""})
    assert msg.startswith("2 validation errors detected: Value '' at 'collectionId'")
    assert "greater than or equal to 1" in msg and "regular expression pattern" in msg


@pytest.mark.parametrize(
    ("value", "constraint"),
    [(0, "greater than or equal to 1"), (5000, "less than or equal to 4096")],
)
def test_max_faces_range(value: int, constraint: str) -> None:
    msg = invalid("SearchFacesByImage", {**SFBI, "MaxFaces": value})
    assert msg == (
        f"1 validation error detected: Value '{value}' at 'maxFaces' failed to satisfy constraint: "
        f"Member must have value {constraint}"
    )


def test_max_faces_bounds_come_from_the_model() -> None:
    meta = operation("SearchFacesByImage").input_shape.members["MaxFaces"].metadata
    assert (meta["min"], meta["max"]) == (1, 4096)
    parse("SearchFacesByImage", {**SFBI, "MaxFaces": 1})
    parse("SearchFacesByImage", {**SFBI, "MaxFaces": 4096})


@pytest.mark.parametrize(
    ("value", "shown", "constraint"),
    [(-1, "-1.0", "greater than or equal to 0"), (101, "101.0", "less than or equal to 100")],
)
def test_face_match_threshold_range(value: float, shown: str, constraint: str) -> None:
    msg = invalid("SearchFacesByImage", {**SFBI, "FaceMatchThreshold": value})
    assert f"Value '{shown}' at 'faceMatchThreshold' failed to satisfy constraint: " in msg
    assert msg.endswith(f"Member must have value {constraint}")


def test_missing_required() -> None:
    msg = invalid("SearchFacesByImage", {"Image": {"Bytes": B64}})
    assert msg == (
        "1 validation error detected: Value null at 'collectionId' failed to satisfy constraint: "
        "Member must not be null"
    )
    assert "at 'image'" in invalid("IndexFaces", {"CollectionId": "c"})


def test_nested_required_names_the_path() -> None:
    req = {**VALID["StartFaceSearch"]}
    req["NotificationChannel"] = {"SNSTopicArn": "arn:aws:sns:us-east-1:123456789012:topic"}
    msg = invalid("StartFaceSearch", req)
    assert "Value null at 'notificationChannel.roleArn'" in msg


def test_bad_enum() -> None:
    msg = invalid("SearchFacesByImage", {**SFBI, "QualityFilter": "SUPER"})
    assert msg == (
        "1 validation error detected: Value 'SUPER' at 'qualityFilter' failed to satisfy constraint: "
        "Member must satisfy enum value set: [NONE, AUTO, LOW, MEDIUM, HIGH]"
    )


def test_bad_enum_in_a_list_is_reported_on_the_list() -> None:
    msg = invalid("DetectFaces", {"Image": {"Bytes": B64}, "Attributes": ["ALL", "SUPER"]})
    assert (
        "Value '[ALL, SUPER]' at 'attributes' failed to satisfy constraint: Member must satisfy constraint: ["
        in msg
    )
    assert "Member must satisfy enum value set: [" in msg


def test_every_violation_is_listed() -> None:
    msg = invalid("SearchFacesByImage", {**SFBI, "CollectionId": "bad id!", "MaxFaces": 0})
    assert msg.startswith("2 validation errors detected: ")
    assert "at 'collectionId'" in msg and "at 'maxFaces'" in msg
    assert msg.index("collectionId") < msg.index("maxFaces")  # model order, as AWS


def test_empty_image_bytes_matches_aws_wording() -> None:
    msg = invalid("DetectFaces", {"Image": {"Bytes": ""}})
    assert msg == (
        "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=0 cap=0]' at 'image.bytes' "
        "failed to satisfy constraint: Member must have length greater than or equal to 1"
    )


def test_image_bytes_over_the_model_max() -> None:
    limit = operation("DetectFaces").input_shape.members["Image"].members["Bytes"].metadata["max"]
    assert limit == 5 * 1024 * 1024
    ok = base64.b64encode(b"\0" * limit).decode()
    assert len(parse("DetectFaces", {"Image": {"Bytes": ok}})["Image"]["Bytes"]) == limit
    big = base64.b64encode(b"\0" * (limit + 1)).decode()
    msg = invalid("DetectFaces", {"Image": {"Bytes": big}})
    with pytest.raises(ImageBytesTooLargeError):
        parse("DetectFaces", {"Image": {"Bytes": big}})
    assert ImageBytesTooLargeError.code == "ImageTooLargeException"
    assert f"lim={limit + 1} cap={limit + 1}]' at 'image.bytes'" in msg
    assert msg.endswith(f"Member must have length less than or equal to {limit}")


def test_list_and_map_limits() -> None:
    many = [FACE_ID] * 4097
    assert (
        "at 'faceIds' failed to satisfy constraint: Member must have length less than or equal to 4096"
        in (invalid("ListFaces", {"CollectionId": "c", "FaceIds": many}))
    )
    assert "at 'faceIds'" in invalid("ListFaces", {"CollectionId": "c", "FaceIds": []})
    msg = invalid("SearchUsers", {"CollectionId": "c", "FaceId": "not-a-uuid"})
    assert "at 'faceId'" in msg and "regular expression pattern" in msg
    msg = invalid("TagResource", {"ResourceArn": ARN, "Tags": {"aws:reserved": "v"}})
    assert "at 'tags' failed to satisfy constraint: Map keys must satisfy constraint: [" in msg
    assert "at 'resourceArn'" in invalid("TagResource", {"ResourceArn": "arn:short", "Tags": {}})


def test_client_request_token_pattern() -> None:
    msg = invalid("CreateUser", {"CollectionId": "c", "UserId": "u", "ClientRequestToken": "has space"})
    assert "at 'clientRequestToken'" in msg


# --- unreadable bodies: SerializationException ---------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("MaxFaces", "5", "maxFaces"),
        ("MaxFaces", 2.5, "maxFaces"),
        ("MaxFaces", 2**31, "maxFaces"),
        ("CollectionId", 5, "collectionId"),
        ("Image", True, "image"),
        ("Image", [B64], "image"),
        ("FaceMatchThreshold", "80", "faceMatchThreshold"),
        ("FaceMatchThreshold", False, "faceMatchThreshold"),
        ("FaceMatchThreshold", 10**400, "faceMatchThreshold"),
    ],
)
def test_wrong_json_type(field: str, value: Any, path: str) -> None:
    msg = unreadable("SearchFacesByImage", body({**SFBI, field: value}))
    assert f"at '{path}'" in msg


def test_wrong_type_inside_a_list_names_the_item() -> None:
    msg = unreadable("ListFaces", body({"CollectionId": "c", "FaceIds": [FACE_ID, 7]}))
    assert "at 'faceIds.2.member'" in msg


def test_integral_float_is_accepted_for_an_integer() -> None:
    assert parse("SearchFacesByImage", {**SFBI, "MaxFaces": 3.0})["MaxFaces"] == 3


@pytest.mark.parametrize("bad", ["not base64!", "QQ==QQ==", "QUJ", "QU JD", "ÄÖ=="])
def test_bad_base64(bad: str) -> None:
    msg = unreadable("DetectFaces", body({"Image": {"Bytes": bad}}))
    assert "'image.bytes'" in msg and "base64" in msg


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"CollectionId": "c",}', b"\xff\xfe{}", b'{"MaxFaces": NaN}', b"[" * 100_000, b"1" * 5000],
)
def test_malformed_json(raw: bytes) -> None:
    unreadable("SearchFacesByImage", raw)


@pytest.mark.parametrize("raw", [b"[]", b'["CollectionId"]', b'"x"', b"3", b"null"])
def test_top_level_must_be_an_object(raw: bytes) -> None:
    msg = unreadable("CreateCollection", raw)
    assert "must be a JSON object" in msg


def test_body_over_the_cap() -> None:
    raw = body({"CollectionId": "c"})
    with pytest.raises(SerializationError, match="larger than"):
        parse_request("CreateCollection", raw, max_body_bytes=len(raw) - 1)
    assert parse_request("CreateCollection", raw, max_body_bytes=len(raw)) == {"CollectionId": "c"}


# --- operations and error classes ---------------------------------------------------------------


def test_unknown_operation() -> None:
    with pytest.raises(UnknownOperationError) as e:
        parse_request("SearchFacesByImages", b"{}")
    assert e.value.code == "UnknownOperationException" and e.value.http_status == 400
    with pytest.raises(UnknownOperationError):
        operation("searchfacesbyimage")
    with pytest.raises(UnknownOperationError):
        validate_response("Nope", {})


def test_operation_names_come_from_botocore() -> None:
    names = operation_names()
    assert set(VALID) <= set(names)
    assert model.target_prefix() == "RekognitionService"
    assert operation("IndexFaces").name == "IndexFaces"


def test_error_classes() -> None:
    assert issubclass(ValidationError, InvalidParameterError)
    assert issubclass(SerializationError, InvalidInputError)
    assert issubclass(UnknownOperationError, InvalidInputError)
    # Coral's ValidationException wording, under Rekognition's modelled exception name.
    assert (ValidationError.code, ValidationError.http_status) == ("InvalidParameterException", 400)
    assert (SerializationError.code, SerializationError.http_status) == ("SerializationException", 400)
    err = ValidationError(["a", "b"])
    assert err.violations == ["a", "b"] and err.message == "2 validation errors detected: a; b"


# --- Java patterns ------------------------------------------------------------------------------


def test_collection_id_pattern_semantics() -> None:
    p = java_regex(r"[a-zA-Z0-9_.\-]+")
    for ok in ["a", "A-b_c.9", "-", "x" * 300]:
        assert p.fullmatch(ok)
    for bad in ["", "bad id!", "abc\n", "a/b", "é", "a:b"]:
        assert not p.fullmatch(bad)


def test_java_only_syntax_translates() -> None:
    tag = java_regex(r"^(?!aws:)[\p{L}\p{Z}\p{N}_.:/=+\-@]*$")
    assert tag.fullmatch("Ünïcode tag 日本 ١٢٣")
    assert not tag.fullmatch("aws:x") and not tag.fullmatch("a\tb")
    assert java_regex(r"\d+").fullmatch("12") and not java_regex(r"\d+").fullmatch("١٢")  # ASCII \d
    assert not java_regex(r".+").fullmatch("a\rb")  # Java's '.' stops at any line terminator
    assert java_regex(r"^[a-zA-Z0-9-_]+$").fullmatch("a-_")


def test_preload_builds_every_operation() -> None:
    preload()
    for name in operation_names():
        assert validate_response(name, {}) is not None


def test_every_pattern_in_the_model_compiles() -> None:
    svc = model.service_model()
    patterns = {
        svc.shape_for(n).metadata["pattern"]
        for n in svc.shape_names
        if "pattern" in svc.shape_for(n).metadata
    }
    assert len(patterns) > 20
    for p in patterns:
        java_regex(p)


# --- responses ----------------------------------------------------------------------------------

SFBI_RESPONSE: dict[str, Any] = {
    "SearchedFaceBoundingBox": {"Width": 0.5, "Height": 0.4, "Left": 0.1, "Top": 0.2},
    "SearchedFaceConfidence": 99.9,
    "FaceMatches": [
        {
            "Similarity": 97.5,
            "Face": {
                "FaceId": FACE_ID,
                "BoundingBox": {"Width": 0.5, "Height": 0.4, "Left": 0.1, "Top": 0.2},
                "ImageId": FACE_ID,
                "ExternalImageId": "photo-1.jpg",
                "Confidence": 99.0,
                "IndexFacesModelVersion": "6.0",
            },
        }
    ],
    "FaceModelVersion": "6.0",
}


def test_correct_response_passes() -> None:
    assert validate_response("SearchFacesByImage", SFBI_RESPONSE) == []
    assert validate_response("SearchFacesByImage", {**SFBI_RESPONSE, "ResponseMetadata": {}}) == []
    assert validate_response("CreateUser", {}) == []


def test_response_problems_are_reported() -> None:
    bad = json.loads(json.dumps(SFBI_RESPONSE))
    bad["FaceMatches"][0]["Similarity"] = "97.5"
    bad["FaceMatches"][0]["Face"]["Colour"] = "blue"
    bad["SearchedFaceConfidence"] = 150
    problems = validate_response("SearchFacesByImage", bad)
    assert any(p.startswith("FaceMatches[0].Similarity: expected a Float") for p in problems)
    assert "FaceMatches[0].Face.Colour: unknown member" in problems
    assert any(p.startswith("SearchedFaceConfidence: Member must have value less than") for p in problems)
    assert len(problems) == 3


def test_response_missing_required_and_bad_enum() -> None:
    assert validate_response("StartMediaAnalysisJob", {}) == ["JobId: required member missing or null"]
    problems = validate_response("GetFaceLivenessSessionResults", {"SessionId": SESSION, "Status": "MAYBE"})
    assert len(problems) == 1 and problems[0].startswith("Status: Member must satisfy enum value set")
    feedback = {"SessionId": SESSION, "Status": "SUCCEEDED", "Feedback": [{"Code": "x"}]}
    assert "Feedback[0].Message: required member missing or null" in validate_response(
        "GetFaceLivenessSessionResults", feedback
    )


def test_response_nan_and_wrong_container() -> None:
    problems = validate_response(
        "SearchFacesByImage", {"SearchedFaceConfidence": float("nan"), "FaceMatches": {}}
    )
    assert len(problems) == 2


# --- what unmodified boto3 really sends ---------------------------------------------------------


class _Raw:
    """Just enough of urllib3's response for botocore to read an empty JSON answer."""

    def stream(self) -> Iterator[bytes]:
        yield b"{}"


def test_boto3_request_bodies_parse() -> None:
    boto3 = pytest.importorskip("boto3")
    from botocore.awsrequest import AWSResponse

    sent: list[tuple[str, bytes]] = []

    def capture(request: Any, **_: Any) -> AWSResponse:
        sent.append((request.headers["X-Amz-Target"].decode().split(".")[1], request.body))
        return AWSResponse(request.url, 200, {}, _Raw())

    client = boto3.client(
        "rekognition",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
    )
    client.meta.events.register("before-send.rekognition.*", capture)
    client.create_user(CollectionId="faces", UserId="alice")  # boto3 fills ClientRequestToken
    client.search_faces_by_image(CollectionId="faces", Image={"Bytes": IMAGE}, FaceMatchThreshold=80)
    client.list_collections()
    parsed = [parse_request(op, raw) for op, raw in sent]
    assert parsed[0]["ClientRequestToken"]
    assert parsed[1]["Image"]["Bytes"] == IMAGE and parsed[1]["FaceMatchThreshold"] == 80.0
    assert parsed[2] == {}
