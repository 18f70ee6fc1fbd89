"""A live server with two organisations' keys, and boto3 clients for each."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aws_clients import SHAPE_PROBLEMS, make_client
from glasshouse.bench.live_server import LiveServer, live_server
from glasshouse.config import Settings
from glasshouse.services import Services

ORGS = ("acme", "globex")


@pytest.fixture(scope="session")
def server(
    tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path
) -> Iterator[tuple[LiveServer, dict[str, Any]]]:
    data = tmp_path_factory.mktemp("rekognition") / "var"
    svc = Services(Settings(data_dir=data, model_cache_dir=model_cache_dir))
    keys = {org: svc.keys.create(svc.org_id(org)) for org in ORGS}
    svc.close()
    with live_server(data, model_cache_dir, throttle_rate="0") as srv:
        yield srv, keys


@pytest.fixture(autouse=True)
def responses_match_botocore_shapes() -> Iterator[None]:
    """Fails any test during which the server answered with a response that breaks the output shape."""
    SHAPE_PROBLEMS.clear()
    yield
    assert SHAPE_PROBLEMS == []


@pytest.fixture(scope="session")
def client_for(server: tuple[LiveServer, dict[str, Any]]) -> Callable[[str], Any]:
    srv, keys = server
    return lambda org: make_client(srv.url, keys[org].access_key_id, keys[org].secret)


@pytest.fixture(scope="session")
def rek(client_for: Callable[[str], Any]) -> Any:
    """boto3 Rekognition client of organisation ``acme``."""
    return client_for("acme")


@pytest.fixture(scope="session")
def rek_other(client_for: Callable[[str], Any]) -> Any:
    """boto3 Rekognition client of organisation ``globex``."""
    return client_for("globex")
