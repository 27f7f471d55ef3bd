"""Story: a tariff rounds most destinations to 4 places half-up, but its carrier bills
Singapore in whole sen, rounded up, and the United Kingdom's tiered row down. A row's own
rounding prices its records, on both stores; expected charges worked out by hand."""

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
from ratebook.workflows.rate_tables import show_rate_table
from tests.conftest import write
from tests.support.statements import statement_records

TABLE = """
name: carrier
currency: MYR
timezone: Asia/Kuala_Lumpur
rounding: {places: 4, mode: half-up}
versions:
  - effective_from: 2026-10-01
    rows:
      - {prefix: "60", destination: Malaysia, price: "0.0333"}
      - {prefix: "65", destination: Singapore, price: "0.0333", rounding: {places: 2, mode: up}}
      - {prefix: "44", destination: United Kingdom, price: "0.0333",
         rounding: {places: 2, mode: down},
         tiers: {kind: graduated, steps: [{after: 1min, price: "0.0111"}]}}
"""
CALLS = "record_id,start_time,quantity,account,destination\n" + (
    "m1,2026-10-05T10:00:00+08:00,61,ACME,+60312345678\n"
    "s1,2026-10-05T11:00:00+08:00,61,ACME,+6591234567\n"
    "u1,2026-10-05T09:00:00+08:00,180,ACME,+442071234567\n"
)


def test_a_row_rounds_as_its_carrier_bills(my_engine: Engine, tmp_path: Path) -> None:
    import_rate_table(my_engine, write(tmp_path / "carrier.yaml", TABLE))
    import_customers(
        my_engine,
        write(tmp_path / "c.csv", "account,name,rate_table,numbers\nACME,Acme,carrier,\n"),
    )
    import_feed(my_engine, write(tmp_path / "calls.csv", CALLS), format_name="generic")
    out = tmp_path / "acme.csv"
    report_usage.write_statement(my_engine, account="ACME", period="2026-10", out=out)
    charges = {r["record_id"]: r["charge"] for r in statement_records(out)}
    assert charges == {
        "m1": "0.0666",  # 2 minutes x 0.0333, the version's 4 places half-up
        "s1": "0.0700",  # 0.0666, the row's 2 places rounded up
        # the cycle's first voice: its first minute at 0.0333, two more at 0.0111: 0.0555,
        # the row's 2 places rounded down (half-up would give 0.06)
        "u1": "0.0500",
    }
    assert "rounded up to 2 places: 0.0700 MYR" in "\n".join(explain(my_engine, "s1"))
    [version] = show_rate_table(my_engine, "carrier")["versions"]
    roundings = {r["prefix"]: r["rounding"] for r in version["rates"]}
    assert roundings == {
        "44": {"places": 2, "mode": "down"},
        "60": None,
        "65": {"places": 2, "mode": "up"},
    }


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ("rounding: {places: 2, mode: up}", "rounding: {places: 5, mode: up}"),
        ("rounding: {places: 2, mode: up}", "rounding: {places: 2, mode: sideways}"),
        ("rounding: {places: 2, mode: up}", "rounding: {places: 2}"),
    ],
)
def test_a_row_rounding_the_entity_cannot_keep_is_refused(
    my_engine: Engine, tmp_path: Path, change: str, code: str
) -> None:
    with pytest.raises(InputError) as caught:
        import_rate_table(my_engine, write(tmp_path / "t.yaml", TABLE.replace(change, code)))
    assert caught.value.code in ("BAD_PLACES", "BAD_ROUNDING", "BAD_RATE_TABLE")
