"""Migration 0009 creates exactly the table the model declares."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from glasshouse import db
from glasshouse.schema import metadata


def test_media_objects_migration_matches_the_model(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    db.upgrade(url)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        uniques = sa.inspect(conn).get_unique_constraints("media_objects")
    engine.dispose()
    assert [d for d in diff if "media_objects" in repr(d)] == []
    assert {"org_id", "name"} in [set(u["column_names"]) for u in uniques]
