"""Migration 0015 on the backend under test: collections made before it keep no crops (no opt-in is
assumed), existing deletion certificates count none, and the revision goes down and up again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, select, text

from glasshouse import db
from glasshouse.collections.models import Collection, DeletionCertificate


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(db.__file__).parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", db.normalise_url(url).replace("%", "%%"))
    return cfg


def test_existing_collections_keep_no_crops_and_the_revision_round_trips(
    tmp_path: Path, fresh_database_url: Any
) -> None:
    url = fresh_database_url() or f"sqlite:///{tmp_path / 'old.sqlite'}"
    db.upgrade(url)
    command.downgrade(alembic_config(url), "0014")
    engine = db.make_engine(url)
    with engine.begin() as conn:
        assert "face_crops" not in inspect(conn).get_table_names()
        assert "face_images" in inspect(conn).get_table_names()
        conn.execute(
            text(
                "INSERT INTO organisations (id, name, created_at) VALUES ('o1', 'old-org', CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO collections (id, org_id, region, name, face_model_version, consent_required, "
                "created_at) VALUES ('c1', 'o1', 'us-east-1', 'staff', 'm', false, CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO deletion_certificates (id, org_id, collection_name, reason, selector, face_count, "
                "face_ids_sha256, requested_by, created_at) VALUES ('d1', 'o1', 'staff', 'retention', '{}', 2, "
                "'x', 'job', CURRENT_TIMESTAMP)"
            )
        )
    engine.dispose()

    db.upgrade(url)
    engine = db.make_engine(url)
    sessions = db.make_sessionmaker(engine)
    with sessions() as session:
        collection = session.scalars(select(Collection)).one()
        assert collection.face_crops_reason is None and not collection.keeps_face_crops
        assert session.scalars(select(DeletionCertificate.crops_deleted)).one() == 0
    with engine.begin() as conn:
        names = inspect(conn).get_table_names()
        assert "face_crops" in names and "face_images" not in names
    engine.dispose()
