"""Properties of DESIGN §4: rating is a pure function of the records and the rates in force.
A quote equals the batch price; order and batching change nothing."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from ratebook.pipeline.price import Reference
from ratebook.store.engine import open_store
from ratebook.store.entities import get_entity
from ratebook.store.reference import load_reference
from ratebook.store.usage import ledger_totals
from ratebook.workflows import report_usage
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rate_table import import_rate_table
from ratebook.workflows.init_entity import init_entity
from ratebook.workflows.quote_event import Event, quote_events
from tests.conftest import write
from tests.scenarios.test_rate_table_file import TABLE

CUSTOMERS = (
    "account,name,rate_table,numbers,discount\nACME,Acme,retail,+6032*,\nBETA,Beta,retail,,7.5\n"
)
KL = "Asia/Kuala_Lumpur"

#: TABLE's rows with tiers, so that a record's place in its cycle matters (DESIGN §4)
TIERED = """
name: retail
currency: MYR
timezone: Asia/Kuala_Lumpur
rounding: {places: 4, mode: half-even}
versions:
  - effective_from: 2026-09-01
    bands:
      peak: {days: [mon, tue, wed, thu, fri], from: "08:00", to: "18:00"}
    default_band: offpeak
    rows:
      - {prefix: "60", band: peak, price: "0.0600", tiers: "graduated 20min=0.0400 60min=0.0100"}
      - {prefix: "60", band: offpeak, price: "0.0300", tiers: "volume 30min=0.0150"}
      - {prefix: "65", price: "0.2000", increment: 30/6, connect_fee: "0.0100"}
      - {service: sms, price: "0.0500", tiers: "volume 2msg=0.0300"}
      - {service: data, price: "5.00", per: 1GB, increment: 1MB/1MB,
         tiers: "graduated 3MB=2.50"}
  - effective_from: 2026-10-15
    rows:
      - {prefix: "60", price: "0.0400", minimum_charge: "0.0100",
         tiers: "graduated 45min=0.0200"}
"""


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reference]:
    folder = tmp_path_factory.mktemp("reference")
    engine = open_store(f"sqlite:///{folder / 'ref.db'}")
    init_entity(engine, code="R", name="R", currency="MYR", timezone=KL, region="MY", floor="1.00")
    import_rate_table(engine, write(folder / "t.yaml", TABLE))
    import_customers(engine, write(folder / "c.csv", CUSTOMERS))
    with engine.connect() as conn:
        yield load_reference(conn, get_entity(conn, None).id)
    engine.dispose()


T0 = datetime(2026, 9, 25, tzinfo=UTC)


@st.composite
def events(draw: st.DrawFn) -> Event:
    service = draw(st.sampled_from(["voice", "voice", "voice", "sms", "data"]))
    unit = {"voice": "s", "sms": "msg", "data": "B"}[service]
    if draw(st.integers(0, 20)) == 0:
        unit = "kWh"  # a unit no row prices: NO_RATE
    quantity = draw(st.one_of(st.integers(0, 9000), st.integers(0, 3_000_000)))
    return Event(
        record_id="x",
        start_time=(T0 + timedelta(seconds=draw(st.integers(0, 40 * 86400)))).isoformat(),
        quantity=str(quantity)
        if draw(st.booleans())
        else f"{quantity}.{draw(st.integers(0, 999)):03d}",
        unit=unit,
        service=service,
        account=draw(st.sampled_from(["ACME", "BETA", "NOPE", None])),
        caller=draw(st.sampled_from(["0321110000", "0399999999", None])),
        destination=draw(
            st.sampled_from(
                ["0312345678", "+6591234567", "0123456789", "00881234567", "1001", None]
            )
        ),
        disposition=draw(st.sampled_from(["ANSWERED", "ANSWERED", "NO ANSWER", None])),
    )


def _quote(batch: list[Event], reference: Reference) -> list[object]:
    return list(quote_events(batch, reference, zone=KL, region="MY", currency="MYR", places=4))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(events(), min_size=1, max_size=15), seed=st.integers(0, 2**32))
def test_quotes_equal_the_batch_in_any_order(
    reference: Reference, batch: list[Event], seed: int
) -> None:
    together = _quote(batch, reference)
    one_by_one = [_quote([event], reference)[0] for event in batch]
    assert together == one_by_one
    order = list(range(len(batch)))
    random.Random(seed).shuffle(order)
    shuffled = _quote([batch[i] for i in order], reference)
    assert [shuffled[order.index(i)] for i in range(len(batch))] == together


def _feed(rows: list[str]) -> str:
    return "record_id,start_time,quantity,account,caller,destination,service,unit\n" + "".join(
        f"{r}\n" for r in rows
    )


def _rows(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for n in range(count):
        start = T0 + timedelta(seconds=rng.randrange(40 * 86400))
        service, unit = rng.choice([("voice", "s"), ("voice", "s"), ("sms", "msg"), ("data", "B")])
        out.append(
            ",".join(
                [
                    f"r{n}",
                    start.isoformat(),
                    str(rng.randrange(0, 9000)),
                    rng.choice(["ACME", "BETA", ""]),
                    rng.choice(["0321110000", "0399999999"]),
                    rng.choice(["0312345678", "+6591234567", "0123456789", "00881234567"]),
                    service,
                    unit,
                ]
            )
        )
    return out


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 2**32), count=st.integers(1, 16))
def test_any_split_and_order_gives_the_same_ledger(
    engine: Engine, tmp_path: Path, seed: int, count: int
) -> None:
    rows = _rows(seed, count)
    shuffled = rows[:]
    random.Random(seed + 1).shuffle(shuffled)
    ways = {
        "whole": [rows],
        "singly": [[r] for r in rows],
        "shuffled-pairs": [shuffled[i : i + 2] for i in range(0, len(shuffled), 2)],
    }
    results = []
    for name, files in ways.items():
        code = f"E{seed % 10**6}{name[:3].upper()}{count}"
        init_entity(
            engine, code=code, name=code, currency="MYR", timezone=KL, region="MY", floor="1.00"
        )
        import_rate_table(engine, write(tmp_path / "t.yaml", TIERED), entity_code=code)
        import_customers(engine, write(tmp_path / "c.csv", CUSTOMERS), entity_code=code)
        for index, part in enumerate(files):
            path = write(tmp_path / f"{code}-{index}.csv", _feed(part))
            import_feed(engine, path, format_name="generic", entity_code=code)
        with engine.connect() as conn:
            entity = get_entity(conn, code)
            ledgers = {
                p: ledger_totals(conn, entity.id, p) for p in ("2026-09", "2026-10", "2026-11")
            }
        balances = {
            p: [
                (b.account, b.records, b.billed_quantity, b.charge)
                for b in report_usage.balances(engine, p, entity_code=code)
            ]
            for p in ("2026-09", "2026-10", "2026-11")
        }
        results.append((balances, ledgers))
    for first, other in itertools.pairwise(results):
        assert first == other
