"""A server rehearses the event writer's path before its first request (the first group
otherwise pays for every statement and plan the next ones reuse): the rehearsal is the
entity's newest rated record sent again under new ids, and it leaves the store as it was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from ratebook.settings import Settings
from ratebook.store.entities import get_entity
from ratebook.store.reference import ReferenceCache
from ratebook.store.tables import metadata
from ratebook.store.usage import newest_rated_event
from ratebook.workflows.ingest_events import ingest_events
from ratebook.workflows.warm_up import rehearse_events
from tests.conftest import one_customer


def _rows(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in metadata.sorted_tables
        }


def test_the_rehearsal_sends_the_newest_record_again_and_keeps_nothing(
    my_engine: Engine, tmp_path: Path
) -> None:
    one_customer(my_engine, tmp_path)
    cache = ReferenceCache()
    events: list[dict[str, Any]] = [
        {"record_id": record_id, "start_time": start, "quantity": quantity, "account": account}
        | {"destination": "+60312345678"}
        for record_id, start, quantity, account in (
            ("e1", "2026-10-05T10:00:00+08:00", 60, "A"),
            ("e2", "2026-10-06T09:30:00+08:00", "90.5", "A"),
            # an exception, newer than every rated record
            ("e3", "2026-10-07T09:30:00+08:00", 30, "NOBODY"),
        )
    ]
    answered = ingest_events(my_engine, events, references=cache)
    assert [r.status for r in answered.results] == ["rated", "rated", "exception"]

    with my_engine.connect() as conn:
        newest = newest_rated_event(conn, get_entity(conn, "MY1").id)
    # e2, as an event that stores it again: the instant in UTC, the quantity exact
    assert newest == {
        "origin": "api",
        "service": "voice",
        "start_time": "2026-10-06T01:30:00+00:00",
        "quantity": "90.5",
        "unit": "s",
        "account": "A",
        "destination": "+60312345678",
    }

    before = _rows(my_engine)
    assert rehearse_events(my_engine, cache, Settings()) == 2  # a group of one, one of two
    assert _rows(my_engine) == before

    # what was rehearsed prices as e2 did: 90.5 s at RM0.03 a minute, by the minute, 0.0600
    (again,) = ingest_events(my_engine, [{**newest, "record_id": "e2-again"}]).results
    (first,) = [r for r in answered.results if r.record_id == "e2"]
    assert again.status == "rated"
    assert again.charge == first.charge == "0.0600"


def test_a_store_without_rated_records_has_nothing_to_rehearse(my_engine: Engine) -> None:
    before = _rows(my_engine)
    assert rehearse_events(my_engine, ReferenceCache(), Settings()) == 0
    assert _rows(my_engine) == before
