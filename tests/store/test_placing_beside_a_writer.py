"""Two writers placing back-dated records in one customer-cycle at once (PostgreSQL) give the
ledger of the two one after the other: each takes its cycles' placing locks before reading
them, so the second reads the cycle as the first committed it. Without them each placed its
record among the charges it had read, and a charge the two records together moved to its
next tier kept its old price, in a ledger that still balanced."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from ratebook.store import cycles
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_rate_table import import_rate_table
from ratebook.workflows.ingest_events import ingest_events
from ratebook.workflows.init_entity import init_entity
from tests.conftest import write
from tests.scenarios.test_order_independence import CUSTOMERS, KL, TIERED
from tests.store.test_placing_paths import _ledger


def _call(record_id: str, start: str, seconds: int) -> dict[str, Any]:
    return {
        "record_id": record_id,
        "start_time": start,
        "quantity": seconds,
        "account": "ACME",
        "destination": "0312345678",
    }


# From 2026-10-15 calls to 60 are priced 0.04 a minute for a cycle's first 45 minutes and
# 0.02 after (graduated). The stored call's 2,040 billed seconds start at 0 of the cycle; 420
# billed seconds ahead of it leave it inside the first tier, 840 move its last 240 seconds
# into the second: only both late calls together re-rate it.
STORED = _call("s1", "2026-10-20T10:00:00+08:00", 2000)
FIRST = _call("r1", "2026-10-18T10:00:00+08:00", 400)
SECOND = _call("r2", "2026-10-19T10:00:00+08:00", 400)


def _entity(engine: Engine, folder: Path, code: str) -> None:
    init_entity(
        engine, code=code, name=code, currency="MYR", timezone=KL, region="MY", floor="1.00"
    )
    import_rate_table(engine, write(folder / "t.yaml", TIERED), entity_code=code)
    import_customers(engine, write(folder / "c.csv", CUSTOMERS), entity_code=code)
    ingest_events(engine, [STORED], entity_code=code)


def test_two_writers_placing_in_one_cycle_at_once_give_the_ledger_of_one_then_the_other(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: two never place at once")
    _entity(engine, tmp_path, "SERIAL")
    ingest_events(engine, [SECOND], entity_code="SERIAL")
    ingest_events(engine, [FIRST], entity_code="SERIAL")
    # the stored call, re-rated: 2,040 seconds after 840, 1,860 at 0.04 a minute and 180 at
    # 0.02 (graduated), RM1.3000 in all against RM1.3600 inside the first tier
    with engine.connect() as conn:
        serial = conn.exec_driver_sql(
            "SELECT c.charge FROM rated_charges c JOIN entities e ON e.id = c.entity_id"
            " WHERE e.code = 'SERIAL' AND c.record_id = 's1' AND c.superseded_by IS NULL"
        ).scalar_one()
    assert serial == 1_300_000

    _entity(engine, tmp_path, "RACED")
    read, first_started = threading.Event(), threading.Event()
    real = cycles.places_since

    def places_since(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        if threading.current_thread().name == "second":
            # the second writer has read the cycle's tail: the first one starts now, and has
            # ample time to store its call unless it waits for this one
            read.set()
            assert first_started.wait(30)
            time.sleep(0.5)
        return found

    monkeypatch.setattr(cycles, "places_since", places_since)
    errors: list[BaseException] = []

    def second() -> None:
        try:
            ingest_events(engine, [SECOND], entity_code="RACED")
        except BaseException as error:  # handed to the test's thread
            errors.append(error)
            read.set()

    thread = threading.Thread(target=second, name="second")
    thread.start()
    assert read.wait(30)
    first_started.set()
    ingest_events(engine, [FIRST], entity_code="RACED")
    thread.join(60)
    assert errors == []
    assert _ledger(engine, "RACED") == _ledger(engine, "SERIAL")
