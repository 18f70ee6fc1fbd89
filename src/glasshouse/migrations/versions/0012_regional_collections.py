"""regional collections (scoped by the signed region, as on AWS) and a meaningful face model version

Existing collections get the region ``GLASSHOUSE_DEFAULT_REGION`` (default us-east-1) and, in place of the
old placeholder "1.0", the identifier of the engine that indexed them: CenterFace, the configured aligner
(``GLASSHOUSE_ALIGNER``), dlib's ResNet descriptor (see ``FaceEngine.model_version``).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_ALIGNERS = {"landmarks": "lm5", "dlib": "dlib5"}


def _engine_version() -> str:
    aligner = os.environ.get("GLASSHOUSE_ALIGNER", "landmarks").strip().lower()
    return f"glasshouse-centerface1-{_ALIGNERS.get(aligner, aligner)}-dlibresnet1"


def upgrade() -> None:
    region = os.environ.get("GLASSHOUSE_DEFAULT_REGION", "us-east-1").strip() or "us-east-1"
    # SQLite recreates the table here; the migration connection does not enforce foreign keys, so the
    # faces referencing these rows are untouched.
    with op.batch_alter_table("collections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("region", sa.String(length=64), nullable=False, server_default=region))
        batch_op.drop_constraint("uq_collection_org_name", type_="unique")
        batch_op.create_unique_constraint("uq_collection_org_region_name", ["org_id", "region", "name"])
    with op.batch_alter_table("collections", schema=None) as batch_op:
        batch_op.alter_column("region", server_default=None)
    collections = sa.table("collections", sa.column("face_model_version", sa.String))
    op.execute(
        collections.update()
        .where(collections.c.face_model_version == "1.0")
        .values(face_model_version=_engine_version())
    )


def downgrade() -> None:
    with op.batch_alter_table("collections", schema=None) as batch_op:
        batch_op.drop_constraint("uq_collection_org_region_name", type_="unique")
        batch_op.create_unique_constraint("uq_collection_org_name", ["org_id", "name"])
        batch_op.drop_column("region")
