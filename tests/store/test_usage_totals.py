"""The running usage totals per customer-cycle stay equal to the sum of the current charges
through every path that books or re-rates them: an import, a late record, pushed events, a
reprocessed exception, a re-rating after a correction, and an import that fails late (nothing). The
migration that made the table fills it with the same totals."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from ratebook.model.review import Filter
from ratebook.store import usage
from ratebook.store.engine import migrate
from ratebook.workflows import reprocess_exceptions
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rate_table import import_rate_table
from ratebook.workflows.ingest_events import ingest_events
from ratebook.workflows.rerate import rerate
from tests.conftest import write

TABLE = """
name: retail
currency: MYR
timezone: Asia/Kuala_Lumpur
rounding: {places: 4, mode: half-up}
versions:
  - effective_from: 2026-10-01
    rows:
      - prefix: "60"
        destination: Malaysia
        price: "0.1000"
        increment: 60s/60s
        tiers: {kind: graduated, steps: [{after: 10min, price: "0.0500"}]}
      - {prefix: "65", destination: Singapore, price: "0.2000", increment: 60s/60s}
"""
# the correction bills by the second: every billed quantity changes
CORRECTED = TABLE.replace("increment: 60s/60s", "increment: 1s/1s")

CUSTOMERS = "account,name,rate_table,numbers\nACME,Acme,retail,\nBETA,Beta,retail,\n"
HEADER = "record_id,start_time,quantity,account,destination,service,unit\n"
FIRST = HEADER + (
    "a1,2026-10-05T10:00:00+08:00,90,ACME,+60312345678,voice,s\n"  # billed 120 s
    "a2,2026-10-20T10:00:00+08:00,30,ACME,+60312345678,voice,s\n"  # billed 60 s
    "a3,2026-10-06T10:00:00+08:00,61,ACME,+6591234567,voice,s\n"  # billed 120 s, flat
    "b1,2026-10-07T10:00:00+08:00,200,BETA,+60312345678,voice,s\n"  # billed 240 s
    "x1,2026-10-08T10:00:00+08:00,60,NEWCO,+60312345678,voice,s\n"  # no such customer
)
LATE = HEADER + "a0,2026-10-10T10:00:00+08:00,45,ACME,+60312345678,voice,s\n"  # billed 60 s

_TOTALS = (
    "SELECT c.account, t.period, t.service, t.unit, t.used, t.last_start, t.last_tiered"
    " FROM usage_totals t JOIN customers c ON c.id = t.customer_id"
)
# the same figures summed from the current charges, as the placing once read them
_FROM_CHARGES = (
    "SELECT cu.account, c.period, r.service, r.unit, SUM(c.billed_quantity),"
    " MAX(r.start_time), MAX(CASE WHEN c.tier IS NOT NULL THEN r.start_time END)"
    " FROM rated_charges c JOIN usage_records r ON r.id = c.record_pk"
    " JOIN customers cu ON cu.id = c.customer_id"
    " WHERE c.superseded_by IS NULL GROUP BY cu.account, c.period, r.service, r.unit"
)


def _rows(engine: Engine, sql: str) -> set[tuple[Any, ...]]:
    def instant(value: Any) -> Any:
        # SQLite hands back text from a raw query; both stores' instants compare as text
        return str(value)[:19].replace("T", " ") if value is not None else None

    with engine.connect() as conn:
        return {
            (a, p, s, u, int(used), instant(last), instant(tiered))
            for a, p, s, u, used, last, tiered in conn.execute(text(sql))
        }


def _used(engine: Engine) -> dict[str, int]:
    """Billed seconds per account, from the totals (QUANTITY_SCALE is 1000 per second)."""
    return {a: used // 1000 for a, _, _, _, used, _, _ in _rows(engine, _TOTALS) if used}


def _setup(engine: Engine, tmp_path: Path) -> None:
    import_rate_table(engine, write(tmp_path / "retail.yaml", TABLE))
    import_customers(engine, write(tmp_path / "c.csv", CUSTOMERS))


def test_every_path_keeps_the_totals_equal_to_the_charges(
    my_engine: Engine, tmp_path: Path
) -> None:
    _setup(my_engine, tmp_path)
    import_feed(my_engine, write(tmp_path / "first.csv", FIRST), format_name="generic")
    # ACME: 120 + 60 s to Malaysia, 120 s to Singapore (one group: voice in seconds); BETA 240
    assert _used(my_engine) == {"ACME": 300, "BETA": 240}
    assert _rows(my_engine, _TOTALS) == _rows(my_engine, _FROM_CHARGES)

    # a late call re-places a2 (its tier place changes, its billed seconds do not)
    import_feed(my_engine, write(tmp_path / "late.csv", LATE), format_name="generic")
    assert _used(my_engine) == {"ACME": 360, "BETA": 240}
    assert _rows(my_engine, _TOTALS) == _rows(my_engine, _FROM_CHARGES)

    # pushed events, one of them a repeat of a stored record (counted once)
    ingest_events(
        my_engine,
        [
            {
                "record_id": "e1",
                "start_time": "2026-10-25T09:00:00+08:00",
                "quantity": 1,
                "account": "BETA",
                "destination": "+60312345678",
            },
            {
                "record_id": "b1",
                "start_time": "2026-10-07T10:00:00+08:00",
                "quantity": 200,
                "account": "BETA",
                "destination": "+60312345678",
                "origin": "generic",
            },
        ],
    )
    assert _used(my_engine) == {"ACME": 360, "BETA": 300}
    assert _rows(my_engine, _TOTALS) == _rows(my_engine, _FROM_CHARGES)

    # NEWCO signs on; its call is reprocessed and billed (60 s)
    import_customers(
        my_engine,
        write(tmp_path / "n.csv", "account,name,rate_table,numbers\nNEWCO,Newco,retail,\n"),
    )
    assert (
        reprocess_exceptions.reprocess(my_engine, Filter(code="UNMATCHED_CUSTOMER")).resolved == 1
    )
    assert _used(my_engine) == {"ACME": 360, "BETA": 300, "NEWCO": 60}
    assert _rows(my_engine, _TOTALS) == _rows(my_engine, _FROM_CHARGES)

    # billed by the second after the correction: ACME 90 + 30 + 61 + 45, BETA 200 + 1
    import_rate_table(my_engine, write(tmp_path / "right.yaml", CORRECTED), correct=True)
    # every charge but NEWCO's one minute (60 s either way) changes
    assert rerate(my_engine, "2026-10").rerated == 6
    assert _used(my_engine) == {"ACME": 226, "BETA": 201, "NEWCO": 60}
    assert _rows(my_engine, _TOTALS) == _rows(my_engine, _FROM_CHARGES)


def test_a_crash_after_the_totals_are_written_adds_nothing(
    my_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _setup(my_engine, tmp_path)
    import_feed(my_engine, write(tmp_path / "first.csv", FIRST), format_name="generic")
    before = _rows(my_engine, _TOTALS)
    real = usage.finish_batch

    def crash(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk unplugged")

    # the batch is finished after the totals are added, in the same transaction
    monkeypatch.setattr(usage, "finish_batch", crash)
    with pytest.raises(OSError, match="unplugged"):
        import_feed(my_engine, write(tmp_path / "late.csv", LATE), format_name="generic")
    assert _rows(my_engine, _TOTALS) == before
    monkeypatch.setattr(usage, "finish_batch", real)
    import_feed(my_engine, write(tmp_path / "late.csv", LATE), format_name="generic")
    assert _used(my_engine) == {"ACME": 360, "BETA": 240}
    assert _rows(my_engine, _TOTALS) == _rows(my_engine, _FROM_CHARGES)


def test_the_migration_fills_the_totals_from_the_charges(my_engine: Engine, tmp_path: Path) -> None:
    _setup(my_engine, tmp_path)
    import_feed(my_engine, write(tmp_path / "first.csv", FIRST), format_name="generic")
    import_feed(my_engine, write(tmp_path / "late.csv", LATE), format_name="generic")
    kept = _rows(my_engine, _TOTALS)
    assert kept  # there is something to fill
    migrate(my_engine, "0011")  # drops the table
    migrate(my_engine)
    assert _rows(my_engine, _TOTALS) == kept


def test_the_latest_starts_are_the_latest_not_the_last_written(
    my_engine: Engine, tmp_path: Path
) -> None:
    """A call to Singapore (flat) on 15 October, after BETA's last tiered call (7 October)
    and before its last call (28 October), is placed on time and moves neither instant."""
    _setup(my_engine, tmp_path)
    import_feed(my_engine, write(tmp_path / "first.csv", FIRST), format_name="generic")
    later = HEADER + "b2,2026-10-28T10:00:00+08:00,60,BETA,+6591234567,voice,s\n"
    import_feed(my_engine, write(tmp_path / "later.csv", later), format_name="generic")
    between = HEADER + "b3,2026-10-15T10:00:00+08:00,60,BETA,+6591234567,voice,s\n"
    import_feed(my_engine, write(tmp_path / "between.csv", between), format_name="generic")
    beta = {
        (last, tiered) for a, _, _, _, _, last, tiered in _rows(my_engine, _TOTALS) if a == "BETA"
    }
    # 10:00 in Kuala Lumpur is 02:00 UTC
    assert beta == {(str(datetime(2026, 10, 28, 2, 0)), str(datetime(2026, 10, 7, 2, 0)))}
    assert _rows(my_engine, _TOTALS) == _rows(my_engine, _FROM_CHARGES)


def test_an_import_of_many_customers_adds_to_their_totals_at_once(
    my_engine: Engine, tmp_path: Path
) -> None:
    """1,200 customer-cycles at once: on PostgreSQL the totals are staged and updated by one
    statement, on SQLite by one prepared statement; the same totals either way."""
    accounts = [f"C{n:04d}" for n in range(1_200)]
    import_rate_table(my_engine, write(tmp_path / "retail.yaml", TABLE))
    import_customers(
        my_engine,
        write(
            tmp_path / "c.csv",
            "account,name,rate_table,numbers\n" + "".join(f"{a},{a},retail,\n" for a in accounts),
        ),
    )
    for name, seconds in (("one", 90), ("two", 30)):
        calls = HEADER + "".join(
            f"{name}-{a},2026-10-05T10:00:00+08:00,{seconds},{a},+6591234567,voice,s\n"
            for a in accounts
        )
        import_feed(my_engine, write(tmp_path / f"{name}.csv", calls), format_name="generic")
    # to Singapore by the started minute: 90 s bills 120, then 30 s bills 60
    assert _used(my_engine) == dict.fromkeys(accounts, 180)
    assert _rows(my_engine, _TOTALS) == _rows(my_engine, _FROM_CHARGES)
