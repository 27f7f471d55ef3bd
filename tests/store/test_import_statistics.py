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


def _described(engine: Engine) -> tuple[int, int, int]:
    """The row counts the planner's statistics give the records, the charges and the usage
    totals."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT relname, CAST(reltuples AS bigint) FROM pg_class"
                " WHERE oid IN ('usage_records'::regclass, 'rated_charges'::regclass,"
                " 'usage_totals'::regclass)"
            )
        ).all()
    found = {str(name): max(int(count), 0) for name, count in rows}  # -1: never sampled
    return found["usage_records"], found["rated_charges"], found["usage_totals"]


def test_statistics_follow_large_imports_and_skip_small_ones(
    my_engine: Engine, tmp_path: Path
) -> None:
    if my_engine.dialect.name != "postgresql":
        pytest.skip("SQLite's planner keeps no statistics that an import refreshes")
    one_customer(my_engine, tmp_path)
    # the tables are sampled once the records are stored and before the charges and the
    # totals (one per customer, period, service and unit) are: small tables are read whole,
    # so the counts are exact
    import_feed(my_engine, _feed(tmp_path, "a", 200), format_name="generic")
    assert _described(my_engine) == (200, 0, 0)
    # 10 records are 5% of the 200 the statistics describe: not sampled again; the charges'
    # and the totals' statistics still describe none, so they are
    import_feed(my_engine, _feed(tmp_path, "b", 10), format_name="generic")
    assert _described(my_engine) == (200, 200, 1)
    import_feed(my_engine, _feed(tmp_path, "c", 300), format_name="generic")
    assert _described(my_engine) == (510, 210, 1)
