"""usage totals per customer-cycle

Placing new records on tiered rows needs what each customer-cycle already holds; summing
every current charge of the cycle for it grew with the cycle. ``usage_totals`` keeps that
sum (and the latest starts) per customer, period, service and unit, filled here from the
charges already stored.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ratebook.store.tables

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usage_totals",
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("service", sa.String(length=32), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.Column("last_start", ratebook.store.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_tiered", ratebook.store.tables.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint(
            "entity_id", "customer_id", "period", "service", "unit", name=op.f("pk_usage_totals")
        ),
    )
    op.execute(
        "INSERT INTO usage_totals"
        " (entity_id, customer_id, period, service, unit, used, last_start, last_tiered)"
        " SELECT c.entity_id, c.customer_id, c.period, r.service, r.unit,"
        " SUM(c.billed_quantity), MAX(r.start_time),"
        " MAX(CASE WHEN c.tier IS NOT NULL THEN r.start_time END)"
        " FROM rated_charges c JOIN usage_records r ON r.id = c.record_pk"
        " WHERE c.superseded_by IS NULL"
        " GROUP BY c.entity_id, c.customer_id, c.period, r.service, r.unit"
    )


def downgrade() -> None:
    op.drop_table("usage_totals")
