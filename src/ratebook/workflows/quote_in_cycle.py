"""Quote pushed events against the cycle usage already stored, writing nothing.

``POST /v1/rate`` answers what ``POST /v1/events`` would for the same events at that moment:
the same shaping, validation, dedupe against the store, match, rate and placing in each
customer-cycle (``intake.chunk.read_chunk``), read in one snapshot and never written. A quote
therefore neither waits for a writer nor holds one up: not SQLite's write lock behind a long
import, nor a customer's running totals on PostgreSQL while an import that touches them is in
flight.

Events of one origin and attribute set (nearly every quote) are answered this way. The
usual quote, of events without ids of their own, takes a shorter road to the same answers:
the compiled rating state and at most the customer-cycle's usage (``intake.quick_quote``). Events
of several make several batches, each placed after the ones before it and deduplicated
against their records, so they take the path that stores them and rolls back
(``ingest_events(dry_run=True)``), which gives the same answers by construction.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine

from ratebook.intake.answers import EventResult, answer_batch, exception_result
from ratebook.intake.chunk import read_chunk
from ratebook.intake.events import batch_rows, event_window
from ratebook.intake.place import CycleUsage
from ratebook.intake.quick_quote import answers, price_quote, quick_answers
from ratebook.model.parties import Entity
from ratebook.pipeline.compiled import NotWarmError, require_loading_allowed, warm_only
from ratebook.pipeline.price import Reference
from ratebook.settings import Settings
from ratebook.sources.events import DEFAULT_ORIGIN, EventRow, event_rows
from ratebook.sources.formats import get_format
from ratebook.store.engine import reading
from ratebook.store.entities import get_entity
from ratebook.store.quote_reads import quote_context, quote_context_and_usage
from ratebook.store.reference import ReferenceCache, reference_for
from ratebook.workflows.ingest_events import EventsSummary, count_result, ingest_events


def quote_in_cycle(
    engine: Engine,
    events: list[dict[str, Any]],
    *,
    entity_code: str | None = None,
    default_origin: str = DEFAULT_ORIGIN,
    settings: Settings | None = None,
    references: ReferenceCache | None = None,
    quick: bool = True,
    key_id: int | None = None,
) -> EventsSummary:
    """What pushing ``events`` now would answer, event for event, storing nothing.

    An event without an id gets a fresh one; give the id the event will carry for an exact
    answer where events start at the same instant (the record id breaks such ties in a
    cycle's order). An id already stored answers that record's outcome as a duplicate. An
    exception is answered with its code and reason, and no exception id (none is kept).
    ``quick=False`` answers even the usual quote with the staged intake (to compare the two).
    With ``key_id``, the API key asking must still be live in the quote's snapshot.

    Raises:
        InputError: an attribute or origin that cannot be stored (names the event).
        AccessError: ``key_id`` was revoked.
    """
    settings = settings or Settings()
    # events with ids of their own may repeat stored records or pending exceptions
    own_ids = any(e.get("record_id") for e in events)
    events = [{**e, "record_id": e.get("record_id") or f"quote-{uuid.uuid4().hex}"} for e in events]
    rows = event_rows(events, default_origin, "", 0)
    if len({(row.origin, row.shape) for row in rows}) != 1:
        # several batches: stored and rolled back, the key checked where they are stored
        require_loading_allowed()
        return ingest_events(
            engine,
            events,
            entity_code=entity_code,
            default_origin=default_origin,
            settings=settings,
            dry_run=True,
            references=references,
            key_id=key_id,
        )
    if (
        quick
        and not own_ids
        and references is not None
        and entity_code is not None
        and engine.dialect.name == "postgresql"
    ):
        answered = _in_one_read(
            engine,
            rows,
            entity_code=entity_code,
            key_id=key_id,
            references=references,
            settings=settings,
        )
        if answered is not None:
            return _summary(rows, answered)
    snapshot = reading(engine)
    if engine.dialect.name == "postgresql":
        # every read of the quote sees the same moment, as the storing transaction would
        snapshot = snapshot.execution_options(isolation_level="REPEATABLE READ")
    with snapshot.connect() as conn, conn.begin():
        if entity_code is None:
            entity_code = get_entity(conn, None).code
        context = quote_context(conn, entity_code, key_id)
        entity = context.entity
        if references is not None:
            references.note_entity(entity)
        reference = reference_for(conn, entity.id, references, stamp=context.stamp)
        answers = (
            quick_answers(
                conn,
                entity,
                rows,
                reference=reference,
                settings=settings,
                window=event_window(datetime.now(UTC), settings),
                closed=context.closed,
            )
            if quick and not own_ids
            else None
        )
        if answers is None:
            require_loading_allowed()  # the staged intake's frames take longer
        results = (
            answers
            if answers is not None
            else _quote(conn, entity, rows, reference=reference, settings=settings)
        )
    return _summary(rows, results)


def _summary(rows: list[EventRow], results: dict[int, EventResult]) -> EventsSummary:
    summary = EventsSummary()
    for row in rows:
        count_result(summary, results[row.index])
    return summary


def _in_one_read(
    engine: Engine,
    rows: list[EventRow],
    *,
    entity_code: str,
    key_id: int | None,
    references: ReferenceCache,
    settings: Settings,
) -> dict[int, EventResult] | None:
    """The quick path's answers in one statement to the store (PostgreSQL, where each is a
    round trip): the events priced first from the entity and reference data the server
    holds, then the key, the entity, the reference stamp, the closed cycles and the usage
    ahead of each tiered event read together (one statement, one snapshot, no transaction
    to begin and end). None, for the caller to answer as usual, where that read shows the
    held data is not the store's (another stamp, a changed entity) or the quick path does
    not take the quote.

    Raises:
        AccessError: the key was revoked.
    """
    entity = references.entity(entity_code)
    held = None if entity is None else references.latest(entity.id)
    if entity is None or held is None:
        return None
    stamp, reference = held
    window = event_window(datetime.now(UTC), settings)
    priced = price_quote(entity, rows, reference=reference, settings=settings, window=window)
    if priced is None:
        return None
    with reading(engine).execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        context, stored = quote_context_and_usage(
            conn, entity_code, key_id, entity_id=entity.id, places=priced.places()
        )
    if context.entity != entity or context.stamp != stamp or context.closed & priced.periods:
        return None
    return answers(priced, entity, stored)


def quote_if_warm(
    engine: Engine,
    events: list[dict[str, Any]],
    *,
    entity_code: str | None = None,
    default_origin: str = DEFAULT_ORIGIN,
    settings: Settings | None = None,
    references: ReferenceCache,
    key_id: int | None = None,
) -> EventsSummary | None:
    """``quote_in_cycle`` by its quick path (``intake.quick_quote``) from the reference data
    ``references`` already holds, compiled and indexed; None for a quote that would take
    longer (loading or compiling reference data takes seconds; the staged intake, tens of
    milliseconds): for a caller that must answer at once or hand the quote on, the API's
    event loop.

    Raises:
        InputError: as ``quote_in_cycle``.
        AccessError: as ``quote_in_cycle``.
    """
    try:
        with warm_only():
            return quote_in_cycle(
                engine,
                events,
                entity_code=entity_code,
                default_origin=default_origin,
                settings=settings,
                references=references,
                key_id=key_id,
            )
    except NotWarmError:
        return None


def _quote(
    conn: Connection,
    entity: Entity,
    members: list[EventRow],
    *,
    reference: Reference,
    settings: Settings,
) -> dict[int, EventResult]:
    """Each event's answer by its place, the way ``ingest_events`` stores one batch."""
    origin = members[0].origin
    rows = batch_rows(conn, entity.id, origin, members)
    results = {
        m.index: exception_result(m, entity, rows.repeats[m.index], duplicate=True)
        for m in members
        if m.index in rows.repeats
    }
    if rows.chunk is None:
        return results
    read = read_chunk(
        conn,
        rows.chunk,
        fmt=get_format("generic"),
        columns=rows.columns,
        entity=entity,
        zone=entity.timezone,
        origin=origin,
        reference=reference,
        cycle=CycleUsage(conn, entity_id=entity.id, rows=reference.rows),
        settings=settings,
        window=event_window(datetime.now(UTC), settings),
    )
    # nothing is kept, so an exception has no id
    refused = {
        row["row_idx"]: {"id": None, **row}
        for frame in (read.unparsed, read.conflicts, read.assessed.rejections)
        for row in frame.select("row_idx", "code", "reason", "field").iter_rows(named=True)
    }
    results.update(
        answer_batch(conn, entity, origin, rows.fresh, read, refused=refused, rerated=True)
    )
    return results
