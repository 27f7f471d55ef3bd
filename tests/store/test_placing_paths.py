"""The two ways of placing records in their customer-cycles give the same ledger: a small batch
is placed one record at a time (``pipeline.place_each``), a large one as frames
(``pipeline.tiers``). Random pushes of random-time events, many back-dated among tiered and
flat charges, go into two entities of one store, one placed each way; every charge ever
written (superseded ones too), the running totals and the ledger must be the same, record for
record, on SQLite and on PostgreSQL."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from ratebook.intake import place
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_rate_table import import_rate_table
from ratebook.workflows.ingest_events import ingest_events
from ratebook.workflows.init_entity import init_entity
from tests.conftest import write
from tests.scenarios.test_order_independence import CUSTOMERS, KL, TIERED

T0 = datetime(2026, 9, 25, tzinfo=UTC)

#: Every charge an entity's records ever had, with its place and whether it still stands.
_CHARGES = text(
    "SELECT r.record_id, c.period, c.posted_period, c.billed_quantity, c.unit_price, c.charge,"
    " c.usage_before, c.tier, c.tier_split, c.superseded_by IS NULL"
    " FROM rated_charges c JOIN usage_records r ON r.id = c.record_pk"
    " WHERE c.entity_id = :entity"
)
_TOTALS = text(
    "SELECT cu.account, t.period, t.service, t.unit, t.used FROM usage_totals t"
    " JOIN customers cu ON cu.id = t.customer_id WHERE t.entity_id = :entity"
)
_POSTINGS = text(
    "SELECT cu.account, p.period, p.kind, SUM(p.amount) FROM ledger_postings p"
    " JOIN customers cu ON cu.id = p.customer_id WHERE p.entity_id = :entity"
    " GROUP BY cu.account, p.period, p.kind"
)


def _events(seed: int, count: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for n in range(count):
        service, unit, quantity = rng.choice(
            [
                ("voice", "s", rng.randrange(0, 2400)),
                ("voice", "s", rng.randrange(0, 2400)),
                ("sms", "msg", rng.randrange(1, 4)),
                ("data", "B", rng.randrange(0, 3_000_000)),
            ]
        )
        start = T0 + timedelta(seconds=rng.randrange(40 * 86400))
        out.append(
            {
                "record_id": f"e{n}",
                "start_time": start.isoformat(),
                "quantity": quantity,
                "service": service,
                "unit": unit,
                "account": rng.choice(["ACME", "BETA"]),
                "destination": rng.choice(["0312345678", "+6591234567", "0123456789"]),
            }
        )
    return out


def _ledger(engine: Engine, code: str) -> tuple[Counter[tuple[Any, ...]], ...]:
    with engine.connect() as conn:
        entity = conn.execute(
            text("SELECT id FROM entities WHERE code = :code"), {"code": code}
        ).scalar_one()
        return tuple(
            Counter(tuple(row) for row in conn.execute(query, {"entity": entity}))
            for query in (_CHARGES, _TOTALS, _POSTINGS)
        )


def _both_ways(
    engine: Engine, folder: Path, seed: int, sizes: list[int], monkeypatch: pytest.MonkeyPatch
) -> list[tuple[Counter[tuple[Any, ...]], ...]]:
    """The same pushes into two new entities, placed one by one and as frames: each
    entity's charges, running totals and postings."""
    events = _events(seed, sum(sizes))
    ledgers = []
    for way, cut_over in (("EACH", place.PLACE_EACH_ROWS), ("FRAMES", 0)):
        code = f"{way}{seed % 10**8}{len(sizes)}{sum(sizes)}"
        init_entity(
            engine, code=code, name=code, currency="MYR", timezone=KL, region="MY", floor="1.00"
        )
        import_rate_table(engine, write(folder / "t.yaml", TIERED), entity_code=code)
        import_customers(engine, write(folder / "c.csv", CUSTOMERS), entity_code=code)
        with monkeypatch.context() as patched:
            patched.setattr(place, "PLACE_EACH_ROWS", cut_over)
            done = 0
            for size in sizes:
                ingest_events(engine, events[done : done + size], entity_code=code)
                done += size
        ledgers.append(_ledger(engine, code))
    return ledgers


def _assert_same(
    each: tuple[Counter[tuple[Any, ...]], ...], frames: tuple[Counter[tuple[Any, ...]], ...]
) -> None:
    assert each[0] == frames[0], "the charges differ"
    assert each[1] == frames[1], "the running totals differ"
    assert each[2] == frames[2], "the ledger postings differ"


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 2**32),
    sizes=st.lists(st.integers(1, 12), min_size=1, max_size=6),
)
def test_placing_one_by_one_and_as_frames_write_the_same_ledger(
    engine: Engine, tmp_path: Path, seed: int, sizes: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    _assert_same(*_both_ways(engine, tmp_path, seed, sizes, monkeypatch))


def test_back_dated_pushes_re_rate_alike_both_ways(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forty random-time events in pushes of four: later pushes land before earlier ones'
    tiered charges and re-rate some, and both ways re-rate the same ones."""
    each, frames = _both_ways(engine, tmp_path, 7, [4] * 10, monkeypatch)
    superseded = sum(count for row, count in each[0].items() if not row[-1])
    assert superseded > 0, "no push re-rated a stored charge: the draw tests nothing late"
    _assert_same(each, frames)
