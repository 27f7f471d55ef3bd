"""Reads of the request path (a quote, a key check, a reference stamp) in SQL handed to the
database driver directly, inside the caller's transaction.

SQLAlchemy's handling of a statement (building it, its cache key, the execution context, the
result) costs some 100 us; the read itself, on an index, costs a few. A quote makes a handful
of such reads, so there the difference is most of its time. Only short reads of plain columns
go this way: every write, and every read of the rest of Ratebook, is SQLAlchemy's.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection


@functools.lru_cache(maxsize=64)
def _for_postgres(sql: str) -> str:
    return sql.replace("?", "%s")


def rows(conn: Connection, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` (positional ``?`` parameters, no ``%``) in ``conn``'s transaction."""
    driver: Any = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        sql = _for_postgres(sql)
    return list(driver.execute(sql, params).fetchall())


def instant(value: Any) -> datetime | None:
    """A ``UtcDateTime`` column as the driver returns it (naive-UTC text on SQLite, an aware
    instant on PostgreSQL) as an aware UTC instant, as ``store.tables.UtcDateTime`` does."""
    if value is None:
        return None
    found: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)


def stored_instant(conn: Connection, value: datetime) -> Any:
    """An aware instant as a ``UtcDateTime`` column holds it, to bind to a statement of
    ``rows``: naive-UTC text with microseconds on SQLite (what SQLAlchemy and the bulk
    writer store, so text order is time order), the instant itself on PostgreSQL."""
    if value.tzinfo is None:
        raise ValueError("naive datetime bound to a UTC column")
    if conn.dialect.name == "postgresql":
        return value
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
