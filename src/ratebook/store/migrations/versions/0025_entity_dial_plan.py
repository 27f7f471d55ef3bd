"""entity dial plan

How the entity's switches write numbers where it differs from its region's plan: the
national prefix and the international prefixes (JSON).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("entities", sa.Column("dial_plan", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("entities") as batch:
        batch.drop_column("dial_plan")
