"""Rows streamed as frames (``store.frames.streamed_frames``) are the rows the query gives,
on both stores: on PostgreSQL through ``COPY ... TO STDOUT`` cut into pieces at row ends,
even where a value holds commas, quotes and line breaks."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from sqlalchemy import Engine, insert, select

from ratebook.store import frames
from ratebook.store.tables import customers, entities

NAMES = [
    "plain",
    'a "quoted" name',
    "two\nlines",
    'ends with a quote"',
    "comma, and\r\nCRLF",
    '"',
    "ünïcödé",
]


def test_streamed_rows_are_the_rows(my_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # pieces of 64 bytes: every few rows a cut, some of them inside a quoted line break
    monkeypatch.setattr(frames, "COPY_CHUNK_BYTES", 64)
    now = datetime(2026, 10, 1, tzinfo=UTC)
    with my_engine.begin() as conn:
        entity_id = conn.execute(select(entities.c.id)).scalar_one()
        conn.execute(
            insert(customers),
            [
                {
                    "entity_id": entity_id,
                    "account": f"A{n:03d}",
                    "name": NAMES[n % len(NAMES)] * (1 + n % 3),
                    "status": "active",
                    "created_at": now,
                }
                for n in range(60)
            ],
        )
    statement = select(customers.c.id, customers.c.account, customers.c.name)
    schema: dict[str, pl.DataType] = {"id": pl.Int64(), "account": pl.String(), "name": pl.String()}
    with my_engine.connect() as conn:
        expected = sorted(tuple(r) for r in conn.execute(statement))
        parts = list(frames.streamed_frames(conn, statement, schema, rows=7))
    assert len(parts) > 1
    got = sorted(pl.concat(parts).rows())
    assert got == expected
    assert len(got) == 60
