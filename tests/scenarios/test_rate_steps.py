"""Story: a carrier prices a call's first minute by the second at RM0.02 a second, and the
rest at RM0.01 a second in 6-second steps (CGRateS's rate intervals). Written as a row's
steps in YAML and in a deck cell, billed on both stores, explained. Expected charges worked
out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from ratebook.errors import InputError
from ratebook.workflows import report_usage
from ratebook.workflows.explain_record import explain
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rate_table import import_rate_table
from tests.conftest import write
from tests.support.statements import statement_records

ROW = '{prefix: "60", destination: Malaysia, price: "1.2000", increment: 1/1'
TABLE = f"""
name: carrier
currency: MYR
timezone: Asia/Kuala_Lumpur
rounding: {{places: 4, mode: half-up}}
versions:
  - effective_from: 2026-10-01
    rows:
      - {ROW}, steps: [{{after: 60s, price: "0.6000", increment: 6s}}]}}
"""
DECK_TABLE = """
name: carrier
currency: MYR
timezone: Asia/Kuala_Lumpur
rounding: {places: 4, mode: half-up}
versions:
  - effective_from: 2026-10-01
    deck: stepped.csv
"""
DECK = "prefix,destination,rate,increment,steps\n60,Malaysia,1.2000,1/1,60s=0.6000/6s\n"
CALLS = "record_id,start_time,quantity,account,destination\n" + (
    "c1,2026-10-05T10:00:00+08:00,45,ACME,+60312345678\n"
    "c2,2026-10-05T11:00:00+08:00,61,ACME,+60312345678\n"
    "c3,2026-10-05T12:00:00+08:00,125,ACME,+60312345678\n"
)
EXPECTED = {
    "c1": ("45", "0.9000"),  # 45 s by the second at 0.02
    "c2": ("66", "1.2600"),  # the first 60 s: 1.2000; 1 s more, billed as 6 s at 0.01: 0.0600
    "c3": ("126", "1.8600"),  # 1.2000; 65 s more, billed as 66 s (11 steps of 6) at 0.01: 0.66
}


def _bill(engine: Engine, tmp_path: Path) -> dict[str, tuple[str, str]]:
    import_customers(
        engine, write(tmp_path / "c.csv", "account,name,rate_table,numbers\nACME,Acme,carrier,\n")
    )
    import_feed(engine, write(tmp_path / "calls.csv", CALLS), format_name="generic")
    out = tmp_path / "acme.csv"
    report_usage.write_statement(engine, account="ACME", period="2026-10", out=out)
    return {r["record_id"]: (r["billed_quantity"], r["charge"]) for r in statement_records(out)}


def test_steps_within_a_call(my_engine: Engine, tmp_path: Path) -> None:
    import_rate_table(my_engine, write(tmp_path / "carrier.yaml", TABLE))
    assert _bill(my_engine, tmp_path) == EXPECTED
    lines = "\n".join(explain(my_engine, "c3"))
    assert "step 0: 60 s billed as 60 s; step 1: 65 s billed as 66 s" in lines
    assert "= 1.86, rounded half-up to 4 places: 1.8600 MYR" in lines


def test_steps_in_a_deck_cell(my_engine: Engine, tmp_path: Path) -> None:
    write(tmp_path / "stepped.csv", DECK)
    import_rate_table(my_engine, write(tmp_path / "carrier.yaml", DECK_TABLE))
    assert _bill(my_engine, tmp_path) == EXPECTED


@pytest.mark.parametrize(
    "steps",
    [
        '[{after: 60s, price: "0.6000"}], tiers: "graduated 10min=0.5000"',  # both
        '[{after: 60s, price: "0.6"}, {after: 30s, price: "0.5"}]',  # not rising
        '[{after: 2msg, price: "0.6"}]',  # another unit
        '[{after: 60s, price: "0.6", increment: 0s}]',  # no increment
    ],
)
def test_steps_that_cannot_work_are_refused(my_engine: Engine, tmp_path: Path, steps: str) -> None:
    text = TABLE.replace('[{after: 60s, price: "0.6000", increment: 6s}]', steps)
    with pytest.raises(InputError) as caught:
        import_rate_table(my_engine, write(tmp_path / "t.yaml", text))
    assert caught.value.code == "BAD_RATE_TABLE"
