"""Rekognition Video through unmodified boto3: face search and detection jobs over the media store on the
real Hamilton clip, failures with clear status messages, idempotency, tenancy and the moratorium."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from PIL import Image

from aws_clients import make_client
from glasshouse.audit.service import AuditFilter
from glasshouse.bench.live_server import live_server
from glasshouse.config import Settings
from glasshouse.governance.actor import Actor
from glasshouse.governance.policy import Capability
from glasshouse.services import Services
from video.helpers import write_audio_only

FACE_DETAIL = {"BoundingBox", "Confidence", "Landmarks", "Pose", "Quality"}
SETUP = Actor(org_id="", org_name="test-setup", surface="cli", is_operator=True)


@pytest.fixture(scope="module")
def studio(
    tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path, shared_data: Path
) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("video") / "var"
    svc = Services(Settings(data_dir=data, model_cache_dir=model_cache_dir))
    studio = svc.organisations.create(SETUP, "studio", sector="commercial")
    police = svc.organisations.create(SETUP, "police", sector="law_enforcement")
    keys = {"studio": svc.keys.create(studio.id), "police": svc.keys.create(police.id)}
    hamilton = shared_data / "video/hamilton"
    actor = Actor(org_id=studio.id, org_name=studio.name, surface="cli")
    clip = (hamilton / "short_hamilton_clip.mp4").read_bytes()
    svc.media.upload(actor, "hamilton.mp4", iter([clip]), "video/mp4")
    svc.media.upload(actor, "notes.mp4", iter([b"this is not a video at all" * 10]), "video/mp4")
    jpeg = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 10)).save(jpeg, format="JPEG")
    svc.media.upload(actor, "photo.mp4", iter([jpeg.getvalue()]), "video/mp4")
    svc.media.upload(actor, "empty.mp4", iter([b""]), "video/mp4")
    audio = write_audio_only(tmp_path_factory.mktemp("audio") / "audio.mp4")
    svc.media.upload(actor, "audio.mp4", iter([audio.read_bytes()]), "video/mp4")
    svc.collections.create(studio.id, "cast")
    with svc.gate.guard(actor, Capability.FACE_INDEX):
        for name in ("lin-manuel-miranda", "alex-lacamoire"):
            svc.collections.index_image(
                studio.id,
                "cast",
                (hamilton / f"{name}.png").read_bytes(),
                external_image_id=name,
                max_faces=1,
            )
    svc.close()
    with live_server(data, model_cache_dir, throttle_rate="0") as server:
        yield {"server": server, "keys": keys, "data": data, "model_cache": model_cache_dir}


def client(studio: dict[str, Any], org: str = "studio") -> Any:
    key = studio["keys"][org]
    # "cast" was made outside the API, in the default region (GLASSHOUSE_DEFAULT_REGION, us-east-1).
    return make_client(studio["server"].url, key.access_key_id, key.secret, region="us-east-1")


def wait(get: Any, job_id: str, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = get(JobId=job_id)
        if response["JobStatus"] != "IN_PROGRESS":
            return response  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, "job did not finish"
        time.sleep(0.5)


def video(name: str, bucket: str = "studio") -> dict[str, Any]:
    return {"S3Object": {"Bucket": bucket, "Name": name}}


@pytest.mark.slow
def test_face_search_finds_the_cast_when_they_are_on_screen(studio: dict[str, Any]) -> None:
    rek = client(studio)
    job_id = rek.start_face_search(Video=video("hamilton.mp4"), CollectionId="cast", JobTag="hamilton")[
        "JobId"
    ]
    done = wait(rek.get_face_search, job_id)
    assert done["JobStatus"] == "SUCCEEDED", done.get("StatusMessage")
    assert done["VideoMetadata"]["DurationMillis"] > 9000 and done["JobTag"] == "hamilton"
    persons = done["Persons"]
    duration = done["VideoMetadata"]["DurationMillis"]
    assert all(0 <= p["Timestamp"] <= duration for p in persons)  # from the start of the video
    for person in persons:  # the face as AWS details it by default
        assert (
            set(person["Person"]["Face"]) == FACE_DETAIL and len(person["Person"]["Face"]["Landmarks"]) == 5
        )
    # Tracked people who match nobody are listed too, with no matches (the audience), as AWS does.
    unmatched = {p["Person"]["Index"] for p in persons if p["FaceMatches"] == []}
    matched = {p["Person"]["Index"] for p in persons if p["FaceMatches"]}
    assert unmatched and not unmatched & matched
    seen: dict[str, list[int]] = {}
    for person in persons:
        for match in person["FaceMatches"]:
            assert match["Similarity"] >= 80
            seen.setdefault(match["Face"]["ExternalImageId"], []).append(person["Timestamp"])
    assert set(seen) == {"lin-manuel-miranda", "alex-lacamoire"}  # nobody from the audience
    lin = sorted(seen["lin-manuel-miranda"])
    assert lin[0] < 648 and lin[-1] > 6148  # on stage for most of the clip
    alex = sorted(seen["alex-lacamoire"])
    assert alex[-1] <= 3448  # his segment (about frames 0-75)
    by_index = rek.get_face_search(JobId=job_id, SortBy="INDEX")["Persons"]
    assert sorted(p["Timestamp"] for p in by_index) == sorted(p["Timestamp"] for p in persons)
    indexes = [p["Person"]["Index"] for p in by_index]
    assert indexes == sorted(indexes)
    # Pagination walks the same results.
    paged, token = [], None
    while True:
        page = rek.get_face_search(JobId=job_id, MaxResults=7, **({"NextToken": token} if token else {}))
        paged += page["Persons"]
        token = page.get("NextToken")
        if not token:
            break
    assert [p["Timestamp"] for p in paged] == [p["Timestamp"] for p in persons]


@pytest.mark.slow
def test_face_detection_job_and_idempotent_start(studio: dict[str, Any]) -> None:
    rek = client(studio)
    first = rek.start_face_detection(Video=video("hamilton.mp4"), ClientRequestToken="det-1")["JobId"]
    again = rek.start_face_detection(Video=video("hamilton.mp4"), ClientRequestToken="det-1")["JobId"]
    assert first == again
    svc = Services(Settings(data_dir=studio["data"], model_cache_dir=studio["model_cache"]))
    entries = svc.audit.search(AuditFilter(action="video.face_detection"))
    svc.close()
    assert [e.details.get("job_id") for e in entries] == [
        first,
        first,
    ]  # each start is audited, naming the job
    done = wait(rek.get_face_detection, first)
    assert done["JobStatus"] == "SUCCEEDED"
    timestamps = [f["Timestamp"] for f in done["Faces"]]
    assert timestamps == sorted(timestamps) and len(timestamps) > 20
    # From the start of the video (its stream starts at 852 ms): all within [0, DurationMillis].
    assert timestamps[0] == 0 and timestamps[-1] <= done["VideoMetadata"]["DurationMillis"]
    assert all(0 <= f["Face"]["BoundingBox"]["Left"] <= 1 for f in done["Faces"])
    for face in (f["Face"] for f in done["Faces"]):  # AWS's default face attributes
        assert set(face) == FACE_DETAIL
        assert [lm["Type"] for lm in face["Landmarks"]] == [
            "eyeLeft",
            "eyeRight",
            "nose",
            "mouthLeft",
            "mouthRight",
        ]
        assert all(0 <= lm["X"] <= 1 and 0 <= lm["Y"] <= 1 for lm in face["Landmarks"])
        assert set(face["Pose"]) == {"Roll", "Yaw", "Pitch"} and set(face["Quality"]) == {
            "Brightness",
            "Sharpness",
        }


def test_unusable_videos_fail_with_a_clear_status(studio: dict[str, Any]) -> None:
    rek = client(studio)
    cases = (
        ("notes.mp4", "not"),
        ("photo.mp4", "JPEG"),
        ("empty.mp4", "empty"),
        ("audio.mp4", "no video stream"),
    )
    for name, words in cases:
        job_id = rek.start_face_detection(Video=video(name))["JobId"]
        done = wait(rek.get_face_detection, job_id, timeout=60)
        assert done["JobStatus"] == "FAILED" and words in done["StatusMessage"], done
    assert rek.list_collections()["CollectionIds"] == ["cast"]  # the server keeps serving


def test_missing_or_foreign_objects_and_the_moratorium(studio: dict[str, Any]) -> None:
    rek = client(studio)
    for s3 in (video("absent.mp4"), video("hamilton.mp4", bucket="police")):
        with pytest.raises(ClientError) as exc:
            rek.start_face_detection(Video=s3)
        assert exc.value.response["Error"]["Code"] == "InvalidS3ObjectException"
    with pytest.raises(ClientError) as exc:
        rek.get_face_search(JobId="00000000-0000-0000-0000-000000000000")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
    police = client(studio, "police")
    with pytest.raises(ClientError) as exc:
        police.start_face_search(Video=video("hamilton.mp4", bucket="police"), CollectionId="cast")
    assert exc.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "police-moratorium-2020" in exc.value.response["Error"]["Message"]
