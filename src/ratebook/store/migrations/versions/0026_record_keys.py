"""record keys

Every record's key moves from a unique index on usage_records to a narrow table of its own,
record_keys (entity, origin, record_id, digest, record_pk): the permanent check of an
incoming id, hash-partitioned on record_id on PostgreSQL. Every stored record gets its key,
with the content digest it has now.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: As ``store.tables.RECORD_KEY_PARTITIONS`` (a migration keeps its own copy: it must build
#: what it built when it was written).
_PARTITIONS = 16


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "record_keys",
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("record_pk", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("entity_id", "origin", "record_id", name=op.f("pk_record_keys")),
        postgresql_partition_by="HASH (record_id)",
    )
    if postgres:
        for n in range(_PARTITIONS):
            op.execute(
                f"CREATE TABLE record_keys_p{n:02d} PARTITION OF record_keys"
                f" FOR VALUES WITH (MODULUS {_PARTITIONS}, REMAINDER {n})"
            )
    op.execute(
        "INSERT INTO record_keys (entity_id, origin, record_id, digest, record_pk)"
        " SELECT entity_id, origin, record_id, content_sha256, id FROM usage_records"
        " ORDER BY entity_id, origin, record_id"
    )
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_constraint("uq_usage_records_entity_id_origin_record_id", type_="unique")
    if postgres:
        op.execute("ANALYZE record_keys")


def downgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.create_unique_constraint(
            "uq_usage_records_entity_id_origin_record_id", ["entity_id", "origin", "record_id"]
        )
    op.drop_table("record_keys")
