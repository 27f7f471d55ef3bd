"""The API keeps each entity's reference data between requests: an unchanged reference is not
read again, any change to it (a customer, a number, a rate assignment, a rate correction) is
priced by the very next event, and on PostgreSQL a writer in flight is never cached."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

from ratebook.model.holdings import Assignment, Identifier
from ratebook.pipeline.price import Reference
from ratebook.store import parties, reference
from ratebook.store.quote_reads import posting_context
from ratebook.store.reference import ReferenceCache
from ratebook.store.reference_lock import reference_stamp
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_rates import import_rates
from ratebook.workflows.ingest_events import EventGroup, ingest_event_groups, ingest_events
from ratebook.workflows.quote_in_cycle import quote_if_warm
from ratebook.workflows.warm_up import warm_references
from tests.conftest import one_customer, write


def _event(record_id: str, account: str, caller: str | None = None) -> dict[str, object]:
    event: dict[str, object] = {
        "record_id": record_id,
        "start_time": "2026-10-05T10:00:00+08:00",
        "quantity": 60,
        "destination": "+60312345678",
    }
    if caller is None:
        event["account"] = account
    else:
        event["caller"] = caller
    return event


def _price(engine: Engine, cache: ReferenceCache, event: dict[str, object]) -> str | None:
    (result,) = ingest_events(engine, [event], references=cache).results
    return result.charge if result.status == "rated" else result.code


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The entity ids reference data is loaded from the store for, one per load, from now."""
    found: list[int] = []
    real = reference.load_reference

    def counted(conn: Connection, entity_id: int) -> Reference:
        found.append(entity_id)
        return real(conn, entity_id)

    monkeypatch.setattr(reference, "load_reference", counted)
    return found


def test_an_unchanged_reference_is_read_once(
    my_engine: Engine, tmp_path: Path, loads: list[int]
) -> None:
    one_customer(my_engine, tmp_path)
    cache = ReferenceCache()
    # 60 s at 0.03 a minute, three times, from one load
    assert [_price(my_engine, cache, _event(f"e{n}", "A")) for n in range(3)] == ["0.0300"] * 3
    assert len(loads) == 1


def test_a_server_loads_the_reference_before_its_first_request(
    my_engine: Engine, tmp_path: Path, loads: list[int]
) -> None:
    one_customer(my_engine, tmp_path)
    cache = ReferenceCache()
    assert warm_references(my_engine, cache) == ["MY1"]
    assert len(loads) == 1
    # the first event is priced from what the warm-up loaded
    assert _price(my_engine, cache, _event("w1", "A")) == "0.0300"
    assert len(loads) == 1


def test_after_the_warm_up_a_quote_is_answered_from_what_it_holds(
    my_engine: Engine, tmp_path: Path
) -> None:
    # the server's event loop answers a quote only from reference data already loaded,
    # compiled and indexed (loading the rows of a version takes seconds on a large deck)
    one_customer(my_engine, tmp_path)
    cache = ReferenceCache()
    quote = {k: v for k, v in _event("", "A").items() if k != "record_id"}
    assert quote_if_warm(my_engine, [quote], entity_code="MY1", references=cache) is None
    warm_references(my_engine, cache)
    answered = quote_if_warm(my_engine, [quote], entity_code="MY1", references=cache)
    assert answered is not None
    assert [(r.status, r.charge) for r in answered.results] == [("rated", "0.0300")]


def test_every_kind_of_reference_change_prices_the_next_event(
    my_engine: Engine, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    one_customer(my_engine, tmp_path)
    cache = ReferenceCache()
    assert _price(my_engine, cache, _event("e1", "A")) == "0.0300"
    assert _price(my_engine, cache, _event("e2", "B")) == "UNMATCHED_CUSTOMER"

    # a new customer with a number: its account and its caller number match at once
    import_customers(
        my_engine,
        write(tmp_path / "c2.csv", "account,name,rate_table,numbers\nB,B,standard,+60321110000\n"),
    )
    assert _price(my_engine, cache, _event("e3", "B")) == "0.0300"
    assert _price(my_engine, cache, _event("e4", "", caller="+60321110000")) == "0.0300"

    # a correction of the version in force: 0.05 a minute from the next event on
    import_rates(
        my_engine,
        write(tmp_path / "deck2.csv", "prefix,destination,rate\n60,Malaysia,0.0500\n"),
        name="standard",
        effective_from="2026-01-01",
        correct=True,
    )
    assert _price(my_engine, cache, _event("e5", "A")) == "0.0500"

    # another table assigned to A from 1 October (local): the latest assignment in force wins
    import_rates(
        my_engine,
        write(tmp_path / "deck3.csv", "prefix,destination,rate\n60,Malaysia,0.0100\n"),
        name="cheap",
        effective_from="2026-01-01",
    )
    with my_engine.begin() as conn:
        (entity_id,) = conn.execute(text("SELECT id FROM entities")).one()
        customer_id = parties.customer_accounts(conn, entity_id)["A"][0]
        (table_id,) = conn.execute(text("SELECT id FROM rate_tables WHERE name = 'cheap'")).one()
        october = datetime(2026, 9, 30, 16, 0, tzinfo=UTC)  # 2026-10-01 00:00 in Kuala Lumpur
        parties.add_assignments(
            conn,
            entity_id,
            [
                Assignment(
                    customer_id=customer_id,
                    rate_table_id=table_id,
                    role="base",
                    discount_ppm=0,
                    valid_from=october,
                    valid_to=None,
                )
            ],
            now=now,
        )
    assert _price(my_engine, cache, _event("e6", "A")) == "0.0100"


def _identifier(value: str) -> Identifier:
    return Identifier(kind="number", value=value, valid_from=None, valid_to=None)


def test_a_reference_writer_in_flight_is_never_kept(my_engine: Engine, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    if my_engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: no writer is ever in flight beside a reader")
    one_customer(my_engine, tmp_path)
    with my_engine.connect() as conn:
        (entity_id,) = conn.execute(text("SELECT id FROM entities")).one()
        (customer_id,) = conn.execute(text("SELECT id FROM customers")).one()
    with my_engine.connect() as writer, my_engine.connect() as other, my_engine.connect() as reader:
        writer.begin()
        parties.add_identifiers(
            writer, entity_id, [(customer_id, _identifier("+60321119999"))], now=now
        )
        # the reader sees a writer in flight: no stamp, so nothing would be kept
        with reader.begin():
            assert reference_stamp(reader, entity_id) is None
        with reader.begin():
            assert posting_context(reader, "MY1", None)[1] is False
        # a group of pushed events does not wait for it
        (stored,) = ingest_event_groups(
            my_engine,
            [EventGroup(events=[_event("e1", "A")])],
            entity_code="MY1",
            references=ReferenceCache(),
        )
        assert [(r.status, r.charge) for r in stored.results] == [("rated", "0.0300")]
        # and a second writer waits for the first (ids become visible in the order drawn)
        other.begin()
        other.execute(text("SET LOCAL lock_timeout = '200ms'"))
        with pytest.raises(OperationalError, match="lock timeout"):
            parties.add_identifiers(
                other, entity_id, [(customer_id, _identifier("+60321118888"))], now=now
            )
        other.rollback()
        writer.commit()
        with reader.begin():
            assert reference_stamp(reader, entity_id) is not None
        with reader.begin():
            assert posting_context(reader, "MY1", None)[1] is True
