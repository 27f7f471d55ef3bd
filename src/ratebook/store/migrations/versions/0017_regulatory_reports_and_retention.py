"""regulatory reports and retention

A customer's segment (retail or wholesale) for the reports' split, an entity's retention of
raw call records in months, the time a retention purge removed a record's raw content, and
the append-only table of filed reports.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ratebook.store.tables

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # added in place (ALTER TABLE ... ADD COLUMN on both engines): no table is copied
    op.add_column(
        "customers",
        sa.Column("segment", sa.String(length=16), nullable=False, server_default="retail"),
    )
    op.add_column("entities", sa.Column("retention_months", sa.Integer(), nullable=True))
    op.add_column(
        "usage_records",
        sa.Column("purged_at", ratebook.store.tables.UtcDateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "regulatory_filings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("entity_id", sa.Integer(), sa.ForeignKey("entities.id"), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("profile", sa.String(length=64), nullable=False),
        sa.Column("profile_version", sa.String(length=32), nullable=False),
        sa.Column("basis", sa.String(length=16), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("amends_id", sa.Integer(), nullable=True),
        sa.Column("inputs_sha256", sa.String(length=64), nullable=False),
        sa.Column("csv_sha256", sa.String(length=64), nullable=False),
        sa.Column("csv", sa.Text(), nullable=False),
        sa.Column("manifest", sa.Text(), nullable=False),
        sa.Column("filed_by", sa.String(length=100), nullable=False),
        sa.Column("filed_at", ratebook.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("entity_id", "period", "profile", "basis", "revision"),
    )


def downgrade() -> None:
    op.drop_table("regulatory_filings")
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("purged_at")
    with op.batch_alter_table("entities") as batch:
        batch.drop_column("retention_months")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("segment")
