"""destination region and type

Each record's destination region and libphonenumber type, worked out as it is stored, so a
regulatory report groups the month in the database instead of reading every number back.
Records stored before have none; a report classifies their numbers as it reads them.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # added in place on both engines: no table is copied, no row rewritten
    op.add_column("usage_records", sa.Column("destination_region", sa.String(3), nullable=True))
    op.add_column("usage_records", sa.Column("destination_type", sa.String(24), nullable=True))


def downgrade() -> None:
    op.drop_column("usage_records", "destination_type")
    op.drop_column("usage_records", "destination_region")
