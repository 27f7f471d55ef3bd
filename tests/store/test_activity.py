"""The overview's daily figures on both stores: each charge counted on its record's local
day in the entity's zone (across a clock change), every day of the cycle shown, and a cached
cycle read again once an import changes it."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from ratebook.workflows.activity import BucketCache, daily, overview
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rates import import_rates
from ratebook.workflows.init_entity import init_entity
from tests.conftest import write

LONDON = ZoneInfo("Europe/London")
#: UTC starts around local midnights, the clocks going back on 25 October 2026 among them.
STARTS = [
    "2026-10-01T00:10:00Z",  # 01:10 BST, 1 October
    "2026-10-01T23:30:00Z",  # 00:30 BST, 2 October
    "2026-10-24T22:59:00Z",  # 23:59 BST, 24 October
    "2026-10-24T23:00:00Z",  # 00:00 BST, 25 October
    "2026-10-25T00:30:00Z",  # 01:30 BST, 25 October (the first 01:30)
    "2026-10-25T01:30:00Z",  # 01:30 GMT, 25 October (the second)
    "2026-10-25T23:59:00Z",  # 23:59 GMT, 25 October
    "2026-10-31T23:59:59Z",  # 23:59:59 GMT, 31 October: the cycle's last second
]


def _store(engine: Engine, tmp_path: Path) -> None:
    init_entity(
        engine,
        code="GB1",
        name="Test Telecom Ltd",
        currency="GBP",
        timezone="Europe/London",
        region="GB",
        floor="1.00",
    )
    import_rates(
        engine,
        write(tmp_path / "deck.csv", "prefix,destination,rate\n44,United Kingdom,0.0100\n"),
        name="uk",
        effective_from="2026-01-01",
    )
    import_customers(
        engine, write(tmp_path / "c.csv", "account,name,rate_table,numbers\nA,A,uk,\nB,B,uk,\n")
    )


def _calls(tmp_path: Path, name: str, starts: list[str], account: str) -> Path:
    rows = [
        f"{name}-{i},{start},{60 * (i + 1)},{account},+442071234567"
        for i, start in enumerate(starts)
    ]
    text = "record_id,start_time,quantity,account,destination\n" + "\n".join(rows) + "\n"
    return write(tmp_path / f"{name}.csv", text)


def test_charges_fall_on_their_local_day(engine: Engine, tmp_path: Path) -> None:
    _store(engine, tmp_path)
    import_feed(engine, _calls(tmp_path, "a", STARTS, "A"), format_name="generic")
    import_feed(engine, _calls(tmp_path, "b", STARTS[:2], "B"), format_name="generic")

    # independently: each call's local date, and its charge of (i + 1) minutes at 0.0100
    records: Counter[date] = Counter()
    charges: Counter[date] = Counter()
    for i, start in enumerate(STARTS):
        day = datetime.fromisoformat(start).astimezone(LONDON).date()
        records[day] += 1
        charges[day] += (i + 1) * 10_000  # 0.0100 per minute, AMOUNT_SCALE 6
    _, days = daily(engine, "2026-10", account="A")
    assert [d.day for d in days] == [date(2026, 10, 1) + timedelta(days=n) for n in range(31)]
    assert {d.day: (d.records, d.charge) for d in days if d.records} == {
        day: (records[day], charges[day]) for day in records
    }

    whole = overview(engine, period="2026-10")
    assert whole.records == len(STARTS) + 2
    assert whole.revenue == sum(charges.values()) + 10_000 + 20_000


def test_a_cached_cycle_is_read_again_after_an_import(engine: Engine, tmp_path: Path) -> None:
    _store(engine, tmp_path)
    import_feed(engine, _calls(tmp_path, "a", STARTS[:3], "A"), format_name="generic")
    cache = BucketCache()
    first = overview(engine, period="2026-10", cache=cache)
    assert first.records == 3
    assert overview(engine, period="2026-10", cache=cache).days == first.days
    import_feed(engine, _calls(tmp_path, "b", STARTS[3:], "B"), format_name="generic")
    assert overview(engine, period="2026-10", cache=cache).records == len(STARTS)


def test_the_default_cycle_is_the_latest_with_usage(engine: Engine, tmp_path: Path) -> None:
    _store(engine, tmp_path)
    assert overview(engine, now=datetime(2026, 12, 6, tzinfo=UTC)).period == "2026-12"
    import_feed(engine, _calls(tmp_path, "a", STARTS[:1], "A"), format_name="generic")
    assert overview(engine, now=datetime(2026, 12, 6, tzinfo=UTC)).period == "2026-10"
    assert overview(engine, now=datetime(2026, 10, 20, tzinfo=UTC)).period == "2026-10"
