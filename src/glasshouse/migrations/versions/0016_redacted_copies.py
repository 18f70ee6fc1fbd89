"""Stored redacted copies (redacted_copies): a redacted media object and the record tying it to its original;
portal shares of redacted copies, agencies' unredaction requests, redacted emergency disclosures

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
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
    with op.batch_alter_table("portal_shares", schema=None) as batch_op:
        batch_op.add_column(sa.Column("redacted_copy_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("unredacted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_portal_shares_redacted_copy_id"), ["redacted_copy_id"], unique=False
        )
        batch_op.create_foreign_key(
            "fk_portal_shares_redacted_copy_id",
            "redacted_copies",
            ["redacted_copy_id"],
            ["id"],
            ondelete="CASCADE",
        )
    with op.batch_alter_table("portal_emergency_disclosures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("redacted", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("unredacted_reason", sa.Text(), nullable=True))
    op.create_table(
        "portal_unredaction_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("share_id", sa.String(length=36), nullable=False),
        sa.Column("agency_org_id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("case_number", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("filed_by", sa.String(length=255), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["share_id"], ["portal_shares.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["agency_org_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["owner_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("portal_unredaction_requests", schema=None) as batch_op:
        for column in ("share_id", "agency_org_id", "owner_id"):
            batch_op.create_index(
                batch_op.f(f"ix_portal_unredaction_requests_{column}"), [column], unique=False
            )


def downgrade() -> None:
    op.drop_table("portal_unredaction_requests")
    with op.batch_alter_table("portal_emergency_disclosures", schema=None) as batch_op:
        batch_op.drop_column("unredacted_reason")
        batch_op.drop_column("redacted")
    with op.batch_alter_table("portal_shares", schema=None) as batch_op:
        batch_op.drop_constraint("fk_portal_shares_redacted_copy_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_portal_shares_redacted_copy_id"))
        batch_op.drop_column("unredacted_at")
        batch_op.drop_column("redacted_copy_id")
    op.drop_table("redacted_copies")
