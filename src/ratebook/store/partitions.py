"""The period partitions of records, charges and postings on PostgreSQL (migration 0027): one
a month, ``<table>_pYYYY_MM``, range-partitioned on ``period``, and a default partition,
``<table>_pdefault``, holding the rows of any period that has none of its own. SQLite keeps
one table of each; everything here does nothing there.

Writers never make partitions: a row always has a place (its period's partition or the
default), a serving role needs no right to create tables, and no import waits for another's
table lock. ``ratebook partitions create`` (the store's owner, ahead of the months, as a
scheduled job) makes a month's partitions, moving any rows of that month out of the default
partition in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text

from ratebook.model.ledger import next_period

#: The tables partitioned by period.
PARTITIONED = ("usage_records", "rated_charges", "ledger_postings")

#: The period ``Partition.period`` gives a default partition.
DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class Partition:
    """One partition: its table, period (``DEFAULT`` for the default partition), name, and
    rows as last sampled (-1 for one never sampled)."""

    table: str
    period: str
    name: str
    rows: int


def partition_name(table: str, period: str) -> str:
    """``usage_records`` and ``2026-10``: ``usage_records_p2026_10``."""
    if period == DEFAULT:
        return f"{table}_pdefault"
    return f"{table}_p{period[:4]}_{period[5:7]}"


def periods_from(first: str, count: int) -> list[str]:
    """``count`` periods from ``first`` on."""
    out = [first]
    while len(out) < count:
        out.append(next_period(out[-1]))
    return out


def create_periods(
    conn: Connection, periods: Iterable[str], tables: Sequence[str] = PARTITIONED
) -> list[str]:
    """Make the partitions of ``tables`` that ``periods`` do not have yet, in the caller's
    transaction, each with the rows of its period the default partition held; the names
    made. Nothing on SQLite.

    Attaching a partition scans the default partition under an exclusive lock of it, so
    writers of periods without a partition wait for this transaction: make them ahead."""
    if conn.dialect.name != "postgresql":
        return []
    wanted = {partition_name(t, p): (t, p) for t in tables for p in set(periods)}
    made = []
    for name in sorted(_missing(conn, list(wanted))):
        table, period = wanted[name]
        # another making this very partition holds the lock until it commits; then it is
        # there, and this one makes nothing
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})
        if not _missing(conn, [name]):
            continue
        default = partition_name(table, DEFAULT)
        columns = ", ".join(
            str(c)
            for c in conn.execute(
                text(
                    "SELECT attname FROM pg_attribute WHERE attrelid = CAST(:t AS regclass)"
                    " AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
                ),
                {"t": table},
            ).scalars()
        )
        conn.exec_driver_sql(
            f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        )
        conn.exec_driver_sql(
            f"WITH moved AS (DELETE FROM {default} WHERE period = %(p)s RETURNING {columns})"
            f" INSERT INTO {name} ({columns}) SELECT {columns} FROM moved",
            {"p": period},
        )
        conn.exec_driver_sql(
            f"ALTER TABLE {table} ATTACH PARTITION {name}"
            f" FOR VALUES FROM ('{period}') TO ('{next_period(period)}')"
        )
        made.append(name)
    return made


def _missing(conn: Connection, names: list[str]) -> set[str]:
    rows = conn.execute(
        text("SELECT n FROM unnest(CAST(:names AS text[])) AS n WHERE to_regclass(n) IS NULL"),
        {"names": names},
    )
    return {str(n) for n in rows.scalars()}


def list_partitions(conn: Connection) -> list[Partition]:
    """Every partition, by table and name (a table's default partition after its periods'),
    with its rows as last sampled. Empty on SQLite."""
    if conn.dialect.name != "postgresql":
        return []
    rows = conn.execute(
        text(
            "SELECT parent.relname, child.relname, CAST(child.reltuples AS bigint)"
            " FROM pg_inherits i JOIN pg_class parent ON parent.oid = i.inhparent"
            " JOIN pg_class child ON child.oid = i.inhrelid"
            " WHERE parent.relname = ANY(CAST(:tables AS text[]))"
            " AND parent.relnamespace = CAST(current_schema() AS regnamespace)"
            " ORDER BY parent.relname, child.relname"
        ),
        {"tables": list(PARTITIONED)},
    )
    out = []
    for table, name, tuples in rows:
        suffix = str(name).removeprefix(f"{table}_p")
        out.append(
            Partition(
                table=str(table),
                period=suffix if suffix == DEFAULT else f"{suffix[:4]}-{suffix[5:7]}",
                name=str(name),
                rows=int(tuples),
            )
        )
    return out
