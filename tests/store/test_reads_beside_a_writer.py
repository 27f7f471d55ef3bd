"""Reads do not queue behind a writer: on SQLite a read-only transaction begins DEFERRED and
reads its snapshot (WAL) while another connection holds the write lock. A read that queued
would fail with "database is locked" once the busy timeout ran out."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import Engine, text

from ratebook.store import billing
from ratebook.store.engine import open_store
from ratebook.workflows.customer_accounts import list_customers
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.manage_keys import authenticate, create_key
from tests.conftest import write
from tests.faults import story


def test_key_checks_and_customer_reads_answer_while_an_import_holds_the_write_lock(
    my_engine: Engine, tmp_path: Path
) -> None:
    import_customers(
        my_engine, write(tmp_path / "c.csv", "account,name,rate_table,numbers\nACME,Acme,,\n")
    )
    secret = create_key(my_engine, name="switch", scopes=["ingest"], entity_code="MY1").secret
    with my_engine.begin() as writer:  # BEGIN IMMEDIATE on SQLite: the write lock is taken
        writer.execute(text("UPDATE customers SET name = 'Acme Renamed'"))
        with ThreadPoolExecutor(max_workers=1) as pool:  # another connection, as a request
            key = pool.submit(authenticate, my_engine, secret).result(timeout=30)
            _, customers = pool.submit(list_customers, my_engine).result(timeout=30)
    assert key is not None
    assert key.name == "switch"
    # the reader saw the last committed state, not the writer's uncommitted rename
    assert [c["name"] for c in customers] == ["Acme"]


def test_reading_commands_answer_while_a_writer_holds_the_store(
    db_url: str, tmp_path: Path
) -> None:
    """While another process is in the middle of a write (SQLite: it holds the write lock;
    PostgreSQL: a close holds the entity's lock and has written), every command that only
    reads answers from the last committed state instead of waiting or failing."""
    engine = open_store(db_url)
    story.build(engine, tmp_path)
    with engine.connect() as writer:
        writer.begin()  # SQLite: BEGIN IMMEDIATE, the write lock is taken
        billing.lock_entity(writer, 1, shared=False)  # PostgreSQL: a close's lock
        writer.execute(text("UPDATE customers SET name = 'Renamed meanwhile'"))
        for args in (
            ["balances", "--period", "2026-10"],
            ["exceptions", "list"],
            ["invoices", "list"],
            ["audit", "verify", "--deep"],
            ["check"],
        ):
            done = subprocess.run(
                [sys.executable, "-m", "ratebook", "--db", db_url, *args],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, (args, done.stderr)
            assert "Renamed meanwhile" not in done.stdout
        writer.rollback()
    engine.dispose()
