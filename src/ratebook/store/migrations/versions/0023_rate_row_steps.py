"""rate row steps

A rate row's steps within one record: the price that applies after the first seconds of a
call, each step with its own increment (JSON, as ``pipeline.steps`` reads it).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("rate_rows", sa.Column("steps", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rate_rows") as batch:
        batch.drop_column("steps")
