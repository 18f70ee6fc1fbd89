"""Migration 0012 on the backend under test: collections made before regions existed get the configured
default region and the engine's model identifier, and keep their faces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from glasshouse import db
from glasshouse.collections.models import Collection, Face
from glasshouse.organisations.models import Organisation


def _alembic(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(db.__file__).parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", db.normalise_url(url).replace("%", "%%"))
    return cfg


def test_existing_collections_get_the_default_region_and_keep_their_faces(
    tmp_path: Path, fresh_database_url: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = fresh_database_url() or f"sqlite:///{tmp_path / 'old.sqlite'}"
    db.upgrade(url)
    engine = db.make_engine(url)
    sessions = db.make_sessionmaker(engine)
    with db.transaction(sessions) as session:
        org = Organisation(name="old-org")
        session.add(org)
        session.flush()
        collection = Collection(org_id=org.id, region="x", name="staff", face_model_version="x")
        session.add(collection)
        session.flush()
        session.add(
            Face(
                collection_id=collection.id,
                image_id=db.new_id(),
                image_sha256="0" * 64,
                image_width=100,
                image_height=100,
                box_left=10.0,
                box_top=10.0,
                box_width=50.0,
                box_height=50.0,
                confidence=0.99,
                landmarks=[[20.0, 20.0]] * 5,
                quality={"brightness": 50.0, "sharpness": 50.0},
                pose={"roll": 0.0, "yaw": 0.0, "pitch": 0.0},
                embedding=np.ones(128, dtype="<f4").tobytes(),
            )
        )
    engine.dispose()

    # Back to the schema before regions, as an older release left it ("1.0" was its placeholder version).
    command.downgrade(_alembic(url), "0011")
    engine = db.make_engine(url)
    with engine.begin() as conn:
        assert "region" not in list(conn.execute(text("SELECT * FROM collections")).keys())
        conn.execute(text("UPDATE collections SET face_model_version = '1.0'"))
    engine.dispose()

    monkeypatch.setenv("GLASSHOUSE_DEFAULT_REGION", "eu-central-1")
    db.upgrade(url)
    engine = db.make_engine(url)
    sessions = db.make_sessionmaker(engine)
    with sessions() as session:
        migrated = session.scalars(select(Collection)).one()
        assert (migrated.name, migrated.region) == ("staff", "eu-central-1")
        assert migrated.face_model_version == "glasshouse-centerface1-lm5-dlibresnet1"
        assert session.scalars(select(Face.collection_id)).all() == [migrated.id]
    # The same name may now exist once per region.
    with db.transaction(sessions) as session:
        session.add(
            Collection(org_id=migrated.org_id, region="us-east-1", name="staff", face_model_version="v")
        )
    with pytest.raises(IntegrityError, match=r"(?i)unique|duplicate"), db.transaction(sessions) as session:
        session.add(
            Collection(org_id=migrated.org_id, region="eu-central-1", name="staff", face_model_version="v")
        )
    engine.dispose()
