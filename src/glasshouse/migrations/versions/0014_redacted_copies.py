"""Stored redacted copies (redacted_copies): a redacted media object and the record tying it to its original

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "redacted_copies",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("source_media_id", sa.String(length=36), nullable=False),
        sa.Column("copy_media_id", sa.String(length=36), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("engine", sa.String(length=512), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("kept_persons", sa.JSON(), nullable=False),
        sa.Column("made_by", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["source_media_id"], ["media_objects.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["copy_media_id"], ["media_objects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("copy_media_id"),
    )
    with op.batch_alter_table("redacted_copies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_redacted_copies_org_id"), ["org_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_redacted_copies_source_media_id"), ["source_media_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("redacted_copies")
