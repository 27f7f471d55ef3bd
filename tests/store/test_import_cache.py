"""An import's larger SQLite page cache is its own: the pooled connection gets its old size
back, even when the import fails, so a server's connections never keep an import's cache."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Connection

from ratebook.store.engine import import_cache, open_store


def _cache_size(conn: Connection) -> int:
    return int(conn.exec_driver_sql("PRAGMA cache_size").scalar_one())


def _failing_import(conn: Connection, seen: list[int]) -> None:
    with import_cache(conn):
        seen.append(_cache_size(conn))
        raise RuntimeError("import failed")


def test_import_cache_is_restored_after_the_import(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    seen: list[int] = []
    with engine.connect() as conn:
        before = _cache_size(conn)
        with pytest.raises(RuntimeError, match="import failed"):
            _failing_import(conn, seen)
        after = _cache_size(conn)
    engine.dispose()
    # SQLite's default is 2,000 KiB; the import's is 128 MiB (negative numbers are KiB)
    assert (before, seen, after) == (-2000, [-128 * 1024], -2000)
