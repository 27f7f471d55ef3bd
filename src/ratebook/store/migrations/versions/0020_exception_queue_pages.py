"""exception queue pages

Indexes for the console's pages of the exception queue, newest first: by code and status,
and by status alone, each ending in the id, so a page of a long queue is read down an index
instead of sorting every match.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 00:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_exceptions_entity_code", table_name="exceptions")
    op.create_index(
        "ix_exceptions_entity_code", "exceptions", ["entity_id", "code", "status", "id"]
    )
    op.create_index("ix_exceptions_entity_status", "exceptions", ["entity_id", "status", "id"])


def downgrade() -> None:
    op.drop_index("ix_exceptions_entity_status", table_name="exceptions")
    op.drop_index("ix_exceptions_entity_code", table_name="exceptions")
    op.create_index("ix_exceptions_entity_code", "exceptions", ["entity_id", "code", "status"])
