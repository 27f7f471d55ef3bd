"""The regulatory report of the bench's shaped month (``bench/shaped.py``, 1M records by
default) on each store: ``ratebook report regulatory`` end to end (process start, the
snapshot read, the destinations' classification, the files written) with its peak memory,
beside a bare SQL ``GROUP BY`` over the same rows (the same join, the same period) in the same
run, and their ratio."""

from __future__ import annotations

import time
from pathlib import Path

from commands import ratebook_rss
from shaped import generate
from sqlalchemy import text

from ratebook.store.engine import mapped_reads, open_store

#: The bare aggregate the report is measured against: the entity's current charges of the
#: period (the rows the report reads, chosen as it chooses them) joined to their records and
#: customers, summed per service, direction, segment and unit.
GROUP_BY = """
SELECT r.service, r.direction, k.segment, r.unit, count(*), sum(r.quantity),
       sum(c.billed_quantity), sum(c.charge)
FROM rated_charges c
JOIN usage_records r ON r.id = c.record_pk
JOIN customers k ON k.id = c.customer_id
WHERE c.entity_id = (SELECT id FROM entities WHERE code = 'BENCH')
  AND c.period = '2026-10' AND c.superseded_by IS NULL
GROUP BY r.service, r.direction, k.segment, r.unit
"""


def _group_by(db: str) -> float:
    """Seconds of the bare aggregate (the best of three, the store warmed by the first),
    read as the report reads (SQLite's pages memory-mapped)."""
    engine = open_store(db)
    best = float("inf")
    try:
        for _ in range(3):
            with engine.connect() as conn, mapped_reads(conn):
                began = time.perf_counter()
                conn.execute(text(GROUP_BY)).all()
                best = min(best, time.perf_counter() - began)
    finally:
        engine.dispose()
    return best


def report_bench(work: Path, stores: list[tuple[str, str]], rows: int) -> None:
    """Load the shaped month into each store, then time the report and the bare GROUP BY."""
    inputs = generate(work / "input", rows)
    print(f"\nregulatory report of a {rows:,}-record month (bench/report_part.py)")
    for name, db in stores:
        for args in (
            ("init", "--entity", "BENCH"),
            ("rates", "import", str(inputs.table)),
            ("customers", "import", str(inputs.customers)),
            ("ingest", "--format", "generic", str(inputs.cdrs)),
        ):
            ratebook_rss(db, *args)
        bare = _group_by(db)
        seconds, peak = ratebook_rss(
            db, "report", "regulatory", "--period", "2026-10", "--out", str(work / f"out-{name}")
        )
        print(
            f"  {name:<10} report {seconds:6.1f}s  peak RSS {peak:,} MB (target 1,024)"
            f"  bare GROUP BY {bare:5.2f}s  ratio {seconds / bare:5.1f}x (target 2)"
        )
