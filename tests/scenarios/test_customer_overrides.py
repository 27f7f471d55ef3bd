"""Story: a key account gets its own prices for mobile calls and 10% off everything else.
Expected charges worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from ratebook.workflows import report_usage
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rates import import_rates
from tests.conftest import write
from tests.support.statements import statement_records

FEED = """record_id,start_time,quantity,account,destination
m1,2026-10-05T10:00:00+08:00,60,ACME,+60123456789
f1,2026-10-05T11:00:00+08:00,60,ACME,+60312345678
i1,2026-10-05T12:00:00+08:00,61,ACME,+6591234567
b1,2026-10-05T13:00:00+08:00,60,BETA,+60123456789
"""


def test_override_rows_win_where_they_match_and_discount_applies(
    my_engine: Engine, tmp_path: Path
) -> None:
    base = "prefix,destination,rate\n60,Malaysia,0.0300\n60123,Maxis,0.0500\n65,Singapore,0.2000\n"
    special = "prefix,destination,rate\n601,Mobile (ACME contract),0.0100\n"
    import_rates(
        my_engine, write(tmp_path / "base.csv", base), name="standard", effective_from="2026-01-01"
    )
    import_rates(
        my_engine,
        write(tmp_path / "special.csv", special),
        name="acme-special",
        effective_from="2026-01-01",
    )
    import_customers(
        my_engine,
        write(
            tmp_path / "c.csv",
            (
                "account,name,rate_table,numbers,override_table,discount\n"
                "ACME,Acme,standard,,acme-special,10\n"
                "BETA,Beta,standard,,,\n"
            ),
        ),
    )
    import_feed(my_engine, write(tmp_path / "f.csv", FEED), format_name="generic")
    report_usage.write_statement(
        my_engine, account="ACME", period="2026-10", out=tmp_path / "acme.csv"
    )
    rows = statement_records(tmp_path / "acme.csv")
    assert [(r["destination"], r["destination_name"], r["charge"]) for r in rows] == [
        # the override's 601 wins over the base's longer 60123: 0.0100 less 10% = 0.0090
        ("'+60123456xxx", "Mobile (ACME contract)", "0.0090"),
        # no override row for 603: the base 0.0300 less 10% = 0.0270
        ("'+60312345xxx", "Malaysia", "0.0270"),
        # 61 s bills 120 s at 0.20 = 0.4000, less 10% = 0.3600
        ("'+6591234xxx", "Singapore", "0.3600"),
    ]
    balances = {b.account: b.charge for b in report_usage.balances(my_engine, "2026-10")}
    assert balances == {"ACME": "0.3960", "BETA": "0.0500"}  # BETA: the base's 60123 row


def test_explain_shows_the_rate_and_the_arithmetic(my_engine: Engine, tmp_path: Path) -> None:
    from ratebook.errors import NotFoundError
    from ratebook.workflows.explain_record import explain

    import_rates(
        my_engine,
        write(tmp_path / "b.csv", "prefix,destination,rate\n60,MY,0.0300\n"),
        name="standard",
        effective_from="2026-01-01",
    )
    import_customers(
        my_engine,
        write(
            tmp_path / "c.csv",
            ("account,name,rate_table,numbers,discount\nACME,Acme,standard,,10\n"),
        ),
    )
    import_feed(my_engine, write(tmp_path / "f.csv", FEED), format_name="generic")
    lines = explain(my_engine, "f1")
    assert lines[0] == "record f1 (origin generic)"
    assert lines[1].startswith(f"  from {tmp_path / 'f.csv'} line 3 (sha256 ")
    assert "  customer ACME (Acme)" in lines
    assert "  charge: connect fee 0; 60 s x 0.0300 / 60 s = 0.03; less 10% discount" in lines
    assert lines[-1] == "  = 0.027, rounded half-up to 4 places: 0.0270 MYR"
    # a record that could not be billed says why
    unbilled = explain(my_engine, "i1")
    assert unbilled[-1].startswith("  exception ")
    assert unbilled[-1].endswith(
        " NO_RATE (open): no voice rate for destination +6591234567 on 2026-10-05"
    )
    with pytest.raises(NotFoundError):
        explain(my_engine, "nope")
