"""Period partitions on PostgreSQL: rows of a month without a partition wait in the default
one; making the month's partition moves them there, and nothing a user reads changes. On
SQLite there is one table of each, and making partitions does nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from ratebook.errors import InputError
from ratebook.workflows.close_cycle import close_cycle
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.partitions import create_partitions, list_partitions
from ratebook.workflows.verify_audit import verify_audit
from tests.conftest import one_customer, write

CALLS = "record_id,start_time,quantity,account,destination\n" + (
    "o1,2026-10-05T10:00:00+08:00,60,A,+60312345678\n"
    "o2,2026-10-31T23:59:00+08:00,120,A,+60312345678\n"  # 15:59 UTC: October either way
    "n1,2026-11-01T00:01:00+08:00,30,A,+60312345678\n"  # 16:01 UTC on 31 October: November
)


def _rows(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def _balance(engine: Engine, period: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT coalesce(sum(amount), 0) FROM ledger_postings WHERE period = :p"),
                {"p": period},
            ).scalar_one()
        )


def test_making_a_months_partitions_moves_its_rows_and_changes_nothing_read(
    my_engine: Engine, tmp_path: Path
) -> None:
    one_customer(my_engine, tmp_path)
    import_feed(my_engine, write(tmp_path / "calls.csv", CALLS), format_name="generic")
    close_cycle(my_engine, "2026-10", now=datetime(2026, 11, 5, tzinfo=UTC))
    # RM0.0300 a started minute: October's o1 0.0300 + o2 0.0600 = 0.0900 is under the RM1
    # floor, carried out of October (nets to nothing there) and brought into November beside
    # n1's 0.0300 (amounts in millionths)
    october, november = _balance(my_engine, "2026-10"), _balance(my_engine, "2026-11")
    assert (october, november) == (0, 120_000)
    postgres = my_engine.dialect.name == "postgresql"

    made = create_partitions(my_engine, first="2026-10", months=2)

    if not postgres:
        assert made == []
        assert list_partitions(my_engine) == []
    else:
        assert sorted(made) == sorted(
            f"{t}_p2026_{m}"
            for t in ("usage_records", "rated_charges", "ledger_postings")
            for m in ("10", "11")
        )
        assert _rows(my_engine, "usage_records_p2026_10") == 2
        assert _rows(my_engine, "usage_records_p2026_11") == 1
        assert _rows(my_engine, "rated_charges_p2026_10") == 2
        assert _rows(my_engine, "usage_records_pdefault") == 0
        assert _rows(my_engine, "rated_charges_pdefault") == 0
        shown = {(p.table, p.period) for p in list_partitions(my_engine)}
        assert ("usage_records", "2026-10") in shown
        assert ("ledger_postings", "default") in shown
    assert _rows(my_engine, "usage_records") == 3
    assert (_balance(my_engine, "2026-10"), _balance(my_engine, "2026-11")) == (october, november)
    assert create_partitions(my_engine, first="2026-10", months=2) == []  # made once
    assert verify_audit(my_engine, deep=True).findings == []

    # an October id sent again is a duplicate from its partition; December has no partition
    # and its record waits in the default one
    again = write(
        tmp_path / "again.csv",
        CALLS.splitlines()[0]
        + "\n"
        + CALLS.splitlines()[1]
        + "\nd1,2026-12-01T10:00:00+08:00,60,A,+60312345678\n",
    )
    result = import_feed(my_engine, again, format_name="generic")
    assert (result.rated, result.duplicates, result.exceptions) == (1, 1, 0)
    if postgres:
        assert _rows(my_engine, "usage_records_pdefault") == 1


def test_a_period_that_is_not_a_month_is_refused(engine: Engine) -> None:
    with pytest.raises(InputError) as refused:
        create_partitions(engine, first="2026-13")
    assert refused.value.code == "BAD_PERIOD"
    with pytest.raises(InputError) as refused:
        create_partitions(engine, first="2026-10", months=0)
    assert refused.value.code == "BAD_PERIOD"
