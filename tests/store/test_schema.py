"""The migrations build exactly the declared schema, on both stores; opening is idempotent."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from ratebook.store.engine import is_current, open_store
from ratebook.store.tables import metadata


def test_migrations_match_the_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


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
