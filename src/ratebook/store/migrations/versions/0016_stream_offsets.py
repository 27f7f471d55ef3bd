"""stream offsets kept in the store

A Kafka consumer group's position per topic and partition, advanced in the transaction that
stores the events before it (exactly-once effect), with the epoch of the partition's latest
assignment so that a member that lost the partition cannot commit, and what the member last
saw of it (lag, batch time, error) for status and metrics.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ratebook.store.tables

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stream_offsets",
        sa.Column("group_id", sa.String(length=255), primary_key=True),
        sa.Column("topic", sa.String(length=255), primary_key=True),
        sa.Column("partition", sa.Integer(), primary_key=True),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", ratebook.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("lag", sa.BigInteger(), nullable=True),
        sa.Column("batch_messages", sa.Integer(), nullable=True),
        sa.Column("batch_ms", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("stream_offsets")
