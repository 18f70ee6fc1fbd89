"""Embeddings of several dimensions (one face model per collection): ``collections.embedding_dim``,
``faces.embedding_dim``, and on PostgreSQL an untyped ``vector`` column with one HNSW index per dimension

Revision ID: 0014
Revises: 0013

Every existing collection and face is 128-d (dlib's ResNet): both new columns default to 128 and existing
faces get the length of their stored embedding. On PostgreSQL ``faces.embedding`` changes from
``vector(128)`` to ``vector`` in place (the values are untouched) and the single HNSW index of 0010 becomes
one partial expression index per dimension (pgvector's HNSW indexes one dimension only):
``USING hnsw ((embedding::vector(D)) vector_cosine_ops) WHERE embedding_dim = D``, same parameters as 0010
(m = 16, ef_construction = 64), for D in ``INDEXED_DIMS`` (128: dlib's ResNet, 192: MobileFaceNet). A
collection of any other dimension gets its index when it is created (``PgVectorSearchIndex.prepare``).
On SQLite the always-empty placeholder index of 0010 is dropped (the in-memory index serves searches).

Downgrade works only while every face and collection is 128-d (it refuses otherwise: a ``vector(128)``
column cannot hold the others, and losing faces silently is not an option).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

OLD_INDEX = "ix_faces_embedding_hnsw"
# Literal copies of ``collections.vector_type`` (a migration must not change when the application does).
INDEXED_DIMS = (128, 192)
HNSW_WITH = "WITH (m = 16, ef_construction = 64)"


def _dim_index(dim: int) -> str:
    return (
        f"CREATE INDEX IF NOT EXISTS ix_faces_embedding_hnsw_{dim} ON faces "
        f"USING hnsw ((embedding::vector({dim})) vector_cosine_ops) {HNSW_WITH} WHERE embedding_dim = {dim}"
    )


def upgrade() -> None:
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    op.add_column(
        "collections", sa.Column("embedding_dim", sa.Integer(), nullable=False, server_default="128")
    )
    op.add_column("faces", sa.Column("embedding_dim", sa.Integer(), nullable=False, server_default="128"))
    op.execute(f"DROP INDEX IF EXISTS {OLD_INDEX}")
    if not postgresql:
        op.execute("UPDATE faces SET embedding_dim = length(embedding) / 4")
        return
    op.execute("ALTER TABLE faces ALTER COLUMN embedding TYPE vector")
    op.execute(
        "UPDATE faces SET embedding_dim = vector_dims(embedding) "
        "WHERE embedding_dim <> vector_dims(embedding)"
    )
    for dim in INDEXED_DIMS:
        op.execute(_dim_index(dim))


def downgrade() -> None:
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    others = bind.execute(
        sa.text(
            "SELECT (SELECT count(*) FROM faces WHERE embedding_dim <> 128)"
            " + (SELECT count(*) FROM collections WHERE embedding_dim <> 128)"
        )
    ).scalar()
    if others:
        raise RuntimeError(
            "cannot downgrade below 0014: collections or faces of an embedding dimension other than 128 "
            "exist; delete them (or their collections) first"
        )
    if postgresql:
        names = bind.execute(
            sa.text(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'faces' "
                "AND indexname LIKE 'ix\\_faces\\_embedding\\_hnsw\\_%'"
            )
        ).scalars()
        for name in list(names):
            op.execute(f'DROP INDEX IF EXISTS "{name}"')
        op.execute("ALTER TABLE faces ALTER COLUMN embedding TYPE vector(128)")
        op.execute(f"CREATE INDEX {OLD_INDEX} ON faces USING hnsw (embedding vector_cosine_ops) {HNSW_WITH}")
    with op.batch_alter_table("faces", schema=None) as batch_op:
        batch_op.drop_column("embedding_dim")
    with op.batch_alter_table("collections", schema=None) as batch_op:
        batch_op.drop_column("embedding_dim")
    if not postgresql:
        op.execute(f"CREATE INDEX {OLD_INDEX} ON faces (embedding) WHERE 0")
