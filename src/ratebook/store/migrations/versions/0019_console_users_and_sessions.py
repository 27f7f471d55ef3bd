"""console users and sessions

The web console's people: users with an argon2 password hash, each with a role per entity
(viewer, reviewer, admin), and their signed-in sessions, kept in the store so that every
server process knows them.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ratebook.store.tables

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", ratebook.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "password_changed_at",
            ratebook.store.tables.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("disabled_at", ratebook.store.tables.UtcDateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "user_roles",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("entity_id", sa.Integer(), sa.ForeignKey("entities.id"), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.UniqueConstraint("user_id", "entity_id"),
    )
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", ratebook.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", ratebook.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", ratebook.store.tables.UtcDateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("token_sha256"),
    )


def downgrade() -> None:
    op.drop_table("console_sessions")
    op.drop_table("user_roles")
    op.drop_table("users")
