"""The store's period partitions (PostgreSQL): list them, and make those of the months ahead
so that no writer has to make one as it goes."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from ratebook.errors import InputError
from ratebook.model.ledger import Period
from ratebook.store import partitions
from ratebook.store.partitions import Partition


def list_partitions(engine: Engine) -> list[Partition]:
    """Every period partition of records, charges and postings (none on SQLite)."""
    with engine.connect() as conn:
        return partitions.list_partitions(conn)


def create_partitions(
    engine: Engine, *, first: str | None = None, months: int = 3, now: datetime | None = None
) -> list[str]:
    """Make the partitions of ``months`` periods from ``first`` (default: this month, by
    UTC) that are not there yet; their names. Nothing on SQLite, whose tables are not
    partitioned.

    Raises:
        InputError: ``BAD_PERIOD`` for a ``first`` that is not a billing month, or
            ``months`` out of 1 to 120.
    """
    start = Period.parse(first, option="--from") if first else None
    if start is None:
        start = Period.parse((now or datetime.now(UTC)).strftime("%Y-%m"))
    if not 1 <= months <= 120:
        raise InputError(
            "BAD_PERIOD", f"--months is {months}: give 1 to 120 months", path="--months"
        )
    with engine.begin() as conn:
        return partitions.create_periods(conn, partitions.periods_from(str(start), months))
