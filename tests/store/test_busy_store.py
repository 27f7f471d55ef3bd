"""SQLite has one writer at a time: a second writer waits for the first's lock for the busy
timeout, then is told the database is busy, with a code and a sentence, never a traceback.
Opening the store (the schema check) only reads, so it does not wait behind a writer."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event
from typer.testing import CliRunner

from ratebook.cli import app
from ratebook.errors import StoreError
from ratebook.store.engine import open_store
from ratebook.workflows.import_feed import import_feed
from tests.conftest import write

FEED = (
    "record_id,start_time,quantity,account,destination\n"
    "b1,2026-10-05T10:00:00+08:00,60,A,+60312345678\n"
)


@pytest.fixture
def held_lock(my_engine: Engine) -> Iterator[str]:
    """Another process's writer holding the database's write lock; the database's path."""
    if my_engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL writers do not hold a lock on the whole database")
    path = str(my_engine.url.database)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield path
    finally:
        other.execute("ROLLBACK")
        other.close()


def _short_wait(engine: Engine) -> None:
    """Wait 0.2 s for a lock instead of the 10 s a real writer waits."""

    def pragma(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=200")

    event.listen(engine, "connect", pragma)


def test_a_second_writer_is_told_the_database_is_busy(held_lock: str, tmp_path: Path) -> None:
    began = time.monotonic()
    engine = open_store(f"sqlite:///{held_lock}")  # reads the schema version beside the writer
    assert time.monotonic() - began < 5
    _short_wait(engine)
    engine.dispose()  # connections made from now on wait 0.2 s
    with pytest.raises(StoreError) as raised:
        import_feed(engine, write(tmp_path / "f.csv", FEED), format_name="generic")
    assert raised.value.code == "DB_BUSY"
    assert "try again" in raised.value.message


def test_the_command_line_says_busy_and_exits_non_zero(
    held_lock: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ratebook.store.engine.SQLITE_BUSY_SECONDS", 0)
    feed = write(tmp_path / "f.csv", FEED)
    result = CliRunner().invoke(app, ["--db", f"sqlite:///{held_lock}", "ingest", str(feed)])
    assert result.exit_code == 1
    assert "DB_BUSY the database is busy" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
