"""PostgreSQL: face embeddings as pgvector ``vector(128)`` searched by an HNSW index (a no-op on SQLite)

Revision ID: 0010
Revises: 0009

On PostgreSQL ``faces.embedding`` becomes ``vector(128)`` (the application still sees 128 float32 as bytes:
``collections.vector_type.EmbeddingType``) and gets one HNSW index for cosine distance over all faces:

* ``m = 16`` links per node and ``ef_construction = 64`` (pgvector's defaults): recall@1 >= 0.99 on
  face embeddings at ``hnsw.ef_search = 100`` (``glasshouse bench search``); a higher ``m`` buys little
  recall for 128 dimensions and costs build time and memory (~ (m * 8 + 4 * 128) bytes per face).
* One index, not one per collection: collections come and go at run time (no DDL per collection), and a
  query names its collection in ``WHERE collection_id = ...``. pgvector 0.8 iterative index scans
  (``hnsw.iterative_scan``, set per query by ``PgVectorSearchIndex``) keep walking the graph until
  enough rows pass that filter, so a small collection inside a large table still gets its ``k`` nearest;
  for a collection small enough the planner prefers ``ix_faces_collection_id`` plus an exact sort.
* Build cost: minutes per million faces on two cores; raise ``maintenance_work_mem`` so the graph fits
  in memory (about 1 GB per million faces) and ``max_parallel_maintenance_workers`` for a faster build.
"""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

DIM = 128
HNSW_INDEX = "ix_faces_embedding_hnsw"
BATCH = 1000


def _literal(raw: bytes) -> str:
    return "[" + ",".join(repr(float(x)) for x in np.frombuffer(raw, dtype="<f4")) + "]"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        # SQLite searches in memory: the index's name exists (so one model describes both backends) but
        # its predicate admits no row, so it holds nothing and costs nothing.
        op.execute(f"CREATE INDEX {HNSW_INDEX} ON faces (embedding) WHERE 0")
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute(f"ALTER TABLE faces ADD COLUMN embedding_v vector({DIM})")
    # Existing faces (raw float32 bytes) are converted in Python: SQL cannot reinterpret bytes as float4.
    rows = bind.execute(sa.text("SELECT id, embedding FROM faces ORDER BY id")).all()
    for start in range(0, len(rows), BATCH):
        bind.execute(
            sa.text("UPDATE faces SET embedding_v = CAST(:v AS vector) WHERE id = :id"),
            [{"id": fid, "v": _literal(bytes(raw))} for fid, raw in rows[start : start + BATCH]],
        )
    op.execute("ALTER TABLE faces DROP COLUMN embedding")
    op.execute("ALTER TABLE faces RENAME COLUMN embedding_v TO embedding")
    op.execute("ALTER TABLE faces ALTER COLUMN embedding SET NOT NULL")
    op.execute(
        f"CREATE INDEX {HNSW_INDEX} ON faces USING hnsw (embedding vector_cosine_ops) "
        "WITH (m = 16, ef_construction = 64)"
    )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {HNSW_INDEX}")
        return
    op.execute(f"DROP INDEX IF EXISTS {HNSW_INDEX}")
    op.execute("ALTER TABLE faces ADD COLUMN embedding_b bytea")
    rows = bind.execute(sa.text("SELECT id, embedding::text FROM faces")).all()
    for fid, text in rows:
        values = np.array([float(x) for x in text.strip("[]").split(",")], dtype="<f4")
        bind.execute(
            sa.text("UPDATE faces SET embedding_b = :b WHERE id = :id"), {"id": fid, "b": values.tobytes()}
        )
    op.execute("ALTER TABLE faces DROP COLUMN embedding")
    op.execute("ALTER TABLE faces RENAME COLUMN embedding_b TO embedding")
    op.execute("ALTER TABLE faces ALTER COLUMN embedding SET NOT NULL")
