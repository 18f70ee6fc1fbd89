"""The byte stores: atomic writes, key validation, and the S3 store against moto's S3 server."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from glasshouse.config import Settings
from glasshouse.errors import InvalidParameterError, NotFoundError
from glasshouse.media.store import LocalMediaStore, S3MediaStore, check_key, store_from_settings


class Boom(Exception):
    pass


def chunks_then_fail(n: int, size: int = 1000) -> Iterator[bytes]:
    for i in range(n):
        yield bytes([i % 256]) * size
    raise Boom("connection lost")


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_local_put_open_size_delete(tmp_path: Path) -> None:
    store = LocalMediaStore(tmp_path / "media")
    data = os.urandom(3 * 1024 * 1024 + 17)
    size, sha = store.put_stream("org/abc", [data[:1000], data[1000:]])
    assert (size, sha) == (len(data), hashlib.sha256(data).hexdigest())
    assert store.exists("org/abc") and store.size("org/abc") == len(data)
    with store.open("org/abc") as f:
        assert f.read() == data
    store.delete("org/abc")
    assert not store.exists("org/abc")
    store.delete("org/abc")  # idempotent
    with pytest.raises(NotFoundError):
        store.open("org/abc")
    with pytest.raises(NotFoundError):
        store.size("org/abc")


def test_local_put_interrupted_leaves_nothing(tmp_path: Path) -> None:
    store = LocalMediaStore(tmp_path / "media")
    store.put_stream("org/keep", [b"old bytes"])
    with pytest.raises(Boom):
        store.put_stream("org/new", chunks_then_fail(50))
    with pytest.raises(Boom):
        store.put_stream("org/keep", chunks_then_fail(50))  # an interrupted overwrite keeps the old bytes
    assert not store.exists("org/new")
    assert files_under(tmp_path) == [tmp_path / "media" / "org" / "keep"]  # no temporary left either
    with store.open("org/keep") as f:
        assert f.read() == b"old bytes"


@pytest.mark.parametrize(
    "key",
    [
        "../escape",
        "org/../../escape",
        "/etc/passwd",
        "org/./x",
        "org//x",
        ".tmp/x",
        "org\\..\\x",
        "",
        "org/x/",
        "a b",
        "org/\x00",
        "x" * 600,
    ],
)
def test_unsafe_keys_are_refused(tmp_path: Path, key: str) -> None:
    store = LocalMediaStore(tmp_path / "media")
    with pytest.raises(InvalidParameterError):
        check_key(key)
    with pytest.raises(InvalidParameterError):
        store.put_stream(key, [b"x"])
    with pytest.raises(InvalidParameterError):
        store.open(key)
    with pytest.raises(InvalidParameterError):
        store.delete(key)
    assert files_under(tmp_path) == []


def test_symlink_out_of_the_store_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "media"
    root.mkdir()
    (root / "org").symlink_to(outside, target_is_directory=True)
    store = LocalMediaStore(root)
    with pytest.raises(InvalidParameterError):
        store.put_stream("org/x", [b"x"])
    assert not any(outside.iterdir())


def test_store_from_settings(tmp_path: Path) -> None:
    local = store_from_settings(Settings(data_dir=tmp_path))
    assert isinstance(local, LocalMediaStore) and local.root == (tmp_path / "media").resolve()
    with pytest.raises(InvalidParameterError, match="S3_BUCKET"):
        store_from_settings(Settings(data_dir=tmp_path, media_backend="s3"))


# -- S3, against moto's S3 server on a loopback port ----------------------------------------------------
moto_server = pytest.importorskip("moto.server", reason="moto[server] is not installed")
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> S3MediaStore:
    import boto3

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    bucket = f"media-{os.urandom(4).hex()}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return S3MediaStore(bucket, s3_endpoint, "us-east-1", part_size=5 * MIB)


def test_s3_small_and_multipart_round_trip(s3: S3MediaStore) -> None:
    for key, data in {"org/small": os.urandom(1000), "org/large": os.urandom(11 * MIB + 3)}.items():
        pieces = (data[i : i + 300_000] for i in range(0, len(data), 300_000))
        assert s3.put_stream(key, pieces) == (len(data), hashlib.sha256(data).hexdigest())
        assert s3.exists(key) and s3.size(key) == len(data)
        with s3.open(key) as f:
            assert f.read(10) == data[:10]
            assert f.read() == data[10:]
        s3.delete(key)
        assert not s3.exists(key)
    with pytest.raises(NotFoundError):
        s3.open("org/small")
    with pytest.raises(NotFoundError):
        s3.size("org/small")


def test_s3_interrupted_upload_leaves_no_object_and_no_pending_upload(s3: S3MediaStore) -> None:
    with pytest.raises(Boom):
        s3.put_stream("org/cut", chunks_then_fail(12, size=MIB))  # two parts sent, then the failure
    assert not s3.exists("org/cut")
    assert s3.client.list_objects_v2(Bucket=s3.bucket).get("KeyCount") == 0
    assert s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []
    with pytest.raises(Boom):
        s3.put_stream("org/cut", chunks_then_fail(1))  # below one part: nothing was sent at all
    assert not s3.exists("org/cut")


def test_s3_refuses_unsafe_keys(s3: S3MediaStore) -> None:
    with pytest.raises(InvalidParameterError):
        s3.put_stream("../x", [b"x"])
    with pytest.raises(InvalidParameterError):
        s3.open("/x")
