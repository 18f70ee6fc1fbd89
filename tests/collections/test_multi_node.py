"""Several `glasshouse serve` processes on one PostgreSQL: no node serves stale faces or collections.

PostgreSQL only: on SQLite each process keeps its own in-memory index (one node per database file)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from pydantic import SecretStr

from aws_clients import make_client
from glasshouse.bench.live_server import LiveServer, live_server
from glasshouse.config import Settings
from glasshouse.services import Services

EXAMPLES = Path("face_recognition/examples")


@pytest.fixture
def two_nodes(settings: Settings, model_cache_dir: Path) -> Iterator[tuple[Any, Any]]:
    """Two servers, each with its own data directory, sharing the test's PostgreSQL database and the
    server key (GLASSHOUSE_SECRET_KEY: every node must open the access-key secrets the others sealed)."""
    if not (settings.database_url or "").startswith("postgresql"):
        pytest.skip("several API nodes share one database on PostgreSQL only (GLASSHOUSE_TEST_DATABASE)")
    server_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    settings = settings.model_copy(update={"secret_key": SecretStr(server_key)})
    svc = Services(settings)
    key = svc.keys.create(svc.org_id("acme"))
    svc.close()
    with ExitStack() as stack:
        nodes: list[LiveServer] = []
        for i in (1, 2):
            data = settings.data_dir.parent / f"node{i}" / "var"
            data.mkdir(parents=True)
            nodes.append(
                stack.enter_context(
                    live_server(data, model_cache_dir, throttle_rate="0", secret_key=server_key)
                )
            )
        assert all(n.env["GLASSHOUSE_DATABASE_URL"] == settings.database_url for n in nodes)
        a, b = (make_client(n.url, key.access_key_id, key.secret) for n in nodes)
        yield a, b


def test_a_face_indexed_on_one_node_is_found_on_the_other_at_once(
    two_nodes: tuple[Any, Any], shared_data: Path
) -> None:
    a, b = two_nodes
    obama = (shared_data / EXAMPLES / "obama.jpg").read_bytes()
    obama2 = (shared_data / EXAMPLES / "obama2.jpg").read_bytes()
    biden = (shared_data / EXAMPLES / "biden.jpg").read_bytes()
    a.create_collection(CollectionId="shared")
    # Node b searches first, so anything it might cache about the collection exists before the write.
    assert b.search_faces_by_image(CollectionId="shared", Image={"Bytes": obama2})["FaceMatches"] == []

    indexed = a.index_faces(CollectionId="shared", Image={"Bytes": obama}, ExternalImageId="obama")
    face_id = indexed["FaceRecords"][0]["Face"]["FaceId"]
    found = b.search_faces_by_image(CollectionId="shared", Image={"Bytes": obama2})["FaceMatches"]
    assert [m["Face"]["FaceId"] for m in found] == [face_id]
    assert found[0]["Similarity"] > 90
    assert b.search_faces_by_image(CollectionId="shared", Image={"Bytes": biden})["FaceMatches"] == []

    a.delete_faces(CollectionId="shared", FaceIds=[face_id])
    assert b.search_faces_by_image(CollectionId="shared", Image={"Bytes": obama2})["FaceMatches"] == []


def test_a_collection_deleted_on_one_node_is_gone_on_the_other(
    two_nodes: tuple[Any, Any], shared_data: Path
) -> None:
    a, b = two_nodes
    obama = (shared_data / EXAMPLES / "obama.jpg").read_bytes()
    a.create_collection(CollectionId="doomed")
    b.index_faces(CollectionId="doomed", Image={"Bytes": obama})
    assert b.describe_collection(CollectionId="doomed")["FaceCount"] == 1
    assert len(b.search_faces_by_image(CollectionId="doomed", Image={"Bytes": obama})["FaceMatches"]) == 1

    a.delete_collection(CollectionId="doomed")
    for call in (
        lambda: b.describe_collection(CollectionId="doomed"),
        lambda: b.search_faces_by_image(CollectionId="doomed", Image={"Bytes": obama}),
    ):
        with pytest.raises(ClientError) as err:
            call()
        assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    # Re-created under the same name, it starts empty on both nodes.
    b.create_collection(CollectionId="doomed")
    assert a.search_faces_by_image(CollectionId="doomed", Image={"Bytes": obama})["FaceMatches"] == []
