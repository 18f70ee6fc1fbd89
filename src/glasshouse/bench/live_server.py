"""A real ``glasshouse serve`` process on a free loopback port, for end-to-end tests and benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    url: str
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]


@contextmanager
def live_server(data_dir: Path, model_cache_dir: Path, **settings: str) -> Iterator[LiveServer]:
    """Start ``glasshouse serve`` with ``GLASSHOUSE_*`` settings; stop it afterwards."""
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "GLASSHOUSE_DATA_DIR": str(data_dir),
            "GLASSHOUSE_MODEL_CACHE_DIR": str(model_cache_dir),
        }
    )
    env.setdefault("GLASSHOUSE_LOG_LEVEL", "INFO")
    env.update({f"GLASSHOUSE_{k.upper()}": v for k, v in settings.items()})
    log = (data_dir.parent / f"server-{port}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "glasshouse", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}; see {log.name}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start within 60 s; see {log.name}")
            time.sleep(0.1)
        yield LiveServer(url, data_dir, env, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
