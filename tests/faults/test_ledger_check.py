"""``ratebook check`` names each broken ledger invariant, and finds none in a store that went
through every kind of billing change. Each breakage is made by hand inside a transaction,
checked from inside it, and rolled back."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Connection, Engine, text

from ratebook.billing.post import Routing, UsageTally
from ratebook.errors import ConflictError
from ratebook.model.ledger import Posting
from ratebook.store import checks, cycles
from ratebook.store.checks import check_store
from ratebook.store.entities import get_entity
from ratebook.workflows.import_feed import import_feed
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


def _counts(engine: Engine) -> dict[str, int]:
    tables = ("usage_records", "rated_charges", "ledger_postings", "import_batches")
    with engine.connect() as conn:
        return {
            t: int(conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one()) for t in tables
        }


def test_a_booking_whose_postings_differ_from_its_charges_stores_nothing(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a posting bug (the first usage posting RM0.0001 high) in an import of a call and an
    # SMS: refused, and the store as it was
    story.build(engine, tmp_path)
    before = _counts(engine)
    tallied = UsageTally.postings

    def one_sen_high(self: UsageTally, routing: Routing, *, source: str) -> list[Posting]:
        first, *rest = tallied(self, routing, source=source)
        return [dataclasses.replace(first, amount=first.amount + 100), *rest]

    monkeypatch.setattr(UsageTally, "postings", one_sen_high)
    calls = tmp_path / "dec.csv"
    calls.write_text(
        story.HEADER
        + "d1,2026-12-03T10:00:00+08:00,60,A,+60312345678,voice,s\n"
        + "d2,2026-12-04T10:00:00+08:00,1,A,,sms,msg\n",
        encoding="utf-8",
    )
    with pytest.raises(ConflictError) as refused:
        import_feed(engine, calls, format_name="generic")
    assert refused.value.code == "LEDGER_UNBALANCED"
    # 60 s at RM0.0600 a minute and an SMS at RM0.10: 0.16, posted as 0.1601
    assert "customer A, cycle 2026-12: charges 0.16 != usage postings 0.1601" in str(
        refused.value.message
    )
    assert _counts(engine) == before
    monkeypatch.setattr(UsageTally, "postings", tallied)
    import_feed(engine, calls, format_name="generic")
    with engine.connect() as conn:
        assert check_store(conn, get_entity(conn, None).id).violations == []


def test_a_charge_is_superseded_once(engine: Engine, tmp_path: Path) -> None:
    # the story's back-dated SMS superseded the SMS charges after it: replacing one of those
    # again (a writer that read it before the other committed) is refused
    story.build(engine, tmp_path)
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            old = int(
                conn.execute(
                    text("SELECT MIN(id) FROM rated_charges WHERE superseded_by IS NOT NULL")
                ).scalar_one()
            )
            stale = cycles.charges_by_id(conn, [old])
            with pytest.raises(ConflictError) as refused:
                cycles.replace_charges(
                    conn,
                    stale.with_columns(pl.col("charge") - 1),
                    entity_id=get_entity(conn, None).id,
                    batch_id=1,
                    rated_at=datetime.now(UTC),
                )
            assert refused.value.code == "CHARGE_NOT_CURRENT"
        finally:
            transaction.rollback()
