"""``/v1/media`` over HTTP: streamed round trip of a real clip, tenancy, limits, cut-off uploads, the CLI."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from glasshouse.bench.live_server import live_server
from glasshouse.cli.media import media_app
from glasshouse.config import Settings
from glasshouse.governance.actor import Actor
from glasshouse.services import Services
from media.conftest import MediaWorld


def file_chunks(path: Path, size: int = 64 * 1024) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(size):
            yield chunk


def test_upload_download_round_trip_of_a_real_clip(world: MediaWorld, clip: Path) -> None:
    expected = hashlib.sha256(clip.read_bytes()).hexdigest()
    headers = {**world.acme_headers, "Content-Type": "video/mp4"}
    put = world.client.put("/v1/media/hamilton/short clip.mp4", content=file_chunks(clip), headers=headers)
    assert put.status_code == 200, put.text
    assert put.json()["sha256"] == expected and put.json()["size"] == clip.stat().st_size
    [stored] = world.stored_files()
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == expected

    with world.client.stream("GET", "/v1/media/hamilton/short clip.mp4", headers=world.acme_headers) as got:
        assert got.status_code == 200
        digest = hashlib.sha256()
        for chunk in got.iter_bytes():
            digest.update(chunk)
    assert digest.hexdigest() == expected
    assert got.headers["content-type"] == "video/mp4"
    assert got.headers["content-length"] == str(clip.stat().st_size)
    assert got.headers["etag"] == f'"{expected}"' and got.headers["x-glasshouse-sha256"] == expected

    listing = world.client.get("/v1/media", headers=world.acme_headers).json()["objects"]
    assert [(o["name"], o["sha256"]) for o in listing] == [("hamilton/short clip.mp4", expected)]
    assert (
        world.client.delete("/v1/media/hamilton/short clip.mp4", headers=world.acme_headers).status_code
        == 204
    )
    assert world.stored_files() == [] and world.rows() == 0


def test_content_type_is_guessed_from_the_name_when_not_sent(world: MediaWorld) -> None:
    put = world.client.put("/v1/media/x.mp4", content=iter([b"abc"]), headers=world.acme_headers)
    assert put.status_code == 200 and put.json()["content_type"] == "video/mp4"


def test_another_organisation_gets_404_like_a_missing_object(world: MediaWorld) -> None:
    assert (
        world.client.put("/v1/media/acme.mp4", content=b"acme", headers=world.acme_headers).status_code == 200
    )
    missing = world.client.get("/v1/media/nothing.mp4", headers=world.acme_headers)
    assert missing.status_code == 404
    for method in ("GET", "DELETE"):
        foreign = world.client.request(method, "/v1/media/acme.mp4", headers=world.other_headers)
        assert foreign.status_code == 404, method
        assert foreign.json()["error"]["code"] == missing.json()["error"]["code"] == "MediaNotFound"
    assert world.client.get("/v1/media", headers=world.other_headers).json() == {"objects": []}
    assert world.client.get("/v1/media/acme.mp4", headers=world.acme_headers).content == b"acme"


def test_authentication_is_required(world: MediaWorld) -> None:
    assert world.client.put("/v1/media/a.bin", content=b"x").status_code == 401
    assert world.client.get("/v1/media").status_code == 401
    assert world.stored_files() == []


def test_path_traversal_names_are_refused(world: MediaWorld) -> None:
    # Encoded, so the client does not normalise them away; the server decodes them to "a/../b" etc.
    for path in ("/v1/media/a/%2E%2E/b", "/v1/media/a%2F..%2F..%2Fb", "/v1/media/%2Fetc%2Fpasswd"):
        answer = world.client.put(path, content=b"x", headers=world.acme_headers)
        assert answer.status_code == 400, (path, answer.text)
        assert answer.json()["error"]["code"] == "InvalidParameter"
    assert world.stored_files() == [] and world.rows() == 0


def test_too_large_uploads_are_refused_with_413(small_world: MediaWorld) -> None:
    w = small_world
    declared = w.client.put("/v1/media/big.bin", content=b"x" * 1001, headers=w.acme_headers)
    assert declared.status_code == 413 and declared.json()["error"]["code"] == "MediaTooLarge"
    chunked = w.client.put("/v1/media/big.bin", content=iter([b"x" * 600] * 5), headers=w.acme_headers)
    assert chunked.status_code == 413  # no Content-Length: refused while streaming
    assert w.stored_files() == [] and w.rows() == 0


class Boom(Exception):
    pass


def test_client_generator_failing_mid_upload_leaves_nothing(world: MediaWorld) -> None:
    def body() -> Iterator[bytes]:
        yield b"x" * 100_000
        raise Boom("client crashed")

    with pytest.raises(Boom):
        world.client.put("/v1/media/cut.bin", content=body(), headers=world.acme_headers)
    assert world.stored_files() == [] and world.rows() == 0


def _asgi_put(world: MediaWorld, messages: list[dict[str, Any]], declared: int) -> tuple[int, bytes]:
    """PUT straight into the ASGI app with a hand-made ``receive`` (a body that ends early)."""
    headers = [(k.lower().encode(), v.encode()) for k, v in world.acme_headers.items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PUT",
        "scheme": "http",
        "path": "/v1/media/short.bin",
        "raw_path": b"/v1/media/short.bin",
        "query_string": b"",
        "root_path": "",
        "headers": [*headers, (b"content-length", str(declared).encode())],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    # A fresh thread owns its own event loop, whatever loop this thread may already run (Playwright's).
    worker = threading.Thread(target=lambda: asyncio.run(world.client.app(scope, receive, send)))  # type: ignore[arg-type]
    worker.start()
    worker.join()
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_body_shorter_than_content_length_leaves_nothing(world: MediaWorld) -> None:
    status, body = _asgi_put(world, [{"type": "http.request", "body": b"x" * 100, "more_body": False}], 1000)
    assert status == 400 and json.loads(body)["error"]["code"] == "IncompleteBody"
    assert world.stored_files() == [] and world.rows() == 0


def test_client_disconnect_mid_upload_leaves_nothing(world: MediaWorld) -> None:
    messages = [{"type": "http.request", "body": b"x" * 100, "more_body": True}, {"type": "http.disconnect"}]
    status, _ = _asgi_put(world, messages, 1000)
    assert status == 400
    assert world.stored_files() == [] and world.rows() == 0


def stored(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "media").rglob("*") if p.is_file()]


def _wait(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_connection_closed_mid_upload_on_a_real_server_leaves_nothing(
    tmp_path: Path, model_cache_dir: Path
) -> None:
    data = tmp_path / "var"
    svc = Services(Settings(data_dir=data, model_cache_dir=model_cache_dir))
    org = svc.organisations.create(
        Actor(org_id="", org_name="setup", surface="cli"), "acme", sector="commercial"
    )
    key = svc.keys.create(org.id)
    with live_server(data, model_cache_dir, throttle_rate="0", retention_sweep_seconds="0") as server:
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as sock:
            head = (
                f"PUT /v1/media/cut.bin HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5000000\r\n"
                f"Authorization: Bearer {key.access_key_id}:{key.secret}\r\n\r\n"
            )
            sock.sendall(head.encode() + b"x" * 1_000_000)  # a fifth of the announced body, then hang up
            assert _wait(lambda: bool(stored(data)), 10), "the upload never started streaming to disk"
        assert _wait(lambda: not stored(data), 10), stored(data)
        assert svc.media.list(org.id) == []
    svc.close()


def test_cli_put_list_rm(settings: Settings, clip: Path) -> None:
    runner = CliRunner()
    put = runner.invoke(media_app, ["put", str(clip), "--name", "clips/hamilton.mp4"])
    assert put.exit_code == 0, put.output
    info = json.loads(put.stdout)
    assert info["sha256"] == hashlib.sha256(clip.read_bytes()).hexdigest()
    assert info["content_type"] == "video/mp4"
    listed = runner.invoke(media_app, ["list"])
    assert [o["name"] for o in json.loads(listed.stdout)] == ["clips/hamilton.mp4"]
    assert runner.invoke(media_app, ["rm", "clips/hamilton.mp4"]).exit_code == 0
    missing = runner.invoke(media_app, ["rm", "clips/hamilton.mp4"])
    assert missing.exit_code == 1 and "MediaNotFound" in missing.output
    assert json.loads(runner.invoke(media_app, ["list"]).stdout) == []
