"""Through boto3: an IndexFaces or a search that would mix face models in a collection is refused with
InvalidParameterException and changes nothing.

Collections take their embedding dimension from their model's card (the model registry, built elsewhere);
here a collection's dimension is set to 192 (MobileFaceNet's) in the database, so the server's default
128-d engine is the "other model" whose faces must not enter it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import update

from aws_clients import raises
from glasshouse import db
from glasshouse.bench.live_server import LiveServer
from glasshouse.collections.models import Collection
from glasshouse.config import Settings
from glasshouse.services import Services


def _set_dimension(srv: LiveServer, name: str, dim: int) -> None:
    url = srv.env.get("GLASSHOUSE_DATABASE_URL")  # the server's database (PostgreSQL runs), else its SQLite
    svc = Services(Settings(data_dir=srv.data_dir, database_url=url))
    try:
        with db.transaction(svc.sessions) as session:
            done = session.execute(
                update(Collection).where(Collection.name == name).values(embedding_dim=dim)
            )
            assert done.rowcount == 1  # type: ignore[attr-defined]
    finally:
        svc.close()


def test_faces_of_another_model_are_refused(
    rek: Any, server: tuple[LiveServer, dict[str, Any]], shared_data: Path
) -> None:
    photo = {"Bytes": (shared_data / "face_recognition/examples/biden.jpg").read_bytes()}
    rek.create_collection(CollectionId="wide192")
    _set_dimension(server[0], "wide192", 192)
    message = raises("InvalidParameterException", rek.index_faces, CollectionId="wide192", Image=photo)
    assert "192" in message and "128" in message
    raises("InvalidParameterException", rek.search_faces_by_image, CollectionId="wide192", Image=photo)
    assert rek.list_faces(CollectionId="wide192")["Faces"] == []
    assert rek.describe_collection(CollectionId="wide192")["FaceCount"] == 0
    # The same image still enrols into a collection of the engine's own dimension.
    rek.create_collection(CollectionId="own128")
    assert len(rek.index_faces(CollectionId="own128", Image=photo)["FaceRecords"]) == 1
    rek.delete_collection(CollectionId="own128")
    rek.delete_collection(CollectionId="wide192")
