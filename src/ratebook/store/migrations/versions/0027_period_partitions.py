"""period partitions

usage_records gets its billing period (the calendar month of its start in the entity's
zone, as every charge of it already has). On PostgreSQL, usage_records, rated_charges and
ledger_postings become range-partitioned by period, one partition a month
(``<table>_pYYYY_MM``), their keys (id, period). A partitioned table cannot be the target
of a foreign key, so exceptions, corrections and disputes keep their record_pk without one
(on both stores: one logical schema), as the hot tables already do. A default partition of
each holds the rows of a period without a partition of its own (``store.partitions``).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The tables partitioned by period, and their indexes: (name, what it indexes).
_PARTITIONED: dict[str, list[tuple[str, str]]] = {
    "usage_records": [("ix_usage_records_batch", "(batch_id, source_line)")],
    "rated_charges": [
        ("ix_rated_charges_customer_period", "(entity_id, customer_id, period)"),
        ("ix_rated_charges_record", "(record_pk)"),
        (
            "ix_rated_charges_invoice_line",
            "(invoice_line_id) WHERE invoice_line_id IS NOT NULL",
        ),
    ],
    "ledger_postings": [("ix_ledger_postings_customer_period", "(entity_id, customer_id, period)")],
}

#: Foreign keys of ledger_postings, made again on its partitioned table.
_POSTING_KEYS = (
    ("fk_ledger_postings_entity_id_entities", "entity_id", "entities"),
    ("fk_ledger_postings_customer_id_customers", "customer_id", "customers"),
    ("fk_ledger_postings_batch_id_import_batches", "batch_id", "import_batches"),
)

#: Foreign keys to usage_records that go.
_RECORD_REFERENCES = ("exceptions", "corrections", "disputes")


def _next(period: str) -> str:
    year, month = int(period[:4]), int(period[5:7])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def upgrade() -> None:
    bind = op.get_bind()
    for table in _RECORD_REFERENCES:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"fk_{table}_record_pk_usage_records", type_="foreignkey")
    if bind.dialect.name != "postgresql":
        _sqlite_periods(bind)
        return
    op.add_column("usage_records", sa.Column("period", sa.String(length=7), nullable=True))
    op.execute(
        "UPDATE usage_records r SET period = to_char(r.start_time AT TIME ZONE e.timezone,"
        " 'YYYY-MM') FROM entities e WHERE e.id = r.entity_id"
    )
    op.alter_column("usage_records", "period", nullable=False)
    for name, _, _ in _POSTING_KEYS:
        op.drop_constraint(name, "ledger_postings", type_="foreignkey")
    for table, indexes in _PARTITIONED.items():
        old = f"{table}_unpartitioned"
        op.execute(f"ALTER TABLE {table} RENAME TO {old}")
        op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT pk_{table} TO pk_{old}")
        for index, _ in indexes:
            op.execute(f"ALTER INDEX {index} RENAME TO {index}_unpartitioned")
        op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY NONE")
        op.execute(
            f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
            " PARTITION BY RANGE (period)"
        )
        periods = bind.exec_driver_sql(f"SELECT DISTINCT period FROM {old}").scalars().all()
        for period in sorted(periods):
            op.execute(
                f"CREATE TABLE {table}_p{period.replace('-', '_')} PARTITION OF {table}"
                f" FOR VALUES FROM ('{period}') TO ('{_next(period)}')"
            )
        op.execute(f"CREATE TABLE {table}_pdefault PARTITION OF {table} DEFAULT")
        op.execute(f"INSERT INTO {table} SELECT * FROM {old}")
        op.execute(f"DROP TABLE {old}")
        op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY (id, period)")
        for index, columns in indexes:
            op.execute(f"CREATE INDEX {index} ON {table} {columns}")
    for name, column, target in _POSTING_KEYS:
        op.create_foreign_key(name, "ledger_postings", target, [column], ["id"])
    op.execute("ANALYZE usage_records, rated_charges, ledger_postings")


def _sqlite_periods(bind: sa.Connection) -> None:
    """Every stored record's period, worked out by the entity's zone (SQLite has no zones)."""
    from zoneinfo import ZoneInfo

    import polars as pl

    op.add_column("usage_records", sa.Column("period", sa.String(length=7), nullable=True))
    zones: dict[int, str] = dict(bind.exec_driver_sql("SELECT id, timezone FROM entities").all())
    for entity_id, zone in zones.items():
        ZoneInfo(zone)  # a zone Polars may not know fails here, by its name
        rows = bind.exec_driver_sql(
            "SELECT id, start_time FROM usage_records WHERE entity_id = ?", (entity_id,)
        ).all()
        if not rows:
            continue
        frame = pl.DataFrame(rows, schema={"id": pl.Int64, "start_time": pl.String}, orient="row")
        periods = frame.select(
            pl.col("start_time")
            .str.to_datetime(time_zone="UTC")
            .dt.convert_time_zone(zone)
            .dt.strftime("%Y-%m")
            .alias("period"),
            "id",
        )
        bind.exec_driver_sql(
            "UPDATE usage_records SET period = ? WHERE id = ?", list(periods.iter_rows())
        )
    with op.batch_alter_table("usage_records") as batch:
        batch.alter_column("period", existing_type=sa.String(length=7), nullable=False)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for name, _, _ in _POSTING_KEYS:
            op.drop_constraint(name, "ledger_postings", type_="foreignkey")
        for table in _PARTITIONED:
            old = f"{table}_partitioned"
            op.execute(f"ALTER TABLE {table} RENAME TO {old}")
            op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT pk_{table} TO pk_{old}")
            for index, _ in _PARTITIONED[table]:
                op.execute(f"ALTER INDEX {index} RENAME TO {index}_partitioned")
            op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY NONE")
            op.execute(
                f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
            )
            op.execute(f"INSERT INTO {table} SELECT * FROM {old}")
            op.execute(f"DROP TABLE {old}")
            op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id")
            op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY (id)")
            for index, columns in _PARTITIONED[table]:
                op.execute(f"CREATE INDEX {index} ON {table} {columns}")
        for name, column, target in _POSTING_KEYS:
            op.create_foreign_key(name, "ledger_postings", target, [column], ["id"])
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("period")
    for table in _RECORD_REFERENCES:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(
                f"fk_{table}_record_pk_usage_records", "usage_records", ["record_pk"], ["id"]
            )
