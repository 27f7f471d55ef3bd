"""A transaction storing a few pushed events runs its prepared statements on their generic
plans (PostgreSQL), and only that transaction: an import later on the same pooled connection
plans its statements for its own batch."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text

from ratebook.store.quote_reads import posting_context
from tests.conftest import one_customer


def _plan_mode(conn: Connection) -> str:
    return str(conn.execute(text("SHOW plan_cache_mode")).scalar_one())


def test_generic_plans_last_as_long_as_the_push_transaction(
    my_engine: Engine, tmp_path: Path
) -> None:
    if my_engine.dialect.name != "postgresql":
        pytest.skip("plan_cache_mode is PostgreSQL's; SQLite prepares no plans to choose")
    one_customer(my_engine, tmp_path)
    with my_engine.connect() as conn:
        assert _plan_mode(conn) == "auto"
        conn.rollback()
        with conn.begin():
            context, _ = posting_context(conn, "MY1", None, generic_plans=True)
            assert context.entity.code == "MY1"
            assert _plan_mode(conn) == "force_generic_plan"
        # ended with the transaction, on the same connection
        assert _plan_mode(conn) == "auto"
        conn.rollback()
        with conn.begin():
            posting_context(conn, "MY1", None)
            assert _plan_mode(conn) == "auto"
