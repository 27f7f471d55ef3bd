"""Reading query results into Polars frames with a fixed schema (UTC instants kept aware)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl
from sqlalchemy import Connection, Executable


def query_frame(
    conn: Connection, statement: Executable, schema: dict[str, pl.DataType]
) -> pl.DataFrame:
    """Run ``statement`` and return its rows as a frame with ``schema`` (column order kept)."""
    rows: Sequence[Any] = conn.execute(statement).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")
