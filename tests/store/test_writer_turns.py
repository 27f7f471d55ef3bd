"""SQLite writers take turns at the write lock, across threads and processes: one waiting for
its turn gets it once the holder's transaction ends, never SQLite's sleep-and-retry, and one
that waits past the busy timeout is told the store is busy."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from ratebook.errors import StoreError
from ratebook.store import engine as engine_module
from ratebook.store.engine import make_engine
from ratebook.store.writer_turns import WriterTurns


def test_a_turn_is_one_writer_at_a_time_and_passes_on_when_given_back(tmp_path: Path) -> None:
    # two holders of the same database's turns, as two processes hold them (each its own
    # open file, so the kernel's lock tells them apart)
    first, second = WriterTurns(tmp_path / "x.db"), WriterTurns(tmp_path / "x.db")
    assert first.take(1, timeout=1)
    assert not second.take(2, timeout=0.2)
    taken: list[bool] = []
    waiter = threading.Thread(target=lambda: taken.append(second.take(2, timeout=30)))
    waiter.start()
    first.give_back(1)
    waiter.join(timeout=30)
    assert taken == [True]
    assert not first.take(1, timeout=0.2)
    second.give_back(2)
    assert first.take(1, timeout=1)
    first.give_back(1)


def test_a_waiter_that_gave_up_does_not_keep_the_turn(tmp_path: Path) -> None:
    first, second = WriterTurns(tmp_path / "x.db"), WriterTurns(tmp_path / "x.db")
    assert first.take(1, timeout=1)
    assert not second.take(2, timeout=0.2)  # its wait goes on in a thread, then lets go
    first.give_back(1)
    third = WriterTurns(tmp_path / "x.db")
    assert third.take(3, timeout=30)
    third.give_back(3)
    # giving back a turn one does not hold changes nothing
    assert second.take(2, timeout=30)
    first.give_back(1)
    assert not third.take(3, timeout=0.2)
    second.give_back(2)


def test_two_engines_on_one_file_write_in_turns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    one, other = make_engine(url), make_engine(url)
    with one.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    # a writer of the other engine waits for the first's turn to end, then writes
    done: list[int] = []
    with one.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))

        def write() -> None:
            with other.begin() as conn2:
                conn2.execute(text("INSERT INTO t VALUES (2)"))
            done.append(2)

        waiter = threading.Thread(target=write)
        waiter.start()
        waiter.join(timeout=0.3)
        assert done == []  # still waiting for the turn
    waiter.join(timeout=30)
    assert done == [2]
    with other.connect() as conn:
        assert conn.execute(text("SELECT n FROM t ORDER BY n")).scalars().all() == [1, 2]
    # a writer kept waiting past the busy timeout is told the store is busy
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_SECONDS", 0.2)
    with one.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (3)"))
        with pytest.raises(StoreError) as busy, other.begin() as conn2:
            conn2.execute(text("INSERT INTO t VALUES (4)"))
        assert busy.value.code == "DB_BUSY"
    # a rolled-back transaction gives its turn back too
    conn = one.connect()
    conn.begin()
    conn.execute(text("INSERT INTO t VALUES (5)"))
    conn.rollback()
    conn.close()
    with other.begin() as conn2:
        conn2.execute(text("INSERT INTO t VALUES (6)"))
    with other.connect() as conn:
        assert conn.execute(text("SELECT n FROM t ORDER BY n")).scalars().all() == [1, 2, 3, 6]
    one.dispose()
    other.dispose()
