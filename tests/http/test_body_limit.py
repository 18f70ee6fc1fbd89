"""Nothing is buffered before the caller is known: a live server refuses 200 MiB chunked bodies on every kind
of route, with a typed answer, while its resident memory stays flat (issue 12, item 1).

Each attack streams a chunked body over loopback until the server answers (or stops reading and closes), so
the traffic is bounded by what the server lets through; the server's peak RSS is sampled throughout.
"""

from __future__ import annotations

import hashlib
import json
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from keyed_server import KeyedServer, keyed_server
from memory import PeakRss

# Bodies are counted and refused before any database work (authentication is tested on both databases
# elsewhere): run once, in the SQLite pass.
pytestmark = pytest.mark.no_database

MiB = 1024 * 1024
ATTACK_BYTES = 200 * MiB
CHUNK = 256 * 1024


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    sent: int

    def json(self) -> dict[str, object]:
        found = json.loads(self.body)
        assert isinstance(found, dict)
        return found


def _read_answer(sock: socket.socket, deadline: float) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data and time.monotonic() < deadline:
        try:
            part = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not part:
            break
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines and lines[0].startswith("HTTP/1.1 "), f"no HTTP answer: {data[:200]!r}"
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length and time.monotonic() < deadline:
        try:
            part = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not part:
            break
        body += part
    return int(lines[0].split()[1]), headers, body


def attack(url: str, method: str, path: str, headers: dict[str, str], total: int = ATTACK_BYTES) -> Answer:
    """Stream ``total`` bytes chunked (no Content-Length) until the server answers; the answer and how much
    was sent. A multipart body opens a file part first, so the server's form parser takes the rest as a file."""
    host, port = url.removeprefix("http://").split(":")
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nTransfer-Encoding: chunked\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    frame = f"{CHUNK:x}\r\n".encode() + b"A" * CHUNK + b"\r\n"
    sent = 0
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode())
        if headers.get("Content-Type", "").startswith("multipart/"):
            part = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
            sock.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        deadline = time.monotonic() + 120
        while sent < total and time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock], [], 1)
            if readable:
                break  # the server answered (or closed): stop sending
            if writable:
                try:
                    sock.sendall(frame)
                except (BrokenPipeError, ConnectionResetError):
                    break
                sent += CHUNK
        else:
            if sent >= total:
                sock.sendall(b"0\r\n\r\n")
        status, answer_headers, body = _read_answer(sock, time.monotonic() + 60)
    return Answer(status, answer_headers, body, sent)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path) -> Iterator[KeyedServer]:
    with keyed_server(tmp_path_factory.mktemp("body-limit") / "var", model_cache_dir) as world:
        yield world


def _amz_date() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _target(operation: str) -> dict[str, str]:
    return {"X-Amz-Target": f"RekognitionService.{operation}", "Content-Type": "application/x-amz-json-1.1"}


def _sigv4_headers(key_id: str) -> dict[str, str]:
    """Headers that pass every check made before the body (a real key, a current date); the signature is
    only checkable once the body is read, so the body is what the server must cap."""
    date = _amz_date()
    return {
        **_target("DetectFaces"),
        "X-Amz-Date": date,
        "X-Amz-Content-SHA256": hashlib.sha256(b"whatever").hexdigest(),
        "Authorization": (
            f"AWS4-HMAC-SHA256 Credential={key_id}/{date[:8]}/eu-west-2/rekognition/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
        ),
    }


def _s3_signed() -> dict[str, str]:
    """A PutObject signed for S3 with a key that does not exist (streamed, as the SDKs send large bodies)."""
    date = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return {
        "Content-Type": "video/mp4",
        "X-Amz-Date": date,
        "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD",
        "Authorization": (
            f"AWS4-HMAC-SHA256 Credential=AKIANOSUCHKEY0000000/{date[:8]}/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=" + "0" * 64
        ),
    }


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
MULTIPART = {"Content-Type": "multipart/form-data; boundary=xyz"}
JSON = {"Content-Type": "application/json"}
OCTETS = {"Content-Type": "application/octet-stream"}


def _unauthenticated_attacks() -> list[tuple[str, str, str, dict[str, str]]]:
    return [
        ("rekognition", "POST", "/", _target("DetectFaces")),
        ("rekognition-index", "POST", "/", _target("IndexFaces")),
        ("rest-json", "POST", "/v1/faces/detect", JSON),
        ("rest-policy", "PUT", "/v1/policy", JSON),
        ("portal-signup", "POST", "/v1/portal/signup", JSON),
        ("portal-session", "POST", "/v1/portal/session", JSON),
        ("testing-multipart", "POST", "/v1/testing/runs", MULTIPART),
        ("media-upload", "PUT", "/v1/media/big.mp4", OCTETS),
        (
            "portal-clip-upload",
            "POST",
            "/v1/portal/clips?camera_id=x&started_at=2026-01-01T00:00:00Z",
            OCTETS,
        ),
        ("ui-login", "POST", "/ui/login", FORM),
        ("ui-login-multipart", "POST", "/ui/login", MULTIPART),
        ("ui-portal-signup", "POST", "/ui/portal/signup", FORM),
        ("ui-console", "POST", "/ui/console/detect", MULTIPART),
        ("ui-portal-clip-upload", "POST", "/ui/portal/clips", MULTIPART),
        ("ui-video-upload", "PUT", "/ui/video/uploads/big.mp4", {"Content-Type": "video/mp4"}),
        ("ui-video-form-upload", "POST", "/ui/video/uploads", MULTIPART),
        ("ui-collection-enrol", "POST", "/ui/collections/c/faces", MULTIPART),
        ("s3-put-object", "PUT", "/some-bucket/big.mp4", _s3_signed()),
        ("no-such-route", "POST", "/v1/nothing-here", JSON),
    ]


def _check_refusal(name: str, answer: Answer) -> None:
    """The typed refusal each kind of route owes an unauthenticated 200 MiB body."""
    if name.startswith("rekognition"):
        assert answer.status == 400 and answer.json()["__type"] == "MissingAuthenticationTokenException"
    elif name in ("rest-json", "rest-policy", "testing-multipart", "media-upload", "portal-clip-upload"):
        assert answer.status == 401 and answer.json()["error"]["code"] == "Unauthenticated"  # type: ignore[index]
    elif name == "s3-put-object":  # an unknown key: S3's XML error, from the headers alone
        assert answer.status == 403 and b"<Code>InvalidAccessKeyId</Code>" in answer.body
    elif name == "no-such-route":
        assert answer.status == 404  # answered from the path alone, nothing read
    elif name in ("portal-signup", "portal-session"):
        assert answer.status == 413 and answer.json()["error"]["code"] == "PayloadTooLarge"  # type: ignore[index]
    elif name in ("ui-login", "ui-login-multipart", "ui-portal-signup"):
        # 413 at the cap, or 400 where the form parser refuses a 64 KB field first: the error page either way
        assert answer.status in (400, 413) and answer.headers["content-type"].startswith("text/html")
        assert "content-security-policy" in answer.headers
    else:  # signed-in pages: off to the login page before the form is read
        assert answer.status == 303 and answer.headers["location"].startswith("/ui/login")


def test_unauthenticated_200_mib_bodies_are_refused_on_every_kind_of_route_without_memory_growth(
    world: KeyedServer,
) -> None:
    attacks = _unauthenticated_attacks()
    url = world.server.url
    for _, method, path, headers in attacks:  # warm every code path (imports, templates) first
        attack(url, method, path, headers, total=2 * MiB)
    answers: dict[str, Answer] = {}
    with PeakRss(world.server.process.pid) as rss:
        for name, method, path, headers in attacks:
            answers[name] = attack(url, method, path, headers)
    for name, answer in answers.items():
        print(name, answer.status, answer.sent // MiB, "MiB sent", answer.body[:120])
    for name, answer in answers.items():
        _check_refusal(name, answer)
        assert answer.sent < ATTACK_BYTES, f"{name}: the server read all {ATTACK_BYTES} bytes"
    growth = rss.growth
    print(f"peak RSS growth {growth / MiB:.1f} MiB over {rss.baseline / MiB:.0f} MiB")
    assert growth < 32 * MiB, f"server RSS grew by {growth / MiB:.1f} MiB"


def test_known_callers_bodies_stop_at_the_route_cap(world: KeyedServer) -> None:
    """A caller with a real key gets its body read, but only up to the route's cap (16 MiB for images)."""
    url = world.server.url
    bearer = {**JSON, "Authorization": f"Bearer {world.key_id}:{world.secret}"}
    attack(url, "POST", "/", _sigv4_headers(world.key_id), total=2 * MiB)
    with PeakRss(world.server.process.pid) as rss:
        rekognition = attack(url, "POST", "/", _sigv4_headers(world.key_id))
        rest = attack(url, "POST", "/v1/faces/detect", bearer)
        policy = attack(url, "PUT", "/v1/policy", bearer)
    assert rekognition.status == 400 and rekognition.json()["__type"] == "SerializationException"
    assert rest.status == 413 and rest.json()["error"]["code"] == "PayloadTooLarge"  # type: ignore[index]
    assert policy.status == 413 and policy.json()["error"]["code"] == "PayloadTooLarge"  # type: ignore[index]
    assert rest.sent < ATTACK_BYTES and rekognition.sent < ATTACK_BYTES
    growth = rss.growth
    print(f"peak RSS growth {growth / MiB:.1f} MiB over {rss.baseline / MiB:.0f} MiB")
    assert growth < 48 * MiB, f"server RSS grew by {growth / MiB:.1f} MiB"


def test_declared_lengths_over_the_cap_are_refused_before_reading(world: KeyedServer) -> None:
    host, port = world.server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            f"POST /v1/portal/signup HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {ATTACK_BYTES}\r\n\r\n".encode()
        )
        status, _, body = _read_answer(sock, time.monotonic() + 30)
    assert status == 413 and json.loads(body)["error"]["code"] == "PayloadTooLarge"
