"""A commit reaches the disk before Ratebook reports it: an import said to be done or a push
answered survives a power cut, not only a crash of the process."""

from __future__ import annotations

from sqlalchemy import Engine

from ratebook.store.engine import make_engine, open_reader


def test_every_connection_syncs_each_commit_to_disk(engine: Engine, db_url: str) -> None:
    for opened in (make_engine(db_url), open_reader(db_url)):
        try:
            with opened.connect() as conn:
                if conn.dialect.name == "sqlite":
                    # FULL (2): the write-ahead log is synced at each commit; NORMAL (1)
                    # would sync it only at checkpoints, losing recent commits to a power cut
                    assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2
                else:
                    assert conn.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "on"
        finally:
            opened.dispose()
