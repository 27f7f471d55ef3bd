"""rate row caps, grace and included quantity

A rate row's maximum cost of one record (a carrier's cap per call), its grace (records
shorter than it are free) and the quantity each record includes before it is billed.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("rate_rows", sa.Column("max_cost", sa.BigInteger(), nullable=True))
    op.add_column("rate_rows", sa.Column("grace", sa.BigInteger(), nullable=True))
    op.add_column("rate_rows", sa.Column("included", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rate_rows") as batch:
        batch.drop_column("included")
        batch.drop_column("grace")
        batch.drop_column("max_cost")
