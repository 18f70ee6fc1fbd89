"""The S3-compatible endpoint through unmodified boto3 and the AWS CLI against a live server: AWS code
that uploads with the S3 client and then names the S3Object to Rekognition runs with only endpoint
variables set; multipart, ranges, listing, checksums, aws-chunked bodies, presigned URLs, virtual-hosted
requests, tenancy and the size limit."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import crc32c
import httpx
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from glasshouse.audit.service import AuditFilter
from glasshouse.bench.live_server import live_server
from glasshouse.config import Settings
from glasshouse.governance.actor import Actor
from glasshouse.governance.policy import Capability
from glasshouse.notify.service import sign
from glasshouse.services import Services
from s3api.receiver import Receiver, receiver

SETUP = Actor(org_id="", org_name="test-setup", surface="cli", is_operator=True)
LIMIT = 12 * 1024 * 1024
TOPIC = "arn:aws:sns:eu-west-1:123456789012:AmazonRekognitionJobs"
ROLE = "arn:aws:iam::123456789012:role/RekognitionSNS"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path, shared_data: Path
) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("s3") / "var"
    svc = Services(Settings(data_dir=data, model_cache_dir=model_cache_dir))
    studio = svc.organisations.create(SETUP, "studio", sector="commercial")
    other = svc.organisations.create(SETUP, "other", sector="commercial")
    keys = {"studio": svc.keys.create(studio.id), "other": svc.keys.create(other.id)}
    actor = Actor(org_id=studio.id, org_name=studio.name, surface="cli")
    svc.collections.create(studio.id, "cast", region="eu-west-1")  # collections are regional: the clients'
    with svc.gate.guard(actor, Capability.FACE_INDEX):
        svc.collections.index_image(
            studio.id,
            "cast",
            (shared_data / "video/hamilton/lin-manuel-miranda.png").read_bytes(),
            region="eu-west-1",
            external_image_id="lin-manuel-miranda",
            max_faces=1,
        )
    with receiver() as hook:
        _, secret = svc.notifications.add(SETUP, studio.id, TOPIC, hook.url)
        svc.close()
        with live_server(
            data, model_cache_dir, throttle_rate="0", media_max_bytes=str(LIMIT), job_poll_seconds="0.2"
        ) as server:
            yield {"server": server, "keys": keys, "data": data, "hook": hook, "secret": secret}


def s3(world: dict[str, Any], org: str = "studio", secret: str | None = None, **config: Any) -> Any:
    key = world["keys"][org]
    return boto3.client(
        "s3",
        endpoint_url=world["server"].url,
        region_name="eu-west-1",
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=secret or key.secret,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, **config),
    )


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _names(client: Any, bucket: str = "studio", **kw: Any) -> list[str]:
    return [o["Key"] for o in client.list_objects_v2(Bucket=bucket, **kw).get("Contents", [])]


@pytest.mark.slow
def test_upload_file_then_face_search_with_only_endpoint_variables(
    world: dict[str, Any], shared_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key = world["keys"]["studio"]
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", world["server"].url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_REKOGNITION", world["server"].url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key.secret)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    # A fresh process's boto3: its default session caches credentials (another test's keys) once resolved.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    # What AWS's example code does, unchanged.
    s3_client, rek = boto3.client("s3"), boto3.client("rekognition")
    clip = shared_data / "video/hamilton/short_hamilton_clip.mp4"
    s3_client.upload_file(str(clip), "studio", "clips/hamilton.mp4")
    job_id = rek.start_face_search(
        Video={"S3Object": {"Bucket": "studio", "Name": "clips/hamilton.mp4"}},
        CollectionId="cast",
        JobTag="from-s3",
        NotificationChannel={"SNSTopicArn": TOPIC, "RoleArn": ROLE},
    )["JobId"]
    deadline = time.monotonic() + 300
    while (done := rek.get_face_search(JobId=job_id))["JobStatus"] == "IN_PROGRESS":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert done["JobStatus"] == "SUCCEEDED", done.get("StatusMessage")
    found = {m["Face"]["ExternalImageId"] for p in done["Persons"] for m in p["FaceMatches"]}
    assert found == {"lin-manuel-miranda"}
    # The completion notification: SNS's envelope around Rekognition's message, signed with the secret.
    hook: Receiver = world["hook"]
    deadline = time.monotonic() + 30
    while not any(json.loads(json.loads(b)["Message"])["JobId"] == job_id for _, b in hook.posts):
        assert time.monotonic() < deadline, "no notification arrived"
        time.sleep(0.2)
    headers, body = next((h, b) for h, b in hook.posts if job_id in b.decode())
    envelope = json.loads(body)
    assert envelope["Type"] == "Notification" and envelope["TopicArn"] == TOPIC
    assert headers["x-amz-sns-message-type"] == "Notification"
    assert headers["x-amz-sns-message-id"] == envelope["MessageId"]
    message = json.loads(envelope["Message"])
    assert message == {
        "JobId": job_id,
        "Status": "SUCCEEDED",
        "API": "StartFaceSearch",
        "JobTag": "from-s3",
        "Timestamp": message["Timestamp"],
        "Video": {"S3ObjectName": "clips/hamilton.mp4", "S3Bucket": "studio"},
    }
    assert abs(message["Timestamp"] / 1000 - time.time()) < 600
    stamp = int(headers["x-glasshouse-signature"].split(",")[0][2:])
    assert hmac.compare_digest(headers["x-glasshouse-signature"], sign(world["secret"], stamp, body))


def test_an_unconfigured_topic_is_refused_and_starts_nothing(world: dict[str, Any]) -> None:
    key = world["keys"]["other"]
    rek = boto3.client(
        "rekognition",
        endpoint_url=world["server"].url,
        region_name="eu-west-1",
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret,
    )
    s3(world, "other").put_object(Bucket="other", Key="v.mp4", Body=b"not a video")
    # The topic is configured, but for studio: another organisation's target is not this one's.
    with pytest.raises(ClientError) as exc:
        rek.start_face_detection(
            Video={"S3Object": {"Bucket": "other", "Name": "v.mp4"}},
            NotificationChannel={"SNSTopicArn": TOPIC, "RoleArn": ROLE},
        )
    assert code(exc) == "InvalidParameterException" and TOPIC in exc.value.response["Error"]["Message"]
    svc = Services(Settings(data_dir=world["data"]))
    other_id = svc.org_id("other")
    assert svc.jobs.list(other_id) == []
    svc.close()


def test_multipart_upload_above_8_mb_is_one_audited_object(world: dict[str, Any], tmp_path: Path) -> None:
    client = s3(world)
    payload = os.urandom(9 * MIB + 123)
    path = tmp_path / "big.bin"
    path.write_bytes(payload)
    client.upload_file(str(path), "studio", "big/one.bin")  # CreateMultipartUpload, 2 parts, Complete
    head = client.head_object(Bucket="studio", Key="big/one.bin")
    assert head["ContentLength"] == len(payload)
    assert head["ETag"] == f'"{hashlib.sha256(payload).hexdigest()}"'
    assert client.get_object(Bucket="studio", Key="big/one.bin")["Body"].read() == payload
    out = tmp_path / "back.bin"
    client.download_file("studio", "big/one.bin", str(out))
    assert out.read_bytes() == payload
    svc = Services(Settings(data_dir=world["data"]))
    entries = [
        e
        for e in svc.audit.search(AuditFilter(action="media.upload", surface="s3-api"))
        if e.details["name"] == "big/one.bin"
    ]
    svc.close()
    assert len(entries) == 1 and entries[0].details["size"] == len(payload)
    assert entries[0].actor_key == world["keys"]["studio"].access_key_id


def test_objects_ranges_listing_and_deletion(world: dict[str, Any]) -> None:
    client = s3(world)
    for name in ("list/a.txt", "list/b/1.txt", "list/b/2.txt", "list/c.txt", "list/d/x.txt", "list/e.txt"):
        client.put_object(Bucket="studio", Key=name, Body=name.encode(), ContentType="text/plain")
    got = client.get_object(Bucket="studio", Key="list/a.txt")
    assert got["Body"].read() == b"list/a.txt" and got["ContentType"] == "text/plain"
    part = client.get_object(Bucket="studio", Key="list/a.txt", Range="bytes=5-7")
    assert part["Body"].read() == b"a.t" and part["ContentRange"] == "bytes 5-7/10"
    assert client.get_object(Bucket="studio", Key="list/a.txt", Range="bytes=-3")["Body"].read() == b"txt"
    with pytest.raises(ClientError) as exc:
        client.get_object(Bucket="studio", Key="list/a.txt", Range="bytes=50-60")
    assert code(exc) == "InvalidRange"
    # Delimiter: keys and common prefixes; pagination walks them all exactly once.
    listing = client.list_objects_v2(Bucket="studio", Prefix="list/", Delimiter="/")
    assert [o["Key"] for o in listing["Contents"]] == ["list/a.txt", "list/c.txt", "list/e.txt"]
    assert [p["Prefix"] for p in listing["CommonPrefixes"]] == ["list/b/", "list/d/"]
    seen: list[str] = []
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket="studio", Prefix="list/", Delimiter="/", PaginationConfig={"PageSize": 2}
    )
    for page in pages:
        assert page["KeyCount"] <= 2
        seen += [o["Key"] for o in page.get("Contents", [])] + [
            p["Prefix"] for p in page.get("CommonPrefixes", [])
        ]
    assert sorted(seen) == ["list/a.txt", "list/b/", "list/c.txt", "list/d/", "list/e.txt"]
    assert len(seen) == 5
    seen_v1: list[str] = []  # ListObjects (V1): markers instead of continuation tokens
    for page in client.get_paginator("list_objects").paginate(
        Bucket="studio", Prefix="list/", Delimiter="/", PaginationConfig={"PageSize": 2}
    ):
        seen_v1 += [o["Key"] for o in page.get("Contents", [])]
        seen_v1 += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    assert sorted(seen_v1) == sorted(seen) and len(seen_v1) == 5
    assert _names(client, Prefix="list/", StartAfter="list/c.txt") == ["list/d/x.txt", "list/e.txt"]
    # Delete: gone; deleting again is still 204, as on S3.
    client.delete_object(Bucket="studio", Key="list/a.txt")
    client.delete_object(Bucket="studio", Key="list/a.txt")
    with pytest.raises(ClientError) as exc:
        client.get_object(Bucket="studio", Key="list/a.txt")
    assert code(exc) == "NoSuchKey"
    with pytest.raises(ClientError) as exc:
        client.head_object(Bucket="studio", Key="list/a.txt")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_checksums_are_verified(world: dict[str, Any]) -> None:
    client = s3(world)
    body = b"checksummed bytes " * 100
    for algorithm in ("CRC32", "SHA1", "SHA256"):
        answer = client.put_object(
            Bucket="studio", Key=f"sum/{algorithm}", Body=body, ChecksumAlgorithm=algorithm
        )
        assert answer[f"Checksum{algorithm}"]  # echoed once verified
    good_c = base64.b64encode(crc32c.crc32c(body).to_bytes(4, "big")).decode()
    client.put_object(Bucket="studio", Key="sum/CRC32C", Body=body, ChecksumCRC32C=good_c)
    wrong = base64.b64encode((zlib.crc32(body) ^ 1).to_bytes(4, "big")).decode()
    for kwargs in ({"ChecksumCRC32": wrong}, {"ChecksumCRC32C": wrong}):
        with pytest.raises(ClientError) as exc:
            client.put_object(Bucket="studio", Key="sum/bad", Body=body, **kwargs)
        assert code(exc) == "BadDigest"
    assert "sum/bad" not in _names(client, Prefix="sum/")
    assert len(_names(client, Prefix="sum/")) == 4


class _Signer(S3SigV4Auth):
    """botocore's S3 signer, told which payload mode the body uses (it would choose its own)."""

    def __init__(self, mode: str, *args: Any) -> None:
        super().__init__(*args)
        self.mode = mode

    def payload(self, request: Any) -> str:
        return self.mode


def _signed(
    world: dict[str, Any], method: str, url: str, mode: str, headers: dict[str, str], org: str = "studio"
) -> tuple[dict[str, str], str]:
    key = world["keys"][org]
    request = AWSRequest(method=method, url=url, headers=headers)
    _Signer(mode, Credentials(key.access_key_id, key.secret), "s3", "eu-west-1").add_auth(request)
    return dict(request.headers.items()), request.headers["Authorization"].rsplit("Signature=", 1)[1]


def _chunk_signature(world: dict[str, Any], headers: dict[str, str], previous: str, data: bytes) -> str:
    """AWS's chunk signature (checked against AWS's worked example in test_body.py)."""
    key = world["keys"]["studio"].secret
    date = headers["X-Amz-Date"]
    scope = f"{date[:8]}/eu-west-1/s3/aws4_request"
    signing = ("AWS4" + key).encode()
    for part in (date[:8], "eu-west-1", "s3", "aws4_request"):
        signing = hmac.new(signing, part.encode(), hashlib.sha256).digest()
    empty = hashlib.sha256(b"").hexdigest()
    text = (
        f"AWS4-HMAC-SHA256-PAYLOAD\n{date}\n{scope}\n{previous}\n{empty}\n{hashlib.sha256(data).hexdigest()}"
    )
    return hmac.new(signing, text.encode(), hashlib.sha256).hexdigest()


def test_aws_chunked_bodies_signed_chunk_by_chunk_and_with_a_trailer(world: dict[str, Any]) -> None:
    url = world["server"].url
    client = s3(world)
    chunks = [os.urandom(65536), os.urandom(65536), os.urandom(1000)]
    payload = b"".join(chunks)
    base = {
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(payload)),
        "Content-Type": "application/octet-stream",
    }

    def signed_body(tamper: bool = False) -> tuple[dict[str, str], bytes]:
        headers, seed = _signed(
            world, "PUT", f"{url}/studio/chunked.bin", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", dict(base)
        )
        body, previous = b"", seed
        for data in [*chunks, b""]:
            previous = _chunk_signature(world, headers, previous, data)
            sent = data[:-1] + b"X" if tamper and len(data) == 1000 else data
            body += f"{len(data):x};chunk-signature={previous}\r\n".encode() + sent + b"\r\n"
        return headers, body

    headers, body = signed_body()
    assert httpx.put(f"{url}/studio/chunked.bin", content=body, headers=headers).status_code == 200
    assert client.get_object(Bucket="studio", Key="chunked.bin")["Body"].read() == payload
    headers, body = signed_body(tamper=True)
    answer = httpx.put(f"{url}/studio/chunked-bad.bin", content=body, headers=headers)
    assert answer.status_code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in answer.content
    assert "chunked-bad.bin" not in _names(client)
    # STREAMING-UNSIGNED-PAYLOAD-TRAILER: plain chunks, the CRC32 in the trailer (what boto3 sends over https).
    for crc, expected in ((zlib.crc32(payload), 200), (zlib.crc32(payload) ^ 1, 400)):
        trailer_headers = {**base, "x-amz-trailer": "x-amz-checksum-crc32"}
        headers, _ = _signed(
            world, "PUT", f"{url}/studio/trailer.bin", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", trailer_headers
        )
        value = base64.b64encode(crc.to_bytes(4, "big")).decode()
        body = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks)
        body += f"0\r\nx-amz-checksum-crc32:{value}\r\n\r\n".encode()
        answer = httpx.put(f"{url}/studio/trailer.bin", content=body, headers=headers)
        assert answer.status_code == expected, answer.text
    assert answer.content.count(b"<Code>BadDigest</Code>") == 1
    assert client.get_object(Bucket="studio", Key="trailer.bin")["Body"].read() == payload  # the good one
    # A plain body whose signed SHA-256 does not match what arrives.
    headers, _ = _signed(world, "PUT", f"{url}/studio/hash.bin", hashlib.sha256(b"other").hexdigest(), {})
    answer = httpx.put(f"{url}/studio/hash.bin", content=b"these bytes", headers=headers)
    assert answer.status_code == 400 and b"XAmzContentSHA256Mismatch" in answer.content
    assert "hash.bin" not in _names(client)


def test_presigned_and_virtual_hosted_requests(world: dict[str, Any]) -> None:
    client = s3(world, signature_version="s3v4")
    client.put_object(Bucket="studio", Key="share me.txt", Body=b"presigned")
    link = client.generate_presigned_url(
        "get_object", Params={"Bucket": "studio", "Key": "share me.txt"}, ExpiresIn=60
    )
    assert httpx.get(link).content == b"presigned"
    assert httpx.get(link.replace("share%20me", "share%20you")).status_code == 403  # signature covers the key
    # boto3's default presigned URL for S3 is Signature Version 2 (AWSAccessKeyId, Expires, Signature).
    v2 = s3(world).generate_presigned_url(
        "get_object",
        Params={"Bucket": "studio", "Key": "share me.txt", "ResponseContentType": "text/plain"},
        ExpiresIn=60,
    )
    assert "AWSAccessKeyId=" in v2
    answer = httpx.get(v2)
    assert answer.content == b"presigned" and answer.headers["content-type"] == "text/plain"
    assert httpx.get(v2.replace("text%2Fplain", "text%2Fhtml")).status_code == 403
    port = world["server"].url.rsplit(":", 1)[1]
    host = f"studio.localhost:{port}"
    headers, _ = _signed(world, "GET", f"http://{host}/share%20me.txt", "UNSIGNED-PAYLOAD", {})
    answer = httpx.get(f"{world['server'].url}/share%20me.txt", headers={**headers, "Host": host})
    assert answer.status_code == 200 and answer.content == b"presigned"


def test_tenancy_other_buckets_do_not_exist(world: dict[str, Any]) -> None:
    client, other = s3(world), s3(world, "other")
    client.put_object(Bucket="studio", Key="private.txt", Body=b"studio only")
    assert [b["Name"] for b in other.list_buckets()["Buckets"]] == ["other"]
    assert [b["Name"] for b in client.list_buckets()["Buckets"]] == ["studio"]
    calls = {
        "get": lambda bucket: other.get_object(Bucket=bucket, Key="private.txt"),
        "put": lambda bucket: other.put_object(Bucket=bucket, Key="private.txt", Body=b"overwrite"),
        "list": lambda bucket: other.list_objects_v2(Bucket=bucket),
        "delete": lambda bucket: other.delete_object(Bucket=bucket, Key="private.txt"),
        "multipart": lambda bucket: other.create_multipart_upload(Bucket=bucket, Key="x"),
    }
    for bucket in ("studio", "portal-shared", "no-such-bucket"):
        for name, call in calls.items():
            with pytest.raises(ClientError) as exc:
                call(bucket)
            assert code(exc) == "NoSuchBucket", (bucket, name)
            assert exc.value.response["Error"]["Message"] == "The specified bucket does not exist"
    assert client.get_object(Bucket="studio", Key="private.txt")["Body"].read() == b"studio only"
    # An upload id is the organisation's own: another organisation's id does not exist for it.
    upload_id = client.create_multipart_upload(Bucket="studio", Key="mp.bin")["UploadId"]
    with pytest.raises(ClientError) as exc:
        other.upload_part(Bucket="other", Key="mp.bin", UploadId=upload_id, PartNumber=1, Body=b"x")
    assert code(exc) == "NoSuchUpload"
    client.abort_multipart_upload(Bucket="studio", Key="mp.bin", UploadId=upload_id)
    with pytest.raises(ClientError) as exc:
        client.upload_part(Bucket="studio", Key="mp.bin", UploadId=upload_id, PartNumber=1, Body=b"x")
    assert code(exc) == "NoSuchUpload"


def test_bad_credentials_and_other_surfaces_unaffected(world: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as exc:
        s3(world, secret="x" * 40).list_objects_v2(Bucket="studio")
    assert code(exc) == "SignatureDoesNotMatch"
    client = boto3.client(
        "s3",
        endpoint_url=world["server"].url,
        region_name="eu-west-1",
        aws_access_key_id="GHNOSUCHKEY000000000",
        aws_secret_access_key="x" * 40,
    )
    with pytest.raises(ClientError) as exc:
        client.list_objects_v2(Bucket="studio")
    assert code(exc) == "InvalidAccessKeyId"
    # Unsigned requests still reach the UI and REST; GET / still redirects a browser to the UI.
    answer = httpx.get(world["server"].url + "/", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/"
    assert httpx.get(world["server"].url + "/health").status_code == 200


def test_the_media_size_limit_holds(world: dict[str, Any], tmp_path: Path) -> None:
    client = s3(world)
    with pytest.raises(ClientError) as exc:
        client.put_object(Bucket="studio", Key="huge.bin", Body=b"x" * (LIMIT + 1))
    assert code(exc) == "EntityTooLarge"
    path = tmp_path / "huge.bin"
    path.write_bytes(b"y" * (LIMIT + MIB))
    with pytest.raises(Exception, match="EntityTooLarge"):
        client.upload_file(str(path), "studio", "huge-multipart.bin")
    assert not {"huge.bin", "huge-multipart.bin"} & set(_names(client))


def test_aws_cli_cp_and_ls(world: dict[str, Any], tmp_path: Path, shared_data: Path) -> None:
    key = world["keys"]["studio"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL_S3=world["server"].url,
        AWS_ACCESS_KEY_ID=key.access_key_id,
        AWS_SECRET_ACCESS_KEY=key.secret,
        AWS_DEFAULT_REGION="eu-west-1",
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
    )
    aws = str(Path(sys.executable).parent / "aws")
    clip = shared_data / "video/hamilton/short_hamilton_clip.mp4"

    def run(*args: str) -> str:
        done = subprocess.run([aws, *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("s3", "cp", str(clip), "s3://studio/cli/hamilton.mp4")
    listing = run("s3", "ls", "s3://studio/cli/")
    assert "hamilton.mp4" in listing and str(clip.stat().st_size) in listing
    assert "studio" in run("s3", "ls")
    run("s3", "cp", "s3://studio/cli/hamilton.mp4", str(tmp_path / "back.mp4"))
    assert (tmp_path / "back.mp4").read_bytes() == clip.read_bytes()


def test_what_an_attacker_tries(world: dict[str, Any]) -> None:
    url = world["server"].url
    client = s3(world)
    client.put_object(Bucket="studio", Key="target.txt", Body=b"data")
    # A header injection through a response override is refused.
    headers, _ = _signed(
        world,
        "GET",
        f"{url}/studio/target.txt?response-content-type=text%2Fplain%0D%0ASet-Cookie%3A%20x",
        "UNSIGNED-PAYLOAD",
        {},
    )
    answer = httpx.get(
        f"{url}/studio/target.txt?response-content-type=text%2Fplain%0D%0ASet-Cookie%3A%20x", headers=headers
    )
    assert answer.status_code == 400 and "set-cookie" not in answer.headers
    # An endless CompleteMultipartUpload document is cut off, not buffered.
    upload_id = client.create_multipart_upload(Bucket="studio", Key="mp.bin")["UploadId"]
    target = f"{url}/studio/mp.bin?uploadId={upload_id}"
    headers, _ = _signed(world, "POST", target, "UNSIGNED-PAYLOAD", {})

    def endless() -> Iterator[bytes]:
        yield b"<CompleteMultipartUpload>"
        for _ in range(4096):
            yield b"<Part>" + b" " * 1024 + b"</Part>"

    answer = httpx.post(target, content=endless(), headers=headers)
    assert answer.status_code == 400 and b"MaxMessageLengthExceeded" in answer.content
    # XML entities are refused (no expansion).
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><CompleteMultipartUpload>&a;</CompleteMultipartUpload>'
    headers, _ = _signed(world, "POST", target, hashlib.sha256(bomb).hexdigest(), {})
    answer = httpx.post(target, content=bomb, headers=headers)
    assert answer.status_code == 400 and b"MalformedXML" in answer.content
    # A key that climbs out of the bucket is refused; nothing is written outside.
    climb = f"{url}/studio/a/%2E%2E/%2E%2E/etc/x"  # encoded, so no client normalises it away
    headers, _ = _signed(world, "PUT", climb, hashlib.sha256(b"x").hexdigest(), {})
    answer = httpx.put(climb, content=b"x", headers=headers)
    assert answer.status_code == 400 and b"InvalidArgument" in answer.content
    # A SigV2 presigned URL valid for longer than a week is refused.
    key = world["keys"]["studio"]
    expires = str(int(time.time()) + 30 * 86400)
    to_sign = f"GET\n\n\n{expires}\n/studio/target.txt".encode()
    signature = base64.b64encode(hmac.new(key.secret.encode(), to_sign, hashlib.sha1).digest()).decode()
    link = httpx.URL(
        f"{url}/studio/target.txt",
        params={"AWSAccessKeyId": key.access_key_id, "Expires": expires, "Signature": signature},
    )
    assert httpx.get(link).status_code == 403
    # Anything signed for s3 is the S3 API, whatever the path: it cannot reach the UI or REST unsigned.
    headers, _ = _signed(world, "GET", f"{url}/ui/", "UNSIGNED-PAYLOAD", {})
    answer = httpx.get(f"{url}/ui/", headers=headers)
    assert answer.status_code == 404 and b"<Code>NoSuchBucket</Code>" in answer.content
