"""Bulk inserts of Polars frames inside the caller's transaction: COPY on PostgreSQL; on
SQLite a staged copy for a large frame and ``executemany`` for a small one. All go through the
SQLAlchemy connection's own DBAPI connection, so they commit or roll back with everything else
in the transaction.

SQLite's staged copy: Python's ``sqlite3`` pays for every value it binds, which would make
binding a large share of an import's write time, against SQLite inserting the same rows
from another table. So a large frame is written by the ADBC SQLite driver, which binds the
frame's Arrow columns in C, into a scratch database file of its own; that file's image is
loaded into an in-memory database attached to the connection (``sqlite3_deserialize``), and
one ``INSERT ... SELECT`` copies the rows in. The scratch file is outside the transaction and
holds nothing but the frame; the copy is inside it.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import cache
from typing import Any

import adbc_driver_manager
import adbc_driver_sqlite
import polars as pl
from sqlalchemy import Connection, Table
from sqlalchemy.exc import DBAPIError

from ratebook.store import scratch


def _sqlite_text(frame: pl.DataFrame) -> pl.DataFrame:
    # SQLite keeps UTC instants as naive text, as the UtcDateTime column type does
    return frame.with_columns(
        pl.col(name).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%d %H:%M:%S.%6f")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime)
    )


#: Fewer rows than this (a push's) are written from their Python values, not by frame
#: expressions: for a handful of rows each expression costs more than the rows. The
#: intake's few-row paths (records, charges) use the same bound.
FEW_ROWS = 64


def _literal(value: object) -> str | None:
    """``value`` as an SQLite literal, or None where it is not one that is safe to write."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and "\x00" not in value:
        return "'" + value.replace("'", "''") + "'"
    return None


def _sqlite_insert(cursor: Any, table: Table, text: pl.DataFrame) -> None:
    """``executemany`` of ``text`` (a frame with its instants as text) into ``table``.
    SQLite's cost is per bound value, so a column holding one value throughout (the entity,
    the batch, the file's digest, the rating time) is written into the statement once as a
    literal instead (the frame has ``FEW_ROWS`` rows or more)."""
    literals: dict[str, str] = {}
    counts = text.select(pl.all().n_unique()).row(0, named=True)
    for name, count in counts.items():
        if count == 1 and (literal := _literal(text[name][0])) is not None:
            literals[name] = literal
    bound = [c for c in text.columns if c not in literals]
    names = ", ".join(f'"{c}"' for c in [*bound, *literals])
    values = ", ".join(["?"] * len(bound) + list(literals.values()))
    cursor.executemany(
        f"INSERT INTO {table.name} ({names}) VALUES ({values})", text.select(bound).rows()
    )


def _sqlite_values(rows: Iterable[Iterable[Any]]) -> list[list[Any]]:
    """Rows of Python values as SQLite binds them, instants as ``_sqlite_text`` writes them:
    for a handful of rows that costs less than a frame expression a column."""
    return [[_naive_utc_text(v) if isinstance(v, datetime) else v for v in row] for row in rows]


def _sqlite_execute_many(raw: Any, table: Table, columns: list[str], rows: list[Any]) -> None:
    names = ", ".join(f'"{c}"' for c in columns)
    values = ", ".join(["?"] * len(columns))
    raw.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({values})", rows)


def insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert a few rows given as mappings (each with the same columns, named as in
    ``table``) as ``insert_frame`` inserts a few rows of a frame."""
    if not rows:
        return
    columns = list(rows[0])
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        _postgres_copy_rows(raw, table, columns, [tuple(row.values()) for row in rows])
        return
    _sqlite_execute_many(raw, table, columns, _sqlite_values(row.values() for row in rows))


def _naive_utc_text(instant: datetime) -> str:
    """An instant as ``_sqlite_text`` writes it."""
    aware = instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


#: Rows from which SQLite takes a frame by the staged copy (staging costs about a millisecond).
STAGE_FROM_ROWS = 1_000
#: The in-memory database the staged frames are loaded into, attached to each connection.
_STAGE = "ratebook_stage"


def _stageable(frame: pl.DataFrame) -> bool:
    """Whether every column is one the staged copy writes as ``executemany`` binds it."""
    return all(
        dtype.is_integer() or dtype in (pl.String(), pl.Null(), pl.Boolean())
        for dtype in frame.schema.values()
    )


def _scratch_image(frame: pl.DataFrame) -> bytes:
    """The bytes of a scratch SQLite database holding ``frame`` as table ``frame``, written
    by the ADBC driver."""
    fd, name = tempfile.mkstemp(prefix="stage-", suffix=".sqlite", dir=scratch.folder())
    os.close(fd)
    try:
        with (
            adbc_driver_sqlite.connect(name) as database,
            adbc_driver_manager.AdbcConnection(database) as connection,
        ):
            # a scratch file: no journal, no flush to disk
            for pragma in ("PRAGMA journal_mode=OFF", "PRAGMA synchronous=OFF"):
                with adbc_driver_manager.AdbcStatement(connection) as statement:
                    statement.set_sql_query(pragma)
                    statement.execute_update()
            with adbc_driver_manager.AdbcStatement(connection) as statement:
                statement.set_options(
                    **{
                        "adbc.ingest.target_table": "frame",
                        "adbc.ingest.mode": "adbc.ingest.mode.create",
                    }
                )
                statement.bind_stream(frame)
                statement.execute_update()
        with open(name, "rb") as staged:
            return staged.read()
    except adbc_driver_manager.Error as error:
        # the driver reports a full disk as the rollback that failed after it; say what it was
        free = shutil.disk_usage(os.path.dirname(name)).free
        if free < max(frame.estimated_size() * 2, 1 << 20):
            raise OSError(errno.ENOSPC, f"No space left on device: {name}") from error
        raise
    finally:
        os.unlink(name)


@cache
def _empty_image() -> bytes:
    """An empty database's image, loaded over a staged frame to free its memory."""
    empty = sqlite3.connect(":memory:")
    try:
        empty.execute("CREATE TABLE t (x)")
        empty.execute("DROP TABLE t")
        return empty.serialize()
    finally:
        empty.close()


def _sqlite_staged_insert(raw: sqlite3.Connection, table: Table, frame: pl.DataFrame) -> None:
    """Insert ``frame`` (its instants as text, its columns ``_stageable``) into ``table`` by
    the staged copy."""
    text = frame.with_columns(
        pl.col(name).cast(pl.String) for name, dtype in frame.schema.items() if dtype == pl.Null()
    )
    image = _scratch_image(text)
    attached = {row[1] for row in raw.execute("PRAGMA database_list")}
    if _STAGE not in attached:
        raw.execute(f"ATTACH DATABASE ':memory:' AS {_STAGE}")
    raw.deserialize(image, name=_STAGE)
    try:
        names = ", ".join(f'"{c}"' for c in text.columns)
        raw.execute(f'INSERT INTO main."{table.name}" ({names}) SELECT {names} FROM {_STAGE}.frame')
    finally:
        raw.deserialize(_empty_image(), name=_STAGE)


def insert_frame(conn: Connection, table: Table, frame: pl.DataFrame) -> None:
    """Insert every row of ``frame`` (columns named as in ``table``) into ``table``."""
    if frame.is_empty():
        return
    columns = frame.columns
    unknown = set(columns) - set(table.columns.keys())
    if unknown:
        raise ValueError(f"columns not in {table.name}: {sorted(unknown)}")
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        _postgres_copy(raw, table, frame)
        return
    if frame.height < FEW_ROWS:
        _sqlite_execute_many(raw, table, frame.columns, _sqlite_values(frame.iter_rows()))
        return
    text = _sqlite_text(frame)
    if text.height >= STAGE_FROM_ROWS and _stageable(text):
        _sqlite_staged_insert(raw, table, text)  # type: ignore[arg-type]
        return
    cursor = raw.cursor()  # type: ignore[union-attr]
    try:
        _sqlite_insert(cursor, table, text)
    finally:
        cursor.close()


def _postgres_copy(raw: Any, table: Table, frame: pl.DataFrame) -> None:
    """``COPY`` of ``frame`` into ``table``: as CSV written by the frame, or for a few rows
    (a push's) row by row from their Python values, which costs less than the frame's CSV
    writer sets up."""
    if frame.height < FEW_ROWS:
        _postgres_copy_rows(raw, table, frame.columns, frame.iter_rows())
        return
    text = frame.with_columns(
        pl.col(name).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%d %H:%M:%S%.6f+00")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime)
    ).write_csv(include_header=False, null_value="\\N", quote_style="non_numeric")
    names = ", ".join(f'"{c}"' for c in frame.columns)
    _postgres_copy_in(
        raw,
        f"COPY {table.name} ({names}) FROM STDIN WITH (FORMAT csv, NULL '\\N')",
        lambda copy: copy.write(text),
    )


def _postgres_copy_rows(
    raw: Any, table: Table, columns: list[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    """``COPY`` of rows of Python values (psycopg's own text format) into ``table``."""

    def write(copy: Any) -> None:
        for row in rows:
            copy.write_row(row)

    names = ", ".join(f'"{c}"' for c in columns)
    _postgres_copy_in(raw, f"COPY {table.name} ({names}) FROM STDIN", write)


def _postgres_copy_in(raw: Any, statement: str, write: Callable[[Any], None]) -> None:
    import psycopg  # here: a SQLite deployment need not load it at every start

    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            write(copy)
    except psycopg.Error as error:
        # raised as SQLAlchemy raises it for its own statements (IntegrityError for a unique
        # key, OperationalError for a deadlock, ...), so callers meet one kind
        raise DBAPIError.instance(statement, None, error, psycopg.Error) from error
