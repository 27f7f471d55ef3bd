"""rate row rounding

A rate row's own rounding (places and mode), overriding its version's for the records it
prices: a carrier that bills one destination in whole units of currency.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("rate_rows", sa.Column("rounding_mode", sa.String(length=16), nullable=True))
    op.add_column("rate_rows", sa.Column("rounding_places", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rate_rows") as batch:
        batch.drop_column("rounding_places")
        batch.drop_column("rounding_mode")
