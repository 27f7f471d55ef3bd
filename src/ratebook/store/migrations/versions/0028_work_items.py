"""work items

The queue of a parallel run's items (customers of a re-rating, shards of an import) that
its workers claim.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "work_items",
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("item", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "item", name=op.f("pk_work_items")),
    )


def downgrade() -> None:
    op.drop_table("work_items")
