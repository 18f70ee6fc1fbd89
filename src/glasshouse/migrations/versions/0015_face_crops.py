"""Enrolled faces' crops kept for reviewers where a collection opted in (face_crops, sealed with the server
key); collections.face_crops_reason; deletion_certificates.crops_deleted. Drops face_images, which
nothing ever wrote (crops were never kept before this revision).

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("collections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("face_crops_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("deletion_certificates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("crops_deleted", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "face_crops",
        sa.Column("face_id", sa.String(length=36), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["face_id"], ["faces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("face_id"),
    )
    op.drop_table("face_images")


def downgrade() -> None:
    op.create_table(
        "face_images",
        sa.Column("face_id", sa.String(length=36), nullable=False),
        sa.Column("jpeg", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["face_id"], ["faces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("face_id"),
    )
    op.drop_table("face_crops")
    with op.batch_alter_table("deletion_certificates", schema=None) as batch_op:
        batch_op.drop_column("crops_deleted")
    with op.batch_alter_table("collections", schema=None) as batch_op:
        batch_op.drop_column("face_crops_reason")
