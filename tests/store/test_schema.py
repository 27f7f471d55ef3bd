"""The migrations build exactly the declared schema, on both stores; opening is idempotent."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, select, text

from ratebook.errors import StoreError
from ratebook.store.engine import (
    SCHEMA_HEAD,
    alembic_config,
    is_current,
    make_engine,
    migrate,
    open_store,
)
from ratebook.store.partitions import create_periods
from ratebook.store.tables import metadata, rate_rows, rate_table_versions


def test_migrations_match_the_tables(db_url: str) -> None:
    # the migrations themselves, run here (the ``engine`` fixture may copy a migrated store)
    engine = open_store(db_url)
    try:
        with engine.connect() as conn:
            # a PostgreSQL partition is a table of its own to Alembic; its parent is the
            # declared one
            partitions = set(
                conn.exec_driver_sql(
                    "SELECT relname FROM pg_class WHERE relispartition"
                    " AND relnamespace = CAST(current_schema() AS regnamespace)"
                ).scalars()
                if conn.dialect.name == "postgresql"
                else []
            )
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "include_name": lambda name, kind, _: kind != "table" or name not in partitions,
                },
            )
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_the_schema_head_is_the_newest_migration() -> None:
    # opening a store compares its version with SCHEMA_HEAD, without loading Alembic
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head == SCHEMA_HEAD


def test_every_table_carries_entity_id(engine: Engine) -> None:
    # a consumer group's stream position belongs to the stream, whose messages may name
    # several entities; a console user and their sessions belong to the deployment, and
    # their roles (user_roles) name each entity
    shared = {"alembic_version", "entities", "stream_offsets", "users", "console_sessions"}
    names = set(inspect(engine).get_table_names()) - shared
    assert names  # the schema is there
    for name in names:
        columns = {c["name"] for c in inspect(engine).get_columns(name)}
        assert "entity_id" in columns, name


def test_opening_again_changes_nothing(db_url: str) -> None:
    first = open_store(db_url)
    assert is_current(first)
    first.dispose()
    second = open_store(db_url)
    assert is_current(second)
    second.dispose()


def test_a_store_with_rates_and_charges_migrates_to_the_newest_schema(
    db_url: str, tmp_path: Path
) -> None:
    """A store filled at an older schema keeps its data through every later migration (on
    SQLite, 0007 rebuilds the versions table that rate rows and charges refer to)."""
    old = make_engine(db_url)
    migrate(old, "0006")
    # the workflows need the newest schema, so the older store is filled with plain SQL
    with old.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO entities (id, code, name, currency, timezone, region, invoicing_floor,"
            " charge_places, rounding_mode, mask_digits, created_at) VALUES (1, 'E', 'E', 'MYR',"
            " 'Asia/Kuala_Lumpur', 'MY', 1000000, 4, 'half-up', 0, '2026-10-01 00:00:00')"
        )
        conn.exec_driver_sql(
            "INSERT INTO rate_tables (id, entity_id, name, created_at)"
            " VALUES (1, 1, 'retail', '2026-10-01 00:00:00')"
        )
        conn.exec_driver_sql(
            "INSERT INTO rate_table_versions (id, entity_id, rate_table_id, effective_from,"
            " currency, timezone, rounding_mode, rounding_places, rounding_point, spec,"
            " created_at) VALUES (1, 1, 1, '2026-09-30 16:00:00', 'MYR', 'Asia/Kuala_Lumpur',"
            " 'half-up', 4, 'record', '{}', '2026-10-01 00:00:00')"
        )
        conn.exec_driver_sql(
            "INSERT INTO rate_rows (id, entity_id, version_id, service, prefix, destination_name,"
            " band, price, unit, rate_unit, connect_fee, increment_initial,"
            " increment_subsequent, minimum_charge) VALUES (1, 1, 1, 'voice', '60', 'Malaysia',"
            " '*', 30000000, 's', 60000, 0, 60000, 60000, 0)"
        )
    old.dispose()
    store = open_store(db_url)
    assert is_current(store)
    with store.connect() as conn:
        versions = conn.execute(select(rate_table_versions.c.id, rate_table_versions.c.revision))
        assert [tuple(v) for v in versions] == [(1, 1)]
        assert conn.execute(select(rate_rows.c.version_id)).scalars().all() == [1]
    store.dispose()


_BY_LINE = "SELECT id FROM rated_charges WHERE invoice_line_id = 7"


def test_charges_are_indexed_by_invoice_line_once_invoiced_only(engine: Engine) -> None:
    """Lineage finds an invoice line's charges through the index, and the index leaves out the
    charges no invoice bills yet (all of an import's), so imports do not write to it."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            definition = conn.execute(
                text("SELECT sql FROM sqlite_master WHERE name = 'ix_rated_charges_invoice_line'")
            ).scalar_one()
            plan = " ".join(
                str(row[-1]) for row in conn.execute(text(f"EXPLAIN QUERY PLAN {_BY_LINE}"))
            )
        else:
            definition = conn.execute(
                text(
                    "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()"
                    " AND indexname = 'ix_rated_charges_invoice_line'"
                )
            ).scalar_one()
            # a period's partition has the index of its own, made from the table's
            create_periods(conn, ["2026-10"], ("rated_charges",))
            conn.execute(text("SET LOCAL enable_seqscan = off"))  # an empty table is scanned
            plan = " ".join(str(row[0]) for row in conn.execute(text(f"EXPLAIN {_BY_LINE}")))
            used = plan.split(" using ")[1].split()[0]
            plan = conn.execute(
                text(
                    "SELECT CAST(inhparent AS regclass) FROM pg_inherits"
                    " WHERE inhrelid = CAST(:i AS regclass)"
                ),
                {"i": used},
            ).scalar_one()
    assert "invoice_line_id IS NOT NULL" in definition
    assert "ix_rated_charges_invoice_line" in str(plan)


def test_a_store_a_newer_ratebook_migrated_is_refused_by_name(db_url: str) -> None:
    """An older Ratebook opening a store at a schema it does not know says so (the CLI prints
    it as its error) instead of failing inside Alembic, and leaves the store as it was."""
    store = open_store(db_url)
    with store.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    store.dispose()
    with pytest.raises(StoreError) as caught:
        open_store(db_url)
    assert caught.value.code == "DB_SCHEMA_UNKNOWN"
    assert f"at schema 9999, which this Ratebook (schema {SCHEMA_HEAD}) does not know" in str(
        caught.value
    )
    again = make_engine(db_url)
    with again.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "9999"
    again.dispose()


def test_charges_learn_the_cycle_they_were_posted_to(db_url: str) -> None:
    """Migration 0015 fills ``posted_period`` from the ledger: a charge whose batch posted
    late usage of its customer and period went to that posting's cycle, any other to its own
    period."""
    old = make_engine(db_url)
    migrate(old, "0014")
    at = "'2026-11-02 00:00:00'"
    with old.begin() as conn:
        for statement in (
            "INSERT INTO entities (id, code, name, currency, timezone, region, invoicing_floor,"
            " charge_places, rounding_mode, mask_digits, created_at) VALUES (1, 'E', 'E', 'MYR',"
            f" 'Asia/Kuala_Lumpur', 'MY', 1000000, 4, 'half-up', 0, {at})",
            f"INSERT INTO customers (id, entity_id, account, name, status, created_at)"
            f" VALUES (1, 1, 'A', 'A', 'active', {at})",
            *(
                "INSERT INTO import_batches (id, entity_id, origin, format, source_kind,"
                " source_name, started_at, finished_at, rows_read, rated, duplicates, exceptions)"
                f" VALUES ({b}, 1, 'generic', 'generic', 'file', 'f{b}.csv', {at}, {at}, 1, 1,"
                " 0, 0)"
                for b in (1, 2)
            ),
            *(
                "INSERT INTO usage_records (id, entity_id, origin, record_id, content_sha256,"
                " service, start_time, quantity, unit, customer_id, status, batch_id)"
                f" VALUES ({b}, 1, 'generic', 'r{b}', 'x', 'voice', '2026-10-05 02:00:00', 60000,"
                f" 's', 1, 'rated', {b})"
                for b in (1, 2)
            ),
            *(
                "INSERT INTO rated_charges (id, entity_id, record_pk, customer_id, period,"
                " billed_quantity, unit_price, rate_unit, connect_fee, charge, rounding_mode,"
                f" rounding_places, batch_id, rated_at) VALUES ({b}, 1, {b}, 1, '2026-10', 60000,"
                f" 0, 60000, 0, 100, 'half-up', 4, {b}, {at})"
                for b in (1, 2)
            ),
            "INSERT INTO ledger_postings (entity_id, customer_id, period, kind, amount, records,"
            f" batch_id, posted_at) VALUES (1, 1, '2026-10', 'usage', 100, 1, 1, {at})",
            "INSERT INTO ledger_postings (entity_id, customer_id, period, kind, amount, records,"
            f" batch_id, source_period, posted_at) VALUES (1, 1, '2026-11', 'late_usage', 100, 1,"
            f" 2, '2026-10', {at})",
        ):
            conn.exec_driver_sql(statement)
    old.dispose()
    store = open_store(db_url)
    with store.connect() as conn:
        found = conn.execute(text("SELECT id, posted_period FROM rated_charges ORDER BY id"))
        assert [tuple(row) for row in found] == [(1, "2026-10"), (2, "2026-11")]
    store.dispose()
