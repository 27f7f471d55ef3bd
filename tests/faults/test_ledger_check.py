"""``ratebook check`` names each broken ledger invariant, and finds none in a store that went
through every kind of billing change. Each breakage is made by hand inside a transaction,
checked from inside it, and rolled back."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Connection, Engine, text

from ratebook.store import checks
from ratebook.store.checks import check_store
from ratebook.store.entities import get_entity
from tests.faults import story


def _codes(engine: Engine, breakage: Callable[[Connection], object]) -> set[str]:
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            breakage(conn)
            return {v.code for v in check_store(conn, get_entity(conn, None).id).violations}
        finally:
            transaction.rollback()


def _sql(statement: str) -> Callable[[Connection], object]:
    return lambda conn: conn.execute(text(statement))


@pytest.mark.parametrize(
    ("breakage", "codes"),
    [
        # a usage posting of the open cycle changed: its charges no longer match it
        (
            "UPDATE ledger_postings SET amount = amount + 1 WHERE id = (SELECT MIN(id) FROM"
            " ledger_postings WHERE kind = 'usage' AND period = '2026-11')",
            {"USAGE_NOT_POSTED", "CLOSED_CYCLE_UNBALANCED"},
        ),
        # what a close carried no longer equals what the next cycle brought forward
        (
            "UPDATE ledger_postings SET amount = amount - 1 WHERE id = (SELECT MIN(id) FROM"
            " ledger_postings WHERE kind = 'brought_forward')",
            {"CARRIED_NOT_BROUGHT_FORWARD", "CLOSED_CYCLE_UNBALANCED"},
        ),
        (
            "UPDATE invoice_lines SET amount = amount + 1 WHERE id = (SELECT MIN(id) FROM"
            " invoice_lines)",
            {"INVOICE_LINES_DIFFER"},
        ),
        (
            "UPDATE invoices SET document = document || ' ' WHERE id = (SELECT MIN(id) FROM"
            " invoices)",
            {"INVOICE_ALTERED"},
        ),
        (
            "UPDATE import_batches SET duplicates = duplicates + 1 WHERE id = (SELECT MIN(id)"
            " FROM import_batches)",
            {"ROW_IDENTITY_BROKEN"},
        ),
        # a superseded charge counted again: its record has two current charges
        (
            "UPDATE rated_charges SET superseded_by = NULL WHERE id = (SELECT MIN(id) FROM"
            " rated_charges WHERE superseded_by IS NOT NULL)",
            {"RECORD_NOT_CHARGED", "USAGE_NOT_POSTED", "USAGE_TOTALS_DRIFT"},
        ),
        (
            "UPDATE usage_totals SET used = used + 1000 WHERE customer_id = (SELECT MIN(id) FROM"
            " customers)",
            {"USAGE_TOTALS_DRIFT"},
        ),
        # a charge moved in its cycle's order: late records would be placed against it wrongly
        (
            "UPDATE rated_charges SET record_id = record_id || 'x' WHERE id = (SELECT MIN(id)"
            " FROM rated_charges)",
            {"CHARGE_PLACE_DRIFT"},
        ),
    ],
)
def test_each_broken_invariant_is_named(
    engine: Engine, tmp_path: Path, breakage: str, codes: set[str]
) -> None:
    story.build(engine, tmp_path)
    assert _codes(engine, lambda conn: None) == set()
    assert _codes(engine, _sql(breakage)) == codes


def test_the_command_says_whether_the_invariants_hold(db_url: str, tmp_path: Path) -> None:
    from ratebook.store.engine import open_store

    engine = open_store(db_url)
    story.build(engine, tmp_path)
    engine.dispose()

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ratebook", "--db", db_url, "check"],
            capture_output=True,
            text=True,
            check=False,
        )

    clean = check()
    assert clean.returncode == 0, clean.stderr
    assert "every invariant holds" in clean.stderr
    engine = open_store(db_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE ledger_postings SET amount = amount + 10000 WHERE id = (SELECT MIN(id)"
                " FROM ledger_postings WHERE kind = 'usage' AND period = '2026-11')"
            )
        )
    engine.dispose()
    broken = check()
    assert broken.returncode == 1
    # the usage posting no longer matches its charges, and the closed cycle no longer
    # sums to its invoice
    assert "USAGE_NOT_POSTED" in broken.stdout
    assert "CLOSED_CYCLE_UNBALANCED" in broken.stdout
    assert "cycle 2026-11" in broken.stdout
    assert "ACME: " in broken.stderr
    assert "2 violation(s)" in broken.stderr


@pytest.mark.parametrize("one_pass", [False, True], ids=["by-customer", "one-pass"])
def test_the_booking_check_finds_a_touched_cycle_whichever_way_it_reads(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_pass: bool
) -> None:
    # a booking checks the customer-cycles it touched: by their customers' index ranges, or
    # (an import's thousands of customers) in one pass over the periods; both find the same
    story.build(engine, tmp_path)
    if one_pass:
        monkeypatch.setattr(checks, "_ONE_PASS_FROM", 0)
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            entity_id = get_entity(conn, None).id
            touched = pl.DataFrame(
                conn.execute(
                    text(
                        "SELECT DISTINCT customer_id, posted_period FROM rated_charges"
                        " WHERE posted_period = '2026-11' ORDER BY customer_id"
                    )
                ).all(),
                schema={"customer_id": pl.Int64, "posted_period": pl.String},
                orient="row",
            )
            assert touched.height >= 2
            compared, wrong = checks.unposted_usage(conn, entity_id, touched)
            assert (compared, wrong) == (touched.height, [])
            # one of them broken: named; checked without it: nothing found
            broken = int(touched["customer_id"][0])
            conn.execute(
                text(
                    "UPDATE ledger_postings SET amount = amount + 1 WHERE id = (SELECT MIN(id)"
                    " FROM ledger_postings WHERE kind = 'usage' AND period = '2026-11'"
                    " AND customer_id = :c)"
                ),
                {"c": broken},
            )
            _, wrong = checks.unposted_usage(conn, entity_id, touched)
            assert [v.code for v in wrong] == ["USAGE_NOT_POSTED"]
            others = touched.filter(pl.col("customer_id") != broken)
            assert checks.unposted_usage(conn, entity_id, others) == (others.height, [])
        finally:
            transaction.rollback()
