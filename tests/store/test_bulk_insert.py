"""Bulk inserts write every value exactly, whichever way each column travels: bound per row,
written once as a literal because it holds one value throughout (SQLite), or (SQLite, a
large frame) staged through a scratch database and copied in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from sqlalchemy import BigInteger, Boolean, Column, Engine, MetaData, String, Table, select

from ratebook.store import bulk
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


def _probe(name: str) -> Table:
    return Table(
        name,
        MetaData(),
        Column("n", BigInteger, nullable=False),
        Column("flag", Boolean),
        Column("name", String(64)),
        Column("missing", String(64)),
        Column("at", UtcDateTime),
    )


def _varied(rows: int) -> pl.DataFrame:
    """Values of every kind an import writes: large and negative integers, text with quotes,
    commas, line ends and non-ASCII letters, missing values, booleans and instants."""
    at = datetime(2026, 3, 31, 16, 0, 0, 1, tzinfo=UTC)
    return pl.DataFrame(
        {
            "n": [(-1) ** i * (2**62 + i) for i in range(rows)],
            "flag": [None if i % 3 == 0 else i % 2 == 0 for i in range(rows)],
            "name": [
                None if i % 7 == 0 else f"row {i}, 'quoted' \"twice\"\nnext line: Śląsk 東京"
                for i in range(rows)
            ],
            "missing": [None] * rows,
            "at": [None if i % 5 == 0 else at + timedelta(seconds=i) for i in range(rows)],
        },
        schema={
            "n": pl.Int64,
            "flag": pl.Boolean,
            "name": pl.String,
            "missing": pl.Null,
            "at": pl.Datetime("us", "UTC"),
        },
    )


def test_a_large_frame_is_stored_as_a_small_one_is(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite stages a frame of STAGE_FROM_ROWS rows or more through a scratch database; a
    # frame just below goes through executemany. Both must store the very same values, and
    # on SQLite with the same storage classes (an integer kept as text would compare wrong)
    rows = bulk.STAGE_FROM_ROWS + 5
    frame = _varied(rows)
    staged, bound = _probe("bulk_staged"), _probe("bulk_bound")
    staged.create(engine)
    bound.create(engine)
    with engine.begin() as conn:
        insert_frame(conn, staged, frame)
        monkeypatch.setattr(bulk, "STAGE_FROM_ROWS", rows + 1)
        insert_frame(conn, bound, frame)
    expected = [(r["n"], r["flag"], r["name"], None, r["at"]) for r in frame.iter_rows(named=True)]
    with engine.connect() as conn:
        for table in (staged, bound):
            got = conn.execute(select(table).order_by(table.c.n)).all()
            assert [tuple(r) for r in got] == sorted(expected, key=lambda r: r[0])
        if conn.dialect.name == "sqlite":
            kinds = [
                conn.exec_driver_sql(
                    "SELECT group_concat(k) FROM (SELECT DISTINCT typeof(n) || typeof(flag)"
                    f" || typeof(name) || typeof(missing) || typeof(at) AS k FROM {t.name}"
                    " ORDER BY k)"
                ).scalar_one()
                for t in (staged, bound)
            ]
            assert kinds[0] == kinds[1]
            assert "integerintegertextnulltext" in kinds[0].split(",")


def test_a_staged_frame_is_undone_with_its_transaction(engine: Engine) -> None:
    table = _probe("bulk_undone")
    table.create(engine)
    frame = _varied(bulk.STAGE_FROM_ROWS)

    def fail_after_copying() -> None:
        with engine.begin() as conn:
            insert_frame(conn, table, frame)
            raise RuntimeError("the import fails after the rows were copied in")

    with pytest.raises(RuntimeError):
        fail_after_copying()
    with engine.connect() as conn:
        assert conn.execute(select(table.c.n)).all() == []


def test_a_few_rows_are_stored_as_many_are(engine: Engine) -> None:
    # a push's few rows are written from their Python values (on PostgreSQL a COPY row by
    # row, on SQLite executemany), a file's many by the frame's own writer; the same values
    # come back either way, tabs and backslashes included
    many = _varied(200).with_columns(
        pl.when(pl.col("n") % 2 == 0)
        .then(pl.col("name") + pl.lit("\ttab \\N back\\slash"))
        .otherwise(pl.col("name"))
        .alias("name")
    )
    few = many.head(12)
    assert few.height < bulk.FEW_ROWS <= many.height
    big, small = _probe("bulk_many"), _probe("bulk_few")
    big.create(engine)
    small.create(engine)
    with engine.begin() as conn:
        insert_frame(conn, big, many)
        insert_frame(conn, small, few)
    with engine.connect() as conn:
        stored_many = conn.execute(select(big).order_by(big.c.n)).all()
        stored_few = conn.execute(select(small).order_by(small.c.n)).all()
    expected = sorted(
        ((r["n"], r["flag"], r["name"], None, r["at"]) for r in few.iter_rows(named=True)),
        key=lambda r: r[0],
    )
    assert [tuple(r) for r in stored_few] == expected
    assert [tuple(r) for r in stored_many if r.n in {e[0] for e in expected}] == expected
