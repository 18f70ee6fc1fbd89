"""A live server (its own process) with one commercial organisation and an access key for it: the set-up of
the tests that attack or load the server from outside, as a client would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from glasshouse.bench.live_server import LiveServer, live_server
from glasshouse.config import Settings
from glasshouse.governance.actor import Actor
from glasshouse.services import Services


@dataclass(frozen=True)
class KeyedServer:
    server: LiveServer
    key_id: str
    secret: str


@contextmanager
def keyed_server(data: Path, model_cache_dir: Path, **settings: str) -> Iterator[KeyedServer]:
    """Organisation ``acme`` and its key in ``data``, then a live server on it (``settings`` as for
    :func:`live_server`); no request throttling and no retention sweeps unless ``settings`` say otherwise."""
    svc = Services(Settings(data_dir=data, model_cache_dir=model_cache_dir))
    org = svc.organisations.create(
        Actor(org_id="", org_name="setup", surface="cli"), "acme", sector="commercial"
    )
    key = svc.keys.create(org.id)
    svc.close()
    options = {"throttle_rate": "0", "retention_sweep_seconds": "0", **settings}
    with live_server(data, model_cache_dir, **options) as server:
        yield KeyedServer(server, key.access_key_id, key.secret)
