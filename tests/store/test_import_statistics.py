"""PostgreSQL's planner statistics after an import: refreshed when the import is a large part
of the tables it fills (their statistics would describe nearly empty tables, and a usage-totals
table never sampled is scanned whole by every placing query), left alone for a small file
into a large store, which would otherwise spend a fifth of its time sampling."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from ratebook.workflows.import_feed import import_feed
from tests.conftest import one_customer, write

HEADER = "record_id,start_time,quantity,account,destination\n"


def _feed(tmp_path: Path, name: str, count: int) -> Path:
    rows = "".join(f"{name}{n},2026-10-05T10:00:00+08:00,60,A,+60312345678\n" for n in range(count))
    return write(tmp_path / f"{name}.csv", HEADER + rows)


def _described(engine: Engine) -> tuple[int, int, int, int]:
    """The row counts the planner's statistics give the records, the charges, the usage
    totals and the ledger postings (a partitioned table's: its partitions' together)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT t.name, sum(greatest(CAST(c.reltuples AS bigint), 0))"  # -1: never sampled
                " FROM unnest(ARRAY['usage_records', 'rated_charges', 'usage_totals',"
                " 'ledger_postings']) AS t(name)"
                " LEFT JOIN LATERAL pg_partition_tree(CAST(t.name AS regclass)) AS tree ON true"
                " JOIN pg_class c ON c.oid = coalesce(tree.relid, CAST(t.name AS regclass))"
                " WHERE coalesce(tree.isleaf, true) GROUP BY t.name"
            )
        ).all()
    found = {str(name): int(count) for name, count in rows}
    return (
        found["usage_records"],
        found["rated_charges"],
        found["usage_totals"],
        found["ledger_postings"],
    )


def test_statistics_follow_large_imports_and_skip_small_ones(
    my_engine: Engine, tmp_path: Path
) -> None:
    if my_engine.dialect.name != "postgresql":
        pytest.skip("SQLite's planner keeps no statistics that an import refreshes")
    one_customer(my_engine, tmp_path)
    # the records are sampled once they are stored, the charges, the totals (one per
    # customer, period, service and unit) and the postings (one usage posting per
    # customer-cycle) once the import has written them: small tables are read whole, so the
    # counts are exact
    import_feed(my_engine, _feed(tmp_path, "a", 200), format_name="generic")
    assert _described(my_engine) == (200, 200, 1, 1)
    # 10 records are 5% of the 200 the statistics describe: the records and the charges are
    # not sampled again; the one total and the one posting are ten times fewer than the
    # import's records, so they are (and still count one row each, the postings two)
    import_feed(my_engine, _feed(tmp_path, "b", 10), format_name="generic")
    assert _described(my_engine) == (200, 200, 1, 2)
    import_feed(my_engine, _feed(tmp_path, "c", 300), format_name="generic")
    assert _described(my_engine) == (510, 510, 1, 3)
