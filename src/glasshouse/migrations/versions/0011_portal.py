"""community camera portal: cameras, clips, footage requests, inboxes, shares, emergency disclosures

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("agency_org_id", sa.String(length=36), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("incident_type", sa.String(length=64), nullable=False),
        sa.Column("case_number", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("contact", sa.String(length=255), nullable=False),
        sa.Column("area", sa.JSON(), nullable=False),
        sa.Column("area_sq_mi", sa.Float(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("respond_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("access_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agency_org_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("portal_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portal_requests_agency_org_id"), ["agency_org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_portal_requests_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_portal_requests_status"), ["status"], unique=False)

    op.create_table(
        "portal_cameras",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("portal_cameras", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portal_cameras_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "portal_emergency_disclosures",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("agency_org_id", sa.String(length=36), nullable=False),
        sa.Column("clip_ids", sa.JSON(), nullable=False),
        sa.Column("case_number", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=255), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(length=255), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=True),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["agency_org_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["request_id"], ["portal_requests.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("portal_emergency_disclosures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_portal_emergency_disclosures_agency_org_id"), ["agency_org_id"], unique=False
        )

    op.create_table(
        "portal_owner_settings",
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("share_contact", sa.Boolean(), nullable=False),
        sa.Column("contact", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("owner_id"),
    )
    op.create_table(
        "portal_recipients",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["people.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["request_id"], ["portal_requests.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", "owner_id", name="uq_portal_recipient"),
    )
    with op.batch_alter_table("portal_recipients", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portal_recipients_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_portal_recipients_request_id"), ["request_id"], unique=False)

    op.create_table(
        "portal_clips",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("camera_id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("media_id", sa.String(length=36), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["camera_id"], ["portal_cameras.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["media_id"],
            ["media_objects.id"],
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("media_id"),
    )
    with op.batch_alter_table("portal_clips", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portal_clips_camera_id"), ["camera_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_portal_clips_ends_at"), ["ends_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_portal_clips_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_portal_clips_started_at"), ["started_at"], unique=False)

    op.create_table(
        "portal_shares",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("clip_id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("shared_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("contact", sa.String(length=255), nullable=True),
        sa.Column("evidence", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["clip_id"], ["portal_clips.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["owner_id"], ["people.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["request_id"], ["portal_requests.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", "clip_id", name="uq_portal_share"),
    )
    with op.batch_alter_table("portal_shares", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portal_shares_clip_id"), ["clip_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_portal_shares_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_portal_shares_request_id"), ["request_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("portal_shares", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portal_shares_request_id"))
        batch_op.drop_index(batch_op.f("ix_portal_shares_owner_id"))
        batch_op.drop_index(batch_op.f("ix_portal_shares_clip_id"))

    op.drop_table("portal_shares")
    with op.batch_alter_table("portal_clips", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portal_clips_started_at"))
        batch_op.drop_index(batch_op.f("ix_portal_clips_owner_id"))
        batch_op.drop_index(batch_op.f("ix_portal_clips_ends_at"))
        batch_op.drop_index(batch_op.f("ix_portal_clips_camera_id"))

    op.drop_table("portal_clips")
    with op.batch_alter_table("portal_recipients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portal_recipients_request_id"))
        batch_op.drop_index(batch_op.f("ix_portal_recipients_owner_id"))

    op.drop_table("portal_recipients")
    op.drop_table("portal_owner_settings")
    with op.batch_alter_table("portal_emergency_disclosures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portal_emergency_disclosures_agency_org_id"))

    op.drop_table("portal_emergency_disclosures")
    with op.batch_alter_table("portal_cameras", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portal_cameras_owner_id"))

    op.drop_table("portal_cameras")
    with op.batch_alter_table("portal_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portal_requests_status"))
        batch_op.drop_index(batch_op.f("ix_portal_requests_created_at"))
        batch_op.drop_index(batch_op.f("ix_portal_requests_agency_org_id"))

    op.drop_table("portal_requests")
