"""A quote read in one snapshot answers exactly what storing the events and rolling back
answers (``ingest_events(dry_run=True)``, the same code as a push), event for event, over
random mixes of new, repeated, clashing, invalid, unmatched, unrated and late events; and it
waits for no writer."""

from __future__ import annotations

import dataclasses
import itertools
import sqlite3
import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, func, select

from ratebook.errors import AccessError, NotFoundError
from ratebook.intake.answers import EventResult
from ratebook.intake.events import event_window
from ratebook.intake.quick_quote import quick_answers
from ratebook.money import AMOUNT_SCALE, PRICE_SCALE, QUANTITY_SCALE
from ratebook.pipeline.tiers import split_text
from ratebook.settings import Settings
from ratebook.sources.events import event_rows
from ratebook.store import cycles
from ratebook.store.engine import reading
from ratebook.store.entities import get_entity
from ratebook.store.quote_reads import quote_context
from ratebook.store.reference import ReferenceCache, load_reference
from ratebook.store.reference_lock import reference_stamp
from ratebook.store.tables import customers, exceptions, rated_charges, usage_records, usage_totals
from ratebook.workflows import quote_in_cycle as quoting
from ratebook.workflows.close_cycle import close_cycle
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_rate_table import import_rate_table
from ratebook.workflows.ingest_events import ingest_events
from ratebook.workflows.manage_keys import create_key, revoke_key
from ratebook.workflows.quote_in_cycle import quote_if_warm, quote_in_cycle
from tests.api.conftest import CUSTOMERS, OTHER_CUSTOMERS, TIERED
from tests.conftest import write


def _call(n: int, *, day: int = 15, seconds: int = 300, account: str = "ACME") -> dict[str, Any]:
    return {
        "record_id": f"h{n}",
        "start_time": f"2026-10-{day:02d}T10:00:00+08:00",
        "quantity": seconds,
        "account": account,
        "destination": "+60312345678",
    }


#: What the store holds before each quote: calls on the 15th (ACME past its tier boundary
#: of 10 minutes), an SMS, and an invalid event (a pending exception, not a record).
HISTORY = [
    _call(1, seconds=300),
    _call(2, seconds=400),
    _call(3, account="BETA", seconds=120),
    {**_call(4), "service": "sms", "unit": "msg", "quantity": 2, "destination": "+60123456789"},
    {**_call(5), "quantity": "ten"},
]


def _templates() -> list[dict[str, Any]]:
    """Events a quote may hold: repeats and clashes of the history, and new ones of every
    outcome, early and late in the cycle."""
    return [
        HISTORY[0],  # a stored record again: duplicate
        {**HISTORY[1], "quantity": 401},  # its id with other content: ID_CONFLICT
        HISTORY[4],  # the stored invalid event again: duplicate of its exception
        {**HISTORY[4], "quantity": "eleven"},  # that id, another invalid row
        _call(10, day=20, seconds=90),  # after the history: past the tier boundary
        _call(11, day=3, seconds=200),  # before it (late): placed ahead of the stored calls
        _call(12, day=20, account="BETA", seconds=61),
        _call(13, account="NOBODY"),  # UNMATCHED_CUSTOMER
        {**_call(14), "destination": "+442071234567"},  # NO_RATE
        {**_call(15), "quantity": -5},  # invalid
        {**_call(16), "service": "sms", "unit": "msg", "quantity": 3, "destination": "+6012"},
        {**_call(17), "start_time": "2026-10-15T10:00:00+08:00", "quantity": 0},
    ]


def _counts(engine: Engine) -> tuple[int, ...]:
    with engine.connect() as conn:
        return tuple(
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (usage_records, rated_charges, exceptions, usage_totals)
        )


@pytest.fixture
def history(my_engine: Engine, tmp_path: Path) -> Engine:
    import_rate_table(my_engine, write(tmp_path / "tiered.yaml", TIERED), entity_code="MY1")
    import_customers(my_engine, write(tmp_path / "c.csv", CUSTOMERS), entity_code="MY1")
    stored = ingest_events(my_engine, HISTORY, entity_code="MY1")
    assert (stored.rated, stored.exceptions) == (4, 1)
    return my_engine


def test_a_quote_answers_what_storing_and_rolling_back_answers(history: Engine) -> None:
    templates = _templates()
    before = _counts(history)
    with history.connect() as conn:
        kept = set(conn.execute(select(exceptions.c.id)).scalars())

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(picks=st.lists(st.integers(0, len(templates) - 1), min_size=1, max_size=6))
    def check(picks: list[int]) -> None:
        events = [templates[i] for i in picks]  # an event may come twice: a repeat in itself
        quoted = quote_in_cycle(history, events, entity_code="MY1")
        assert _counts(history) == before  # nothing kept
        rolled_back = ingest_events(history, events, entity_code="MY1", dry_run=True)
        assert quoted.results == rolled_back.results
        # neither names an exception it did not keep
        assert {r.exception_id for r in quoted.results} <= kept | {None}
        assert (quoted.rated, quoted.duplicates, quoted.exceptions, quoted.by_code) == (
            rolled_back.rated,
            rolled_back.duplicates,
            rolled_back.exceptions,
            rolled_back.by_code,
        )
        assert quoted.batch_ids == []

    check()


def test_the_quote_prices_at_the_events_place_in_the_cycle(history: Engine) -> None:
    # ACME holds 700 s on the 15th. A 90 s call on the 20th: 2 minutes in tier 2 (RM0.0500),
    # RM0.1000. A 200 s call on the 3rd comes first: 4 minutes in tier 1, RM0.4000.
    quoted = quote_in_cycle(
        history, [_call(10, day=20, seconds=90), _call(11, day=3, seconds=200)], entity_code="MY1"
    )
    assert [(r.status, r.charge, r.billed_quantity) for r in quoted.results] == [
        ("rated", "0.1000", "120"),
        ("rated", "0.4000", "240"),
    ]


def test_events_of_several_origins_are_quoted_by_storing_and_rolling_back(
    history: Engine,
) -> None:
    call = _call(20, day=20, account="BETA", seconds=300)
    events = [{**call, "origin": "switch-a"}, {**call, "origin": "switch-b"}]
    before = _counts(history)
    quoted = quote_in_cycle(history, events, entity_code="MY1")
    assert _counts(history) == before
    # the same call from two switches: two records, the second placed after the first.
    # BETA holds 2 minutes: the first is 5 minutes of tier 1 (RM0.5000); the second starts
    # at 7 minutes: 3 minutes of tier 1 and 2 of tier 2 (RM0.3000 + RM0.1000)
    assert [(r.origin, r.status, r.charge) for r in quoted.results] == [
        ("switch-a", "rated", "0.5000"),
        ("switch-b", "rated", "0.4000"),
    ]


def test_a_quote_waits_for_no_writer(history: Engine, db_url: str) -> None:
    """Another transaction is writing (SQLite: it holds the write lock; PostgreSQL: it has
    updated ACME's running totals, as an import in flight does): the quote answers anyway."""
    answers: list[EventResult] = []

    def quote() -> None:
        answers.extend(
            quote_in_cycle(history, [_call(30, day=20, seconds=90)], entity_code="MY1").results
        )

    thread = threading.Thread(target=quote)
    if db_url.startswith("sqlite"):
        writer: Any = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE usage_totals SET used = used + 60")
    else:
        writer = psycopg.connect(db_url.replace("postgresql+psycopg", "postgresql"))
        writer.execute("UPDATE usage_totals SET used = used + 60")  # row locks, not committed
    try:
        thread.start()
        thread.join(timeout=8)  # less than SQLite's busy timeout: a waiting quote fails here
        assert not thread.is_alive(), "the quote waited for the writer"
    finally:
        writer.rollback()
        writer.close()
        thread.join()
    assert [(r.status, r.charge) for r in answers] == [("rated", "0.1000")]


def _fixed(text: str | None, scale: int) -> int | None:
    return None if text is None else int(Decimal(text) * 10**scale)


def test_a_push_answers_what_the_store_then_holds(history: Engine) -> None:
    """Each pushed event's answer, read against the store after the push: a rated one is its
    record's charge in force, a new exception the batch's exception on its line."""
    templates = _templates()
    stored_ids = {event["record_id"] for event in HISTORY}
    runs = itertools.count()
    r, e, u = rated_charges.c, exceptions.c, usage_records.c

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(picks=st.lists(st.integers(0, len(templates) - 1), min_size=1, max_size=6))
    def check(picks: list[int]) -> None:
        # new events get ids of their own in each example; those of the history keep theirs
        n = next(runs)
        events = [
            t if t["record_id"] in stored_ids else {**t, "record_id": f"{t['record_id']}-{n}"}
            for t in (templates[i] for i in picks)
        ]
        pushed = ingest_events(history, events, entity_code="MY1")
        (batch_id,) = pushed.batch_ids
        with history.connect() as conn:
            for result in pushed.results:
                if result.status == "exception" and not result.duplicate:
                    row = conn.execute(
                        select(e.id, e.code, e.reason, e.field).where(
                            e.batch_id == batch_id, e.source_line == result.index + 1
                        )
                    ).one()
                    assert (result.exception_id, result.code, result.reason, result.field) == (
                        tuple(row)
                    )
                elif result.status == "rated":
                    charge = conn.execute(
                        select(
                            r.charge,
                            r.billed_quantity,
                            r.unit_price,
                            r.band,
                            r.prefix,
                            r.period,
                            r.tier_split,
                        )
                        .join(usage_records, u.id == r.record_pk)
                        .where(
                            u.origin == result.origin,
                            u.record_id == result.record_id,
                            r.superseded_by.is_(None),
                        )
                    ).one()
                    parts = [
                        (p.tier, _fixed(p.quantity, QUANTITY_SCALE), _fixed(p.price, PRICE_SCALE))
                        for p in result.tiers or ()
                    ]
                    assert (
                        _fixed(result.charge, AMOUNT_SCALE),
                        _fixed(result.billed_quantity, QUANTITY_SCALE),
                        _fixed(result.unit_price, PRICE_SCALE),
                        result.band,
                        result.prefix,
                        result.period,
                        parts,
                    ) == (*charge[:6], split_text(charge.tier_split))

    check()


def _unnamed(n: int, template: dict[str, Any]) -> dict[str, Any]:
    """A template without an id, a few seconds apart from the others of its quote (made-up
    ids break ties of start time, and they differ from one quote to the next)."""
    start = template["start_time"].replace(":00:00+", f":00:{n:02d}+")
    return {**{k: v for k, v in template.items() if k != "record_id"}, "start_time": start}


#: Quotes of events without ids: every outcome of one record, early and late in the cycle,
#: at a local time, by a national number, with attributes, and one the fast path declines
UNNAMED = [
    _call(10, day=20, seconds=90),
    _call(11, day=3, seconds=200),
    _call(12, day=20, account="BETA", seconds=61),
    _call(13, account="NOBODY"),
    {**_call(14), "destination": "+442071234567"},
    {**_call(15), "quantity": -5},
    {**_call(16), "service": "sms", "unit": "msg", "quantity": 3, "destination": "+6012"},
    {**_call(17), "quantity": 0},
    {**_call(18, day=15), "destination": "0312345678", "attributes": {"plan": "gold"}},
    {**_call(19, day=14), "disposition": "NO ANSWER"},
]


def test_the_usual_quote_answers_what_the_staged_intake_answers(history: Engine) -> None:
    before = _counts(history)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(picks=st.lists(st.integers(0, len(UNNAMED) - 1), min_size=1, max_size=5))
    def check(picks: list[int]) -> None:
        events = [_unnamed(n, UNNAMED[i]) for n, i in enumerate(picks)]
        quick = quote_in_cycle(history, events, entity_code="MY1")
        staged = quote_in_cycle(history, events, entity_code="MY1", quick=False)
        assert _counts(history) == before
        # the made-up ids differ from one quote to the next; all else is the same
        assert [dataclasses.replace(r, record_id=None) for r in quick.results] == [
            dataclasses.replace(r, record_id=None) for r in staged.results
        ]

    check()


def _quick(
    engine: Engine, event: dict[str, Any], closed: frozenset[str]
) -> dict[int, EventResult] | None:
    """The quick path's answer to a quote of ``event`` by MY1, ``closed`` its closed cycles."""
    (row,) = event_rows([event], "api", "", 0)
    with engine.connect() as conn:
        entity = get_entity(conn, "MY1")
        return quick_answers(
            conn,
            entity,
            [row],
            reference=load_reference(conn, entity.id),
            settings=Settings(),
            window=event_window(datetime.now(UTC), Settings()),
            closed=closed,
        )


def test_the_usual_quote_is_answered_from_the_rating_state(history: Engine) -> None:
    # ACME holds 700 s on the 15th; a 90 s call on the 20th is 2 minutes past the tier
    # boundary: RM0.1000, answered by the quick path itself
    answers = _quick(history, _unnamed(0, UNNAMED[0]) | {"record_id": "q-1"}, frozenset())
    assert answers is not None
    assert (answers[0].status, answers[0].charge, answers[0].billed_quantity) == (
        "rated",
        "0.1000",
        "120",
    )


def test_a_warm_quote_answers_only_from_what_the_server_holds(
    history: Engine, tmp_path: Path
) -> None:
    # the API's event loop answers a quote only from reference data already loaded and
    # compiled (loading takes seconds): cold, or after a rate change, it is handed on (None)
    references = ReferenceCache()
    event = _unnamed(0, UNNAMED[0])
    assert quote_if_warm(history, [event], entity_code="MY1", references=references) is None
    held = quote_in_cycle(history, [event], entity_code="MY1", references=references)
    warm = quote_if_warm(history, [event], entity_code="MY1", references=references)
    assert warm is not None
    # ACME holds 700 s on the 15th: 90 s on the 20th is 2 minutes in tier 2, RM0.1000
    assert [(r.status, r.charge) for r in warm.results] == [("rated", "0.1000")]
    assert [dataclasses.replace(r, record_id=None) for r in warm.results] == [
        dataclasses.replace(r, record_id=None) for r in held.results
    ]
    # a quote the quick path does not take (ids of its own) is handed on too
    named = {**event, "record_id": "mine-1"}
    assert quote_if_warm(history, [named], entity_code="MY1", references=references) is None
    # a new customer changes the reference stamp: the held copy no longer answers
    import_customers(history, write(tmp_path / "more.csv", OTHER_CUSTOMERS), entity_code="MY1")
    assert quote_if_warm(history, [event], entity_code="MY1", references=references) is None


def _acme_calls(conn: Connection) -> tuple[int, str, str, str]:
    """ACME's group of calls in October (customer, period, service, unit)."""
    customer_id = conn.execute(
        select(customers.c.id).where(customers.c.account == "ACME")
    ).scalar_one()
    service, unit = conn.execute(
        select(usage_totals.c.service, usage_totals.c.unit).where(
            usage_totals.c.customer_id == customer_id, usage_totals.c.unit != "msg"
        )
    ).one()
    return customer_id, "2026-10", service, unit


def test_usage_before_a_key_is_what_its_charges_ahead_hold(history: Engine) -> None:
    # ACME's calls h1 (300 s) and h2 (400 s, billed by the minute: 420 s) both start on the
    # 15th at 10:00 local: in the cycle's order (start, origin, record id) h1 comes first. A
    # key at that instant stands after the stored calls whose record ids sort before its own.
    at = datetime(2026, 10, 15, 2, 0, tzinfo=UTC)
    h1, both = 300 * 10**QUANTITY_SCALE, 720 * 10**QUANTITY_SCALE
    expected = {
        (at, "api", "h0"): 0,
        (at, "api", "h1"): 0,
        (at, "api", "h15"): h1,
        (at, "api", "h3"): both,
        (at, "zzz", "a"): both,  # a later origin at the same instant
        (datetime(2026, 10, 3, tzinfo=UTC), "api", "x"): 0,
        (datetime(2026, 10, 20, tzinfo=UTC), "api", "x"): both,  # after all: the running total
    }
    with history.connect() as conn:
        entity = get_entity(conn, "MY1")
        group = _acme_calls(conn)
        found = {key: cycles.usage_before(conn, entity.id, group, key) for key in expected}
        assert found == expected
        assert {key: cycles.usage_ahead(conn, entity.id, group, key) for key in expected} == found
        # a group without charges holds nothing ahead of anything
        november = (group[0], "2026-11", group[2], group[3])
        assert cycles.usage_before(conn, entity.id, november, (at, "api", "x")) == 0


def test_a_quote_reads_its_key_entity_and_closed_cycles_in_one_snapshot(
    history: Engine,
) -> None:
    live = create_key(history, name="quoter", scopes=["read"], entity_code="MY1").key
    gone = create_key(history, name="gone", scopes=["read"], entity_code="MY1").key
    revoke_key(history, "gone", entity_code="MY1")
    close_cycle(history, "2026-10", entity_code="MY1")
    with reading(history).connect() as conn, conn.begin():
        context = quote_context(conn, "MY1", live.id)
        assert (context.entity.code, context.closed) == ("MY1", frozenset({"2026-10"}))
        assert context.stamp == reference_stamp(conn, context.entity.id)
        assert quote_context(conn, "MY1", None).closed == {"2026-10"}
        for key_id in (gone.id, gone.id + live.id + 1000):
            with pytest.raises(AccessError) as refused:
                quote_context(conn, "MY1", key_id)
            assert refused.value.code == "UNAUTHENTICATED"
        with pytest.raises(NotFoundError) as unknown:
            quote_context(conn, "NOPE", live.id)
        assert unknown.value.code == "ENTITY_NOT_FOUND"
        with pytest.raises(AccessError):  # a dead key learns nothing of the entities
            quote_context(conn, "NOPE", gone.id)


def test_a_quote_into_a_closed_cycle_answers_what_a_push_would(history: Engine) -> None:
    close_cycle(history, "2026-10", entity_code="MY1")
    # October is closed: a call of the 20th goes where the entity's late-usage rule says,
    # as a push of it would, and the quick path (open cycles only) leaves it to the intake
    event = _unnamed(0, UNNAMED[0]) | {"record_id": "late-1"}
    quoted = quote_in_cycle(history, [event], entity_code="MY1")
    pushed = ingest_events(history, [event], entity_code="MY1", dry_run=True)
    assert quoted.results == pushed.results
    assert _quick(history, event, frozenset({"2026-10"})) is None


@pytest.fixture
def one_reads(history: Engine, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """PostgreSQL: whether each quote from now on was answered in one read of the store
    (``quote_in_cycle``'s path from the reference data the server holds), in order."""
    if history.dialect.name != "postgresql":
        pytest.skip("a SQLite read is no round trip: its quotes read in one transaction")
    answered: list[bool] = []
    real = quoting._in_one_read

    def spied(*args: Any, **kwargs: Any) -> dict[int, EventResult] | None:
        found = real(*args, **kwargs)
        answered.append(found is not None)
        return found

    monkeypatch.setattr(quoting, "_in_one_read", spied)
    return answered


def test_a_quote_from_held_reference_data_reads_once_and_answers_the_same(
    history: Engine, one_reads: list[bool]
) -> None:
    references = ReferenceCache()
    key = create_key(history, name="quoter", scopes=["read"], entity_code="MY1").key
    first = [_unnamed(0, UNNAMED[0])]
    # the first quote loads what the server holds; the next is answered in one read
    quote_in_cycle(history, first, entity_code="MY1", references=references, key_id=key.id)
    again = quote_in_cycle(history, first, entity_code="MY1", references=references, key_id=key.id)
    assert one_reads == [False, True]
    # ACME holds 700 s on the 15th: 90 s on the 20th is 2 minutes in tier 2, RM0.1000
    assert [(r.status, r.charge) for r in again.results] == [("rated", "0.1000")]

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(picks=st.lists(st.integers(0, len(UNNAMED) - 1), min_size=1, max_size=5))
    def check(picks: list[int]) -> None:
        events = [_unnamed(n, UNNAMED[i]) for n, i in enumerate(picks)]
        held = quote_in_cycle(
            history, events, entity_code="MY1", references=references, key_id=key.id
        )
        usual = quote_in_cycle(history, events, entity_code="MY1", key_id=key.id)
        assert [dataclasses.replace(r, record_id=None) for r in held.results] == [
            dataclasses.replace(r, record_id=None) for r in usual.results
        ]

    check()
    assert one_reads.count(True) > 10


def test_a_quote_reads_as_usual_when_the_store_moved_on(
    history: Engine, tmp_path: Path, one_reads: list[bool]
) -> None:
    references = ReferenceCache()
    key = create_key(history, name="quoter", scopes=["read"], entity_code="MY1").key
    zed = [_unnamed(0, UNNAMED[0]) | {"account": "ZED"}]
    quote_in_cycle(history, zed, entity_code="MY1", references=references, key_id=key.id)
    # a new customer: the reference data held is no longer the store's
    import_customers(history, write(tmp_path / "more.csv", OTHER_CUSTOMERS), entity_code="MY1")
    known = quote_in_cycle(history, zed, entity_code="MY1", references=references, key_id=key.id)
    assert one_reads == [False, False]
    # ZED has no usage yet: 90 s, by the minute, in the first tier at RM0.10, RM0.2000
    assert [(r.status, r.charge) for r in known.results] == [("rated", "0.2000")]
    # a revoked key is refused by the one read itself
    revoke_key(history, "quoter", entity_code="MY1")
    with pytest.raises(AccessError) as refused:
        quote_in_cycle(history, zed, entity_code="MY1", references=references, key_id=key.id)
    assert refused.value.code == "UNAUTHENTICATED"
