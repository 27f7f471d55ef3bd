"""``ratebook quote``: the price a push would get now, after the usage the customer's cycle
holds; nothing is stored.

Hand-worked (tests/api/conftest.py TIERED): calls to +60 cost RM0.1000 a minute, in whole
minutes, for the first 10 minutes of the customer's cycle, RM0.0500 after."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from ratebook.cli import app
from ratebook.store.engine import open_store
from ratebook.store.tables import usage_records
from tests.api.conftest import CUSTOMERS, TIERED
from tests.conftest import write

runner = CliRunner()


def _cli(db: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--db", db, *args])
    return result.exit_code, result.stdout, result.stderr


def _records(db: str) -> int:
    engine = open_store(db)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(usage_records)).scalar_one())
    finally:
        engine.dispose()


@pytest.fixture
def acme(db_url: str, tmp_path: Path) -> str:
    """ACME on the tiered table, with 8 minutes of calls on 5 October."""
    assert _cli(db_url, "init", "--entity", "MY1")[0] == 0
    assert _cli(db_url, "rates", "import", str(write(tmp_path / "t.yaml", TIERED)))[0] == 0
    assert _cli(db_url, "customers", "import", str(write(tmp_path / "c.csv", CUSTOMERS)))[0] == 0
    calls = write(
        tmp_path / "calls.csv",
        "record_id,start_time,quantity,account,destination\n"
        "c1,2026-10-05T10:00:00+08:00,480,ACME,+60312345678\n",
    )
    assert _cli(db_url, "ingest", str(calls))[0] == 0
    return db_url


def _quote(
    db: str, start: str, seconds: str, destination: str = "+60312345678"
) -> tuple[int, str, str]:
    return _cli(
        db,
        "quote",
        "--account",
        "ACME",
        "--destination",
        destination,
        "--start",
        start,
        "--quantity",
        seconds,
    )


def test_a_quote_is_priced_after_the_usage_the_cycle_holds(acme: str) -> None:
    # 8 minutes used: 3 minutes are 2 at RM0.10 and 1 at RM0.05
    code, out, err = _quote(acme, "2026-10-20T10:00:00+08:00", "180")
    assert code == 0, err
    split = "tier 0: 120 s at 0.1000, tier 1: 60 s at 0.0500"
    assert out.splitlines() == [
        "0.2500 MYR: 180 s billed at 0.1000 (prefix 60, band standard)",
        f"  split after the usage the cycle holds: {split}",
    ]
    assert _records(acme) == 1  # the quote kept nothing


def test_a_quote_before_the_stored_usage_is_placed_ahead_of_it(acme: str) -> None:
    # local time (no offset) in the entity's zone, as the README writes it: on 1 October the
    # call comes first in the cycle, so all 3 minutes are at RM0.10
    code, out, err = _quote(acme, "2026-10-01 09:00:00", "180")
    assert code == 0, err
    assert out.splitlines() == ["0.3000 MYR: 180 s billed at 0.1000 (prefix 60, band standard)"]


def test_a_quote_that_cannot_be_priced_says_why(acme: str) -> None:
    code, out, err = _quote(acme, "2026-10-20T10:00:00+08:00", "60", destination="+442071234567")
    assert code == 1
    assert out == ""
    assert err.startswith("NO_RATE: no voice rate for destination +442071234567")
