"""The migrations build exactly the declared schema, on both stores; opening is idempotent."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, select

from ratebook.store.engine import (
    SCHEMA_HEAD,
    alembic_config,
    is_current,
    make_engine,
    migrate,
    open_store,
)
from ratebook.store.tables import metadata, rate_rows, rate_table_versions


def test_migrations_match_the_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_the_schema_head_is_the_newest_migration() -> None:
    # opening a store compares its version with SCHEMA_HEAD, without loading Alembic
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head == SCHEMA_HEAD


def test_every_table_carries_entity_id(engine: Engine) -> None:
    names = set(inspect(engine).get_table_names()) - {"alembic_version", "entities"}
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
