"""Two deployments in one PostgreSQL database, a schema each: advisory locks belong to the
database, so Ratebook keys its own by schema, and one deployment's cycle close never waits
for, or blocks, the other's work on the entity with the same id."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import psycopg
import pytest
from sqlalchemy import create_engine, text

from ratebook.store import billing
from tests.conftest import _postgres_base


@pytest.mark.postgres
def test_each_schema_has_its_own_close_lock() -> None:
    base = _postgres_base()
    schemas = [f"rb_lock_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    with psycopg.connect(base, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(f"CREATE SCHEMA {schema}")
    joiner = "&" if "?" in base else "?"
    engines = [
        create_engine(f"{base}{joiner}options={quote(f'-csearch_path={schema}')}")
        for schema in schemas
    ]
    try:
        with engines[0].connect() as closing, engines[1].connect() as other:
            closing.begin()
            billing.lock_entity(closing, 1, shared=False)  # deployment A closes entity 1
            other.begin()
            other.execute(text("SET LOCAL lock_timeout = '2s'"))
            # deployment B's entity 1 is another entity: its close goes ahead at once
            billing.lock_entity(other, 1, shared=False)
            other.rollback()
            # the same schema's lock still waits, and times out
            with engines[0].connect() as same:
                same.begin()
                same.execute(text("SET LOCAL lock_timeout = '200ms'"))
                with pytest.raises(Exception, match="lock timeout"):
                    billing.lock_entity(same, 1, shared=True)
                same.rollback()
            closing.rollback()
    finally:
        for engine in engines:
            engine.dispose()
        with psycopg.connect(base, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")
