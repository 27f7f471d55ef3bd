"""Bulk inserts of Polars frames inside the caller's transaction: COPY on PostgreSQL,
``executemany`` on SQLite. Both go through the SQLAlchemy connection's own DBAPI connection,
so they commit or roll back with everything else in the transaction."""

from __future__ import annotations

from typing import Any

import polars as pl
from sqlalchemy import Connection, Table


def _sqlite_rows(frame: pl.DataFrame) -> list[tuple[Any, ...]]:
    # SQLite keeps UTC instants as naive text, as the UtcDateTime column type does
    converted = frame.with_columns(
        pl.col(name).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%d %H:%M:%S.%6f")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime)
    )
    return converted.rows()


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
        text = frame.with_columns(
            pl.col(name).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%d %H:%M:%S%.6f+00")
            for name, dtype in frame.schema.items()
            if isinstance(dtype, pl.Datetime)
        ).write_csv(include_header=False, null_value="\\N", quote_style="non_numeric")
        names = ", ".join(f'"{c}"' for c in columns)
        statement = f"COPY {table.name} ({names}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
        with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
            copy.write(text)
        return
    placeholders = ", ".join("?" for _ in columns)
    names = ", ".join(f'"{c}"' for c in columns)
    cursor = raw.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(
            f"INSERT INTO {table.name} ({names}) VALUES ({placeholders})", _sqlite_rows(frame)
        )
    finally:
        cursor.close()
