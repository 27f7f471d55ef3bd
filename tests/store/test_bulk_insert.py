"""Bulk inserts write every value exactly, whichever way each column travels: bound per row,
or (SQLite, a large frame) written once as a literal because it holds one value throughout."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
from sqlalchemy import BigInteger, Column, Engine, MetaData, String, Table, select

from ratebook.store.bulk import insert_frame
from ratebook.store.tables import UtcDateTime


def test_constant_and_varying_columns_round_trip(engine: Engine) -> None:
    table = Table(
        "bulk_probe",
        MetaData(),
        Column("n", BigInteger, nullable=False),
        Column("name", String(64)),
        Column("note", String(64)),
        Column("empty", String(64)),
        Column("at", UtcDateTime),
    )
    table.create(engine)
    at = datetime(2026, 10, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    rows = 200
    frame = pl.DataFrame(
        {
            "n": list(range(rows)),
            "name": ["O'Brien; DROP TABLE x --"] * rows,  # one value: a literal on SQLite
            "note": [f"row {i}" for i in range(rows)],
            "empty": [None] * rows,
            "at": [at] * rows,
        },
        schema={
            "n": pl.Int64,
            "name": pl.String,
            "note": pl.String,
            "empty": pl.String,
            "at": pl.Datetime("us", "UTC"),
        },
    )
    with engine.begin() as conn:
        insert_frame(conn, table, frame)
    with engine.connect() as conn:
        got = conn.execute(select(table).order_by(table.c.n)).all()
    assert [tuple(r) for r in got] == [
        (i, "O'Brien; DROP TABLE x --", f"row {i}", None, at) for i in range(rows)
    ]
