"""Bulk inserts of Polars frames inside the caller's transaction: COPY on PostgreSQL,
``executemany`` on SQLite. Both go through the SQLAlchemy connection's own DBAPI connection,
so they commit or roll back with everything else in the transaction."""

from __future__ import annotations

from typing import Any

import polars as pl
from sqlalchemy import Connection, Table


def _sqlite_text(frame: pl.DataFrame) -> pl.DataFrame:
    # SQLite keeps UTC instants as naive text, as the UtcDateTime column type does
    return frame.with_columns(
        pl.col(name).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%d %H:%M:%S.%6f")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime)
    )


#: Rows from which a column holding one value throughout is written as a literal.
_LITERAL_FROM_ROWS = 64


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


def _sqlite_insert(cursor: Any, table: Table, frame: pl.DataFrame) -> None:
    """``executemany`` of ``frame`` into ``table``. SQLite's cost is per bound value, so in a
    large frame a column holding one value throughout (the entity, the batch, the file's
    digest, the rating time) is written into the statement once as a literal instead."""
    text = _sqlite_text(frame)
    literals: dict[str, str] = {}
    if text.height >= _LITERAL_FROM_ROWS:
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
    cursor = raw.cursor()  # type: ignore[union-attr]
    try:
        _sqlite_insert(cursor, table, frame)
    finally:
        cursor.close()
