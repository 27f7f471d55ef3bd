"""Ingest events pushed to the API (or quote them): the same stages as a file import, one
batch per origin and attribute set (``intake.events``), and each event's outcome for the
reply (``intake.answers``). Events are read as rows of the generic format
(``sources.events``), so a pushed event and the same event in a file are rated, rejected and
deduplicated alike.

Events are idempotent by ``(entity, origin, record_id)``: a repeat is counted as a duplicate
and answered with the original's outcome. A repeat of an event that never became a record
(an invalid one) is a duplicate of its still-pending exception when it is the same row.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from ratebook.errors import AccessError
from ratebook.intake.answers import EventResult
from ratebook.intake.events import book_events
from ratebook.intake.place import CycleUsage
from ratebook.settings import Settings
from ratebook.sources.events import DEFAULT_ORIGIN, EventRow, by_batch, event_rows
from ratebook.store import api_keys, billing, usage
from ratebook.store.bulk import FEW_ROWS
from ratebook.store.entities import get_entity
from ratebook.store.quote_reads import posting_context
from ratebook.store.reference import ReferenceCache, reference_for

log = logging.getLogger(__name__)


@dataclass(slots=True, kw_only=True)
class EventsSummary:
    """A push's outcome.

    Attributes:
        batch_ids: the import batches written, one per origin and attribute set (none for a
            quote); requests stored together share them.
        results: one per event, in request order.
        rated: new records rated.
        duplicates: events already received.
        exceptions: new exceptions.
        by_code: new exceptions by code.
    """

    batch_ids: list[int] = field(default_factory=list)
    results: list[EventResult] = field(default_factory=list)
    rated: int = 0
    duplicates: int = 0
    exceptions: int = 0
    by_code: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True, kw_only=True)
class EventGroup:
    """One request's events, for ``ingest_event_groups``.

    Attributes:
        events: parsed JSON objects (numbers as ``int`` or ``Decimal``, never float).
        default_origin: the origin of events that name none.
        body_sha256: the request body's digest, kept as each of its records' source digest.
    """

    events: list[dict[str, Any]]
    default_origin: str = DEFAULT_ORIGIN
    body_sha256: str | None = None


def ingest_events(
    engine: Engine,
    events: list[dict[str, Any]],
    *,
    entity_code: str | None = None,
    default_origin: str = DEFAULT_ORIGIN,
    source_name: str = "api",
    body_sha256: str | None = None,
    settings: Settings | None = None,
    dry_run: bool = False,
    references: ReferenceCache | None = None,
    key_id: int | None = None,
) -> EventsSummary:
    """Rate and store pushed events in one transaction (or, with ``dry_run``, rate them as
    the batch engine would and store nothing: a quote).

    Args:
        engine: the store.
        events: parsed JSON objects (numbers as ``int`` or ``Decimal``, never float).
        entity_code: the entity.
        default_origin: the origin of events that name none.
        source_name: how the batch is named in lineage (e.g. ``api:key-name``).
        body_sha256: the request body's digest, kept as each record's source digest.
        settings: field limits.
        dry_run: roll everything back. An event without an id gets a fresh one; give the id
            the event will carry for an exact answer where events start at the same instant
            (the record id breaks such ties in a cycle's order), and an id already stored
            answers that record's outcome as a duplicate. An exception of the events
            themselves is answered without an id, since it is not kept.
        references: where the entity's reference data is kept between calls (the API's);
            without it, it is loaded.
        key_id: the API key sending the events, which must still be live in the transaction.

    Raises:
        InputError: an attribute or origin that cannot be stored (names the event).
        AccessError: ``key_id`` was revoked (nothing is stored).
    """
    if dry_run:
        events = [
            {**e, "record_id": e.get("record_id") or f"quote-{uuid.uuid4().hex}"} for e in events
        ]
    group = EventGroup(events=events, default_origin=default_origin, body_sha256=body_sha256)
    return ingest_event_groups(
        engine,
        [group],
        entity_code=entity_code,
        source_name=source_name,
        settings=settings,
        dry_run=dry_run,
        references=references,
        key_id=key_id,
    )[0]


def ingest_event_groups(
    engine: Engine,
    groups: list[EventGroup],
    *,
    entity_code: str | None = None,
    source_name: str = "api",
    settings: Settings | None = None,
    dry_run: bool = False,
    references: ReferenceCache | None = None,
    key_id: int | None = None,
) -> list[EventsSummary]:
    """Several requests' events in one transaction (group commit): the same outcome, event
    for event, as ingesting the groups one after the other in this order, for one commit,
    one reference load and one batch per origin and attribute set instead of one per
    request. One summary per group, in order; their batch ids are the shared batches.
    With ``key_id``, the API key that sent them must still be live in that transaction.
    Events another writer stores meanwhile (PostgreSQL) are answered as duplicates: the
    transaction runs again when it meets their unique key.

    Raises:
        InputError: an attribute or origin that cannot be stored (names the event; nothing
            of any group is stored).
        AccessError: ``key_id`` was revoked (nothing is stored).

    One function: it groups the requests, runs their transaction and splits the answers.
    """
    settings = settings or Settings()
    started = time.perf_counter()
    rows: list[EventRow] = []
    for group in groups:
        rows += event_rows(group.events, group.default_origin, group.body_sha256 or "", len(rows))
    batches = by_batch(rows)
    # another writer may store events with the same ids while this runs: a new try answers
    # them as duplicates, with the other writer's outcome
    whole, results = usage.storing(
        lambda: _store_rows(
            engine,
            batches,
            entity_code=entity_code,
            source_name=source_name,
            settings=settings,
            dry_run=dry_run,
            references=references,
            key_id=key_id,
        ),
        what=f"{len(rows)} events",
    )
    summaries: list[EventsSummary] = []
    offset = 0
    for group in groups:
        summary = EventsSummary(batch_ids=list(whole.batch_ids))
        for index in range(offset, offset + len(group.events)):
            count_result(summary, results[index])
        offset += len(group.events)
        summaries.append(summary)
    log.info(
        "events %s: %d requests, %d rated, %d duplicates, %d exceptions in %.3fs",
        "quoted" if dry_run else "ingested",
        len(groups),
        whole.rated,
        whole.duplicates,
        whole.exceptions,
        time.perf_counter() - started,
    )
    return summaries


def _store_rows(
    engine: Engine,
    batches: dict[tuple[str, tuple[str, ...]], list[EventRow]],
    *,
    entity_code: str | None,
    source_name: str,
    settings: Settings,
    dry_run: bool,
    references: ReferenceCache | None,
    key_id: int | None,
) -> tuple[EventsSummary, dict[int, EventResult]]:
    """``ingest_event_groups``'s one transaction: the summary of all its events, and each
    event's outcome by its place among them."""
    whole = EventsSummary()
    results: dict[int, EventResult] = {}
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            stamp: tuple[int, ...] | None = None
            closed: frozenset[str] | None = None
            if entity_code is None:
                entity = get_entity(conn, None)
                if key_id is not None and not api_keys.is_live(conn, key_id):
                    raise AccessError("UNAUTHENTICATED", "the API key is unknown or revoked")
                billing.lock_entity(conn, entity.id, shared=True)
            else:
                # the locks, then the key, entity, stamp and closed cycles: two round trips
                few = sum(len(members) for members in batches.values()) < FEW_ROWS
                opened, cacheable = posting_context(conn, entity_code, key_id, generic_plans=few)
                entity, closed = opened.entity, opened.closed
                stamp = opened.stamp if cacheable else None
            now = datetime.now(UTC)
            reference = reference_for(conn, entity.id, references, stamp=stamp)
            cycle = CycleUsage(conn, entity_id=entity.id, rows=reference.rows, closed=closed)
            for (origin, _), members in batches.items():
                batch_id, tally, answers = book_events(
                    conn,
                    entity,
                    origin,
                    members,
                    reference=reference,
                    cycle=cycle,
                    source_name=source_name,
                    settings=settings,
                    audited=not dry_run,
                    now=now,
                )
                whole.batch_ids.append(batch_id)
                whole.rated += tally.rated
                whole.duplicates += tally.duplicates
                whole.exceptions += tally.exceptions
                whole.by_code.update(tally.by_code)
                results.update(answers)
            cycle.save()
        except BaseException:
            transaction.rollback()
            raise
        if dry_run:
            transaction.rollback()
            whole.batch_ids = []
        else:
            transaction.commit()
    return whole, results


def count_result(summary: EventsSummary, result: EventResult) -> None:
    """Add one event's outcome to its request's summary."""
    summary.results.append(result)
    if result.duplicate:
        summary.duplicates += 1
    elif result.status == "rated":
        summary.rated += 1
    else:
        summary.exceptions += 1
        summary.by_code[result.code or ""] += 1
