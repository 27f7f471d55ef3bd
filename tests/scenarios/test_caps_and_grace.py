"""Story: a carrier's tariff caps what one call may cost, lets calls shorter than a few
seconds go free, and includes the first seconds of each call. Written in a YAML rate table
and in a deck, billed on both stores, and explained. Expected charges worked out by hand."""

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
from ratebook.workflows.import_rates import import_rates
from tests.conftest import write
from tests.support.statements import statement_records

#: RM0.1000 a started minute to +60 with a RM0.0500 connect fee, at most RM1.0000 a call,
#: free under 3 s; to +65 RM0.2000 a minute for a cycle's first 10 minutes and RM0.1000
#: after, at most RM1.5000 a call; to +44 RM0.1200 a minute in 6-second steps with a RM0.0200
#: connect fee, the first 30 s of each call included.
TABLE = """
name: carrier
currency: MYR
timezone: Asia/Kuala_Lumpur
rounding: {places: 4, mode: half-up}
versions:
  - effective_from: 2026-10-01
    rows:
      - {prefix: "60", destination: Malaysia, price: "0.1000", increment: 60/60,
         connect_fee: "0.0500", max_cost: "1.0000", grace: 3s}
      - {prefix: "65", destination: Singapore, price: "0.2000", max_cost: "1.5000",
         tiers: {kind: graduated, steps: [{after: 10min, price: "0.1000"}]}}
      - {prefix: "44", destination: United Kingdom, price: "0.1200", increment: 6/6,
         connect_fee: "0.0200", included: 30s}
"""
CUSTOMERS = "account,name,rate_table,numbers,discount\nACME,Acme,carrier,,\nBETA,Beta,carrier,,10\n"
CALLS = "record_id,start_time,quantity,account,destination\n" + (
    "a1,2026-10-05T10:00:00+08:00,2,ACME,+60312345678\n"
    "a2,2026-10-05T11:00:00+08:00,3,ACME,+60312345678\n"
    "a3,2026-10-05T12:00:00+08:00,1200,ACME,+60312345678\n"
    "a4,2026-10-05T13:00:00+08:00,300,ACME,+60312345678\n"
    "a5,2026-10-05T14:00:00+08:00,1200,ACME,+6591234567\n"
    "a6,2026-10-06T14:00:00+08:00,300,ACME,+6591234567\n"
    "a7,2026-10-07T10:00:00+08:00,20,ACME,+442071234567\n"
    "a8,2026-10-07T11:00:00+08:00,95,ACME,+442071234567\n"
    "b1,2026-10-05T12:00:00+08:00,1200,BETA,+60312345678\n"
)


def _charges(engine: Engine, tmp_path: Path, account: str) -> dict[str, tuple[str, str]]:
    out = tmp_path / f"{account}.csv"
    report_usage.write_statement(engine, account=account, period="2026-10", out=out)
    return {r["record_id"]: (r["billed_quantity"], r["charge"]) for r in statement_records(out)}


def test_caps_and_grace_in_a_rate_table(my_engine: Engine, tmp_path: Path) -> None:
    import_rate_table(my_engine, write(tmp_path / "carrier.yaml", TABLE))
    import_customers(my_engine, write(tmp_path / "c.csv", CUSTOMERS))
    summary = import_feed(my_engine, write(tmp_path / "calls.csv", CALLS), format_name="generic")
    assert (summary.rows_read, summary.rated, summary.exceptions) == (9, 9, 0)
    assert _charges(my_engine, tmp_path, "ACME") == {
        "a1": ("0", "0.0000"),  # 2 s is under the 3 s grace: free, not even the connect fee
        "a2": ("60", "0.1500"),  # 3 s is not: a minute, 0.0500 + 0.1000
        "a3": ("1200", "1.0000"),  # 20 minutes: 0.0500 + 2.0000 = 2.0500, capped at 1.0000
        "a4": ("300", "0.5500"),  # 5 minutes: 0.0500 + 0.5000, under the cap
        # 20 minutes, the cycle's first to +65: 10 at 0.2000 and 10 at 0.1000 = 3.0000,
        # capped at 1.5000
        "a5": ("1200", "1.5000"),
        "a6": ("300", "0.5000"),  # 5 more minutes, all past the tier: 0.5000
        "a7": ("0", "0.0200"),  # 20 s, inside the 30 s included: only the connect fee
        # 95 s less the 30 included: 65 s, in 6 s steps 66 s; 66 x 0.1200 / 60 = 0.1320,
        # and the connect fee 0.0200
        "a8": ("66", "0.1520"),
    }
    # the cap is on the tariff's cost; the customer's 10% comes off it: 1.0000 less 10%
    assert _charges(my_engine, tmp_path, "BETA") == {"b1": ("1200", "0.9000")}
    lines = "\n".join(explain(my_engine, "a3"))
    assert "lowered to the maximum cost 1" in lines
    assert "= 1, rounded half-up to 4 places: 1.0000 MYR" in lines
    assert "2 s is shorter than the row's grace of 3 s: free, charge 0" in "\n".join(
        explain(my_engine, "a1")
    )
    assert "billed 66 s for 95 s, the first 30 s of it included" in "\n".join(
        explain(my_engine, "a8")
    )


def test_caps_and_grace_in_a_deck(my_engine: Engine, tmp_path: Path) -> None:
    deck = (
        "prefix,destination,rate,connect_fee,max_cost,grace,included,increment\n"
        "60,Malaysia,0.1000,0.0500,1.00,3,,\n"
        "44,United Kingdom,0.1200,0.0200,,,30,6/6\n"
    )
    import_rates(
        my_engine, write(tmp_path / "deck.csv", deck), name="carrier", effective_from="2026-10-01"
    )
    import_customers(
        my_engine,
        write(tmp_path / "c.csv", "account,name,rate_table,numbers\nACME,Acme,carrier,\n"),
    )
    calls = "\n".join(line for line in CALLS.splitlines() if ",+65" not in line)
    import_feed(my_engine, write(tmp_path / "calls.csv", calls + "\n"), format_name="generic")
    assert {k: v for k, v in _charges(my_engine, tmp_path, "ACME").items()} == {
        "a1": ("0", "0.0000"),
        "a2": ("60", "0.1500"),
        "a3": ("1200", "1.0000"),
        "a4": ("300", "0.5500"),
        "a7": ("0", "0.0200"),
        "a8": ("66", "0.1520"),
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (('max_cost: "1.0000"', 'max_cost: "1.0000", minimum_charge: "2.00"'), "max_cost"),
        (("grace: 3s", "grace: 3msg"), "grace"),
        # an included quantity of each call on a row whose tiers count the cycle's usage
        (('max_cost: "1.5000",', 'max_cost: "1.5000", included: 10s,'), "included"),
    ],
)
def test_rows_that_cannot_work_are_refused(
    my_engine: Engine, tmp_path: Path, change: tuple[str, str], field: str
) -> None:
    with pytest.raises(InputError) as caught:
        import_rate_table(my_engine, write(tmp_path / "t.yaml", TABLE.replace(*change)))
    assert caught.value.code == "BAD_RATE_TABLE"
    assert field in caught.value.message


def test_a_deck_cap_below_its_minimum_is_refused(my_engine: Engine, tmp_path: Path) -> None:
    deck = "prefix,destination,rate,minimum_charge,max_cost\n60,Malaysia,0.1000,2.00,1.00\n"
    with pytest.raises(InputError) as caught:
        import_rates(
            my_engine, write(tmp_path / "deck.csv", deck), name="x", effective_from="2026-10-01"
        )
    assert (caught.value.code, caught.value.line, caught.value.field) == (
        "BAD_RATE_ROW",
        2,
        "max_cost",
    )
