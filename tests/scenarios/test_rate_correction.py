"""Story: October was billed with a wrong Malaysian rate (RM0.0600 a minute instead of
RM0.0500). The billing team imports the corrected table as a correction and re-rates October:
the wrong charges are superseded, the ledger gets reversals and new postings, and the earlier
ratings stay visible. Expected values are worked out by hand in the comments."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from ratebook.errors import ConflictError, InputError
from ratebook.store.entities import get_entity
from ratebook.store.tables import ledger_postings
from ratebook.store.usage import ledger_totals
from ratebook.workflows import report_usage
from ratebook.workflows.close_cycle import close_cycle
from ratebook.workflows.explain_record import explain
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rate_table import import_rate_table
from ratebook.workflows.rerate import rerate
from tests.conftest import write

WRONG = """
name: retail
rounding: {places: 4, mode: half-up}
versions:
  - effective_from: 2026-10-01
    rows:
      - {prefix: "60", destination: Malaysia, price: "0.0600"}
      - {prefix: "65", destination: Singapore, price: "0.2000"}
"""
RIGHT = WRONG.replace('price: "0.0600"', 'price: "0.0500"')
WITHOUT_SINGAPORE = "\n".join(line for line in RIGHT.splitlines() if "65" not in line)

FEED = """record_id,start_time,quantity,account,destination,service,unit
a1,2026-10-05T10:00:00+08:00,120,ACME,+60312345678,voice,s
a2,2026-10-06T10:00:00+08:00,60,ACME,+6591234567,voice,s
b1,2026-10-07T10:00:00+08:00,180,BETA,+60312345678,voice,s
n1,2026-11-02T10:00:00+08:00,60,ACME,+60312345678,voice,s
"""
CUSTOMERS = "account,name,rate_table,numbers\nACME,Acme,retail,\nBETA,Beta,retail,\n"


def _billed(engine: Engine, tmp_path: Path) -> None:
    import_rate_table(engine, write(tmp_path / "wrong.yaml", WRONG))
    import_customers(engine, write(tmp_path / "c.csv", CUSTOMERS))
    import_feed(engine, write(tmp_path / "oct.csv", FEED), format_name="generic")


def _charges(engine: Engine, period: str) -> dict[str, str]:
    return {b.account: b.charge for b in report_usage.balances(engine, period)}


def test_a_correction_then_rerate_replaces_the_wrong_charges(
    my_engine: Engine, tmp_path: Path
) -> None:
    _billed(my_engine, tmp_path)
    # ACME: 2 min x 0.06 = 0.12 + Singapore 1 min x 0.20 = 0.20; BETA: 3 min x 0.06 = 0.18
    assert _charges(my_engine, "2026-10") == {"ACME": "0.3200", "BETA": "0.1800"}
    with pytest.raises(InputError) as refused:
        import_rate_table(my_engine, write(tmp_path / "right.yaml", RIGHT))
    assert refused.value.code == "VERSION_EXISTS"
    table = import_rate_table(my_engine, write(tmp_path / "right.yaml", RIGHT), correct=True)
    assert len(table.corrected) == 1
    # the correction prices from now on, but nothing billed changes until the re-rating
    assert _charges(my_engine, "2026-10") == {"ACME": "0.3200", "BETA": "0.1800"}

    steps: list[tuple[int, int]] = []
    summary = rerate(my_engine, "2026-10", progress=lambda done, total: steps.append((done, total)))
    assert steps == [(1, 3), (2, 3), (3, 3)]  # read, priced, booked
    # a1: 2 min x 0.05 = 0.10 (was 0.12); b1: 3 min x 0.05 = 0.15 (was 0.18); a2 unchanged
    assert (summary.examined, summary.rerated) == (3, 2)
    assert (summary.before, summary.after) == (300_000, 250_000)
    assert summary.by_account == {"ACME": (1, 120_000, 100_000), "BETA": (1, 180_000, 150_000)}
    assert _charges(my_engine, "2026-10") == {"ACME": "0.3000", "BETA": "0.1500"}
    assert _charges(my_engine, "2026-11") == {"ACME": "0.0600"}  # another period: untouched

    with my_engine.connect() as conn:
        entity = get_entity(conn, None)
        assert ledger_totals(conn, entity.id, "2026-10") == {"ACME": 300_000, "BETA": 150_000}
        kinds = conn.execute(
            select(ledger_postings.c.kind, ledger_postings.c.amount)
            .where(ledger_postings.c.memo.like("re-rated 2026-10%"))
            .order_by(ledger_postings.c.amount)
        ).all()
    assert sorted(map(tuple, kinds)) == [
        ("reversal", -180_000),
        ("reversal", -120_000),
        ("usage", 100_000),
        ("usage", 150_000),
    ]
    story = "\n".join(explain(my_engine, "a1"))
    assert "0.0600 per 60 s" in story  # the earlier rating, kept
    assert "0.0500 per 60 s" in story
    assert "(superseded)" in story

    again = rerate(my_engine, "2026-10")
    assert (again.examined, again.rerated, again.batch_id) == (3, 0, None)


def test_rerate_of_one_customer_leaves_the_others(my_engine: Engine, tmp_path: Path) -> None:
    _billed(my_engine, tmp_path)
    import_rate_table(my_engine, write(tmp_path / "right.yaml", RIGHT), correct=True)
    summary = rerate(my_engine, "2026-10", account="BETA")
    assert (summary.examined, summary.rerated) == (1, 1)
    assert _charges(my_engine, "2026-10") == {"ACME": "0.3200", "BETA": "0.1500"}


def test_rerate_that_would_unbill_records_changes_nothing(
    my_engine: Engine, tmp_path: Path
) -> None:
    _billed(my_engine, tmp_path)
    import_rate_table(my_engine, write(tmp_path / "r.yaml", WITHOUT_SINGAPORE), correct=True)
    with pytest.raises(ConflictError) as refused:
        rerate(my_engine, "2026-10")
    assert refused.value.code == "RERATE_WOULD_UNRATE"
    assert "a2 (NO_RATE" in refused.value.message
    assert _charges(my_engine, "2026-10") == {"ACME": "0.3200", "BETA": "0.1800"}


def test_a_closed_cycle_is_never_rerated(my_engine: Engine, tmp_path: Path) -> None:
    _billed(my_engine, tmp_path)
    close_cycle(my_engine, "2026-10")
    import_rate_table(my_engine, write(tmp_path / "right.yaml", RIGHT), correct=True)
    with pytest.raises(ConflictError) as refused:
        rerate(my_engine, "2026-10")
    assert refused.value.code == "CYCLE_CLOSED"
