"""A charge's place in its customer-cycle, read from ``ix_rated_charges_place`` alone: the
start to the microsecond (as whole microseconds since 1970), origin and id, as its record
has them, on both stores."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select

from ratebook.pipeline.place_each import start_us
from ratebook.store import cycles
from ratebook.store.entities import get_entity
from ratebook.store.tables import rated_charges, usage_records
from ratebook.workflows.ingest_events import ingest_events
from tests.conftest import one_customer

STARTS = [
    "2026-10-05T10:00:00+08:00",
    "2026-10-05T10:00:00.000001+08:00",
    "2026-10-05T10:00:00.999999+08:00",
    "2026-10-31T23:59:59.5+08:00",
]


def test_places_are_their_records_to_the_microsecond(my_engine: Engine, tmp_path: Path) -> None:
    one_customer(my_engine, tmp_path)
    events = [
        {
            "record_id": f"p{n}",
            "start_time": start,
            "quantity": 60,
            "account": "A",
            "destination": "+60312345678",
        }
        for n, start in enumerate(STARTS)
    ]
    stored = ingest_events(my_engine, events, entity_code="MY1")
    assert stored.rated == len(STARTS)
    with my_engine.connect() as conn:
        entity_id = get_entity(conn, "MY1").id
        c = rated_charges.c
        (found,) = set(conn.execute(select(c.customer_id, c.period, c.service, c.unit)).all())
        group: tuple[object, ...] = tuple(found)
        assert group[1] == "2026-10"
        places = cycles.places_since(conn, entity_id, {group: datetime(2026, 10, 1, tzinfo=UTC)})[
            group
        ]
        records = {
            rid: at
            for rid, at in conn.execute(
                select(usage_records.c.record_id, usage_records.c.start_time)
            )
        }
    # 10:00 +08:00 is 02:00 UTC; the microseconds kept
    expected = {f"p{n}": start_us(datetime.fromisoformat(start)) for n, start in enumerate(STARTS)}
    assert {p.record_id: p.start_us for p in places} == expected
    assert expected["p1"] - expected["p0"] == 1
    assert expected["p0"] == start_us(datetime(2026, 10, 5, 2, 0, tzinfo=UTC))
    # and they are the records' own starts
    assert {rid: start_us(at) for rid, at in records.items()} == expected
    # a later instant leaves out what starts before it
    later = {group: datetime(2026, 10, 5, 2, 0, 0, 500_000, tzinfo=UTC)}
    with my_engine.connect() as conn:
        assert {p.record_id for p in cycles.places_since(conn, entity_id, later)[group]} == {
            "p2",
            "p3",
        }
