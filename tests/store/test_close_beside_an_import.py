"""A cycle close that waits for an import's lock bills that import's charges once, and the
next close still balances.

The import holds the entity's lock (PostgreSQL: shared advisory lock; SQLite: the write
lock) and is held back before it books anything, while a close of the same month starts and
waits for the lock. The import then books and commits; the close goes on and carries the
customer's balance (under the floor). Calls cost RM0.0600 a minute, per second: N seconds
are N × RM0.001.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from ratebook.store import usage
from ratebook.store.checks import check_store
from ratebook.store.entities import get_entity
from ratebook.workflows.close_cycle import CloseSummary, close_cycle
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rate_table import import_rate_table
from ratebook.workflows.invoices import get_invoice
from tests.conftest import write

TABLE = """
name: flat
currency: MYR
timezone: Asia/Kuala_Lumpur
rounding: {places: 4, mode: half-up}
versions:
  - effective_from: 2026-01-01
    rows:
      - {prefix: "60", destination: Malaysia, price: "0.0600", increment: 1s/1s}
"""

HEADER = "record_id,start_time,quantity,account,destination\n"


def _calls(tmp_path: Path, name: str, *calls: tuple[str, str, int]) -> Path:
    body = "".join(f"{r},{t}+08:00,{s},ACME,+60312345678\n" for r, t, s in calls)
    return write(tmp_path / name, HEADER + body)


def test_a_close_waiting_for_an_import_bills_its_charges_once(
    my_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_rate_table(my_engine, write(tmp_path / "flat.yaml", TABLE))
    import_customers(
        my_engine, write(tmp_path / "c.csv", "account,name,rate_table,numbers\nACME,Acme,flat,\n")
    )
    # October so far: 240 s = RM0.24
    import_feed(
        my_engine,
        _calls(tmp_path, "oct1.csv", ("o1", "2026-10-10T10:00:00", 240)),
        format_name="generic",
    )

    holding, go = threading.Event(), threading.Event()
    real_start = usage.start_batch

    def held_back(*args: Any, **kwargs: Any) -> int:
        # the import holds the entity's lock here, and has booked nothing yet
        holding.set()
        assert go.wait(timeout=30)
        return real_start(*args, **kwargs)

    monkeypatch.setattr(usage, "start_batch", held_back)
    errors: list[BaseException] = []
    closed: list[CloseSummary] = []

    def run(work: Any) -> None:
        try:
            work()
        except BaseException as error:  # the test asserts there is none
            errors.append(error)

    # 180 s more in October = RM0.18, imported while the close waits
    late_file = _calls(tmp_path, "oct2.csv", ("o2", "2026-10-20T10:00:00", 180))
    importer = threading.Thread(
        target=run, args=(lambda: import_feed(my_engine, late_file, format_name="generic"),)
    )
    importer.start()
    assert holding.wait(timeout=30)
    closer = threading.Thread(
        target=run, args=(lambda: closed.append(close_cycle(my_engine, "2026-10")),)
    )
    closer.start()
    time.sleep(0.5)  # the close is waiting for the import's lock by now
    go.set()
    importer.join(timeout=60)
    closer.join(timeout=60)
    monkeypatch.setattr(usage, "start_batch", real_start)
    assert errors == []
    # the import held the lock first: October's RM0.42 is carried
    (october,) = closed
    assert october.carried == 1
    assert october.carried_total == 420_000

    # November: 600 s = RM0.60, so 0.42 + 0.60 = RM1.02 crosses the floor
    import_feed(
        my_engine,
        _calls(tmp_path, "nov.csv", ("n1", "2026-11-05T10:00:00", 600)),
        format_name="generic",
    )
    november = close_cycle(my_engine, "2026-11")
    assert november.invoiced == 1
    _, doc = get_invoice(my_engine, november.invoice_numbers[0])
    assert doc["totals"]["total"] == "1.02"
    with my_engine.connect() as conn:
        assert check_store(conn, get_entity(conn, None).id).violations == []
