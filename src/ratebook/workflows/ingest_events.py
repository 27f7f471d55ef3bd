"""Ingest events pushed to the API (or quote them): the same stages as a file import, one
batch per origin and attribute set, and each event's outcome read back for the reply.

An event is a JSON object with the canonical fields (``record_id``, ``start_time``,
``quantity``, ``unit``, ``service``, ``account``, ``caller``, ``destination``,
``disposition``, ``direction``), an optional ``origin`` and free ``attributes``. Each event is
turned into a row of the generic format and goes through the very stages a CSV row does, so
a pushed event and the same event in a file are rated, rejected and deduplicated alike.

Events are idempotent by ``(entity, origin, record_id)``: a repeat is counted as a duplicate
and answered with the original's outcome. A repeat of an event that never became a record
(an invalid one) is a duplicate of its still-pending exception when it is the same row.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine

from ratebook.errors import AccessError, InputError
from ratebook.model.parties import Entity
from ratebook.money import (
    AMOUNT_SCALE,
    PRICE_SCALE,
    QUANTITY_SCALE,
    format_fixed,
    format_fixed_expr,
)
from ratebook.pipeline.price import Reference
from ratebook.pipeline.tiers import split_text
from ratebook.settings import Settings
from ratebook.sources.csvread import RawChunk, to_csv_line
from ratebook.sources.formats import get_format
from ratebook.store import api_keys, audit, billing, event_outcomes, usage
from ratebook.store.entities import get_entity
from ratebook.store.reference import ReferenceCache, load_reference
from ratebook.workflows.book_charges import Ledger
from ratebook.workflows.cycle_usage import CycleUsage
from ratebook.workflows.import_feed import ImportSummary, ReadChunk, import_chunk

log = logging.getLogger(__name__)

#: The canonical fields an event may carry, in the order of the rows built from them.
FIELDS = (
    "record_id",
    "start_time",
    "quantity",
    "unit",
    "service",
    "account",
    "caller",
    "destination",
    "disposition",
    "direction",
)
DEFAULT_ORIGIN = "api"
_MAX_ORIGIN = 64


@dataclass(frozen=True, slots=True)
class TierPart:
    """The part of a record in one tier of a graduated row (exact decimal text); tier 0 is
    the row's own price, then its steps in order."""

    tier: int
    quantity: str
    price: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EventResult:
    """What became of one event.

    Attributes:
        index: the event's place in the request, from 0.
        record_id: its id as given (None when it had none).
        origin: the feed it belongs to.
        status: ``rated``, ``exception`` (in the review queue) or ``written_off``.
        duplicate: the event repeats one already received; the outcome is the original's.
        charge: the rated charge in the entity's currency (text), when rated.
        currency: the entity's currency.
        billed_quantity: the quantity after increments, in the event's unit.
        unit: the event's unit.
        unit_price: the price per rate unit that applied.
        band: the time band, when the rate has bands.
        prefix: the destination prefix that matched, when the rate has prefixes.
        period: the billing cycle, ``YYYY-MM``.
        tiers: on a graduated row, the parts of the event in each tier it spans, in order
            (None otherwise).
        exception_id: the exception in the review queue, when not rated.
        code: the exception's stable code.
        reason: a sentence saying what to fix.
        field: the event field at fault, when one is.
    """

    index: int
    record_id: str | None
    origin: str
    status: str
    duplicate: bool = False
    charge: str | None = None
    currency: str = ""
    billed_quantity: str | None = None
    unit: str | None = None
    unit_price: str | None = None
    band: str | None = None
    prefix: str | None = None
    period: str | None = None
    tiers: tuple[TierPart, ...] | None = None
    exception_id: int | None = None
    code: str | None = None
    reason: str | None = None
    field: str | None = None


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


@dataclass(slots=True)
class EventRow:
    """One pushed event as the row of the generic format it is stored as."""

    index: int  # place among all the events of the transaction
    position: int  # place in its own request
    origin: str
    record_id: str | None
    fields: dict[str, str]
    utf8_ok: bool
    digest: str
    shape: tuple[str, ...]  # the attribute names, which make the columns of the row's batch


def _text(value: Any) -> tuple[str, bool]:
    """An event value as the text a CSV cell would hold; False when it held a lone surrogate
    (JSON can escape one; it is not text and is refused like invalid UTF-8 in a file)."""
    if value is None:
        return "", True
    if isinstance(value, bool):
        return ("true" if value else "false"), True
    if isinstance(value, Decimal):
        return format(value, "f"), True
    if isinstance(value, int):
        return str(value), True
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(
            value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=_exact
        )
    if text.isascii():
        return text, True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # the shape stage flags U+DCxx as bytes that were not UTF-8
        return "".join("\udcff" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text), False
    return text, True


def _exact(value: object) -> str:
    """A number inside a nested attribute, kept exact as decimal text."""
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"{type(value).__name__} is not JSON")


def event_rows(
    events: list[dict[str, Any]], default_origin: str, digest: str, offset: int
) -> list[EventRow]:
    """Events as rows, numbered on from ``offset`` among the events of one transaction.

    Raises:
        InputError: an attribute or origin that cannot be stored (names the event).
    """
    rows: list[EventRow] = []
    for index, event in enumerate(events):
        origin_value = event.get("origin")
        origin = default_origin if origin_value in (None, "") else str(origin_value)
        if len(origin) > _MAX_ORIGIN:
            raise InputError(
                "ORIGIN_TOO_LONG",
                f"origin is longer than {_MAX_ORIGIN} characters",
                path=f"events[{index}]",
                field="origin",
            )
        fields: dict[str, str] = {}
        ok = True
        for name in FIELDS:
            value = event.get(name)
            if value.__class__ is str and value.isascii():  # most values: kept as they are
                fields[name] = value
            else:
                fields[name], good = _text(value)
                ok = ok and good
        attributes = event.get("attributes") or {}
        for key, value in attributes.items():
            name = str(key).strip().lower()
            if not name or name in FIELDS or name == "origin" or name in fields:
                raise InputError(
                    "BAD_ATTRIBUTE",
                    f"attribute {key!r} is empty, repeats another, or is a canonical field",
                    path=f"events[{index}].attributes",
                    field=str(key),
                )
            fields[name], good = _text(value)
            ok = ok and good
        record_id = fields["record_id"].strip() or None
        shape = tuple(sorted(set(fields).difference(FIELDS))) if attributes else ()
        rows.append(EventRow(offset + index, index, origin, record_id, fields, ok, digest, shape))
    return rows


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

    Raises:
        InputError: an attribute or origin that cannot be stored (names the event).
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
    """
    settings = settings or Settings()
    started = time.perf_counter()
    rows: list[EventRow] = []
    for group in groups:
        rows += event_rows(group.events, group.default_origin, group.body_sha256 or "", len(rows))
    by_batch: dict[tuple[str, tuple[str, ...]], list[EventRow]] = {}
    for row in rows:
        by_batch.setdefault((row.origin, row.shape), []).append(row)
    # another writer may store events with the same ids while this runs: a new try answers
    # them as duplicates, with the other writer's outcome
    whole, results = usage.storing(
        lambda: _store_rows(
            engine,
            by_batch,
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
    by_batch: dict[tuple[str, tuple[str, ...]], list[EventRow]],
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
            entity = get_entity(conn, entity_code)
            if key_id is not None and not api_keys.is_live(conn, key_id):
                raise AccessError("UNAUTHENTICATED", "the API key is unknown or revoked")
            billing.lock_entity(conn, entity.id, shared=True)
            reference = (
                references.load(conn, entity.id)
                if references is not None
                else load_reference(conn, entity.id)
            )
            cycle = CycleUsage(conn, entity_id=entity.id, rows=reference.rows)
            for (origin, _), members in by_batch.items():
                _ingest_origin(
                    conn,
                    entity,
                    origin,
                    members,
                    reference=reference,
                    cycle=cycle,
                    source_name=source_name,
                    settings=settings,
                    summary=whole,
                    results=results,
                    dry_run=dry_run,
                )
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


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchRows:
    """One batch's events as rows of the generic format.

    Attributes:
        columns: the canonical fields, then the batch's attribute names.
        repeats: by event index, the pending exception an event repeats exactly (an invalid
            event sent again: a duplicate of it, never read again).
        fresh: the other events, in order.
        chunk: the fresh events' rows, lines numbered by event index from 1 (None if none).
    """

    columns: list[str]
    repeats: dict[int, dict[str, Any]]
    fresh: list[EventRow]
    chunk: RawChunk | None


def batch_rows(conn: Connection, entity_id: int, origin: str, members: list[EventRow]) -> BatchRows:
    """The rows of one batch (one origin and attribute set), for storing or quoting."""
    columns = list(FIELDS) + sorted({k for m in members for k in m.fields} - set(FIELDS))
    raw_lines = {m.index: to_csv_line([m.fields.get(c, "") for c in columns]) for m in members}
    ids = sorted({m.record_id for m in members if m.record_id})
    earlier = event_outcomes.unstored_exceptions(conn, entity_id, origin, ids)
    repeats = {
        m.index: earlier[(m.record_id, raw_lines[m.index])]
        for m in members
        if m.record_id and (m.record_id, raw_lines[m.index]) in earlier
    }
    fresh = [m for m in members if m.index not in repeats]
    chunk = (
        RawChunk.from_rows(
            [m.index + 1 for m in fresh],
            [[m.fields.get(c, "") for c in columns] for m in fresh],
            width=len(columns),
            utf8_checked=all(m.utf8_ok for m in fresh),
            raw=[raw_lines[m.index] for m in fresh],
        )
        if fresh
        else None
    )
    return BatchRows(columns=columns, repeats=repeats, fresh=fresh, chunk=chunk)


def _ingest_origin(
    conn: Connection,
    entity: Entity,
    origin: str,
    members: list[EventRow],
    *,
    reference: Reference,
    cycle: CycleUsage,
    source_name: str,
    settings: Settings,
    summary: EventsSummary,
    results: dict[int, EventResult],
    dry_run: bool,
) -> None:
    fmt = get_format("generic")
    rows = batch_rows(conn, entity.id, origin, members)
    columns, repeats, fresh = rows.columns, rows.repeats, rows.fresh
    batch_id = usage.start_batch(
        conn,
        entity_id=entity.id,
        origin=origin,
        fmt=fmt.name,
        source_name=source_name,
        source_sha256=None,  # events are known by id, not by the body they came in
        size_bytes=None,
        source_kind="api",
        columns=columns,
        feed_zone=entity.timezone,
    )
    batch = ImportSummary(
        path=source_name,
        batch_id=batch_id,
        currency=entity.currency,
        charge_places=entity.charge_places,
    )
    ledger = Ledger(cycle)
    read: ReadChunk | None = None
    if rows.chunk is not None:
        read = import_chunk(
            conn,
            rows.chunk,
            fmt=fmt,
            columns=columns,
            entity=entity,
            zone=entity.timezone,
            origin=origin,
            batch_id=batch_id,
            source_sha256=[m.digest for m in fresh],
            reference=reference,
            cycle=cycle,
            ledger=ledger,
            settings=settings,
            summary=batch,
        )
    ledger.post(
        conn, entity_id=entity.id, batch_id=batch_id, source=source_name, now=datetime.now(UTC)
    )
    batch.rows_read += len(repeats)
    batch.duplicates += len(repeats)
    if batch.rated + batch.duplicates + batch.exceptions != batch.rows_read:
        raise RuntimeError(f"row identity broken for events batch {batch_id}")
    usage.finish_batch(
        conn,
        batch_id,
        rows_read=batch.rows_read,
        rated=batch.rated,
        duplicates=batch.duplicates,
        exceptions_count=batch.exceptions,
    )
    if not dry_run:
        audit.record(
            conn,
            entity_id=entity.id,
            action="import",
            object_type="batch",
            object_id=batch_id,
            after={
                "source": source_name,
                "format": "events",
                "origin": origin,
                "read": batch.rows_read,
                "rated": batch.rated,
                "duplicates": batch.duplicates,
                "exceptions": batch.exceptions,
                "charge": batch.charge,
                "batch": batch_id,
                "sealed": ledger.seal.summary(),
            },
        )
    summary.batch_ids.append(batch_id)
    summary.rated += batch.rated
    summary.duplicates += batch.duplicates
    summary.exceptions += batch.exceptions
    summary.by_code.update(batch.by_code)

    for m in members:
        if m.index in repeats:
            results[m.index] = exception_result(m, entity, repeats[m.index], duplicate=True)
    if read is None:
        return
    # the batch's exceptions by row (their ids are the store's); a repeat of a record stored
    # before is read as it now stands, after this batch
    row_of = {m.index + 1: row_idx for row_idx, m in enumerate(fresh)}
    new_exceptions = {
        row_of[line]: found
        for line, found in event_outcomes.batch_exceptions(conn, batch_id).items()
    }
    answers = answer_batch(
        conn,
        entity,
        origin,
        fresh,
        read,
        refused=new_exceptions,
        rerated=False,
    )
    if dry_run:
        # the exceptions of this batch are rolled back: a quote names none of them
        gone = {found["id"] for found in new_exceptions.values()}
        answers = {
            index: dataclasses.replace(result, exception_id=None)
            if result.exception_id in gone
            else result
            for index, result in answers.items()
        }
    results.update(answers)


def answer_batch(
    conn: Connection,
    entity: Entity,
    origin: str,
    fresh: list[EventRow],
    read: ReadChunk,
    *,
    refused: dict[int, dict[str, Any]],
    rerated: bool,
) -> dict[int, EventResult]:
    """The answers of a batch's fresh events, by event index: its exception (``refused``,
    by row), its rated charge as booked, or, for a repeat, its record's outcome: one of this
    batch's, or one stored before. With ``rerated`` (nothing of the batch stored), a stored
    record is answered as the batch's placing re-rates it; else it is read as it stands."""
    rated = rated_answers(read.assessed.placed.rated, entity.charge_places)
    record_rows = dict(zip(read.new["record_id"], read.new["row_idx"], strict=True))
    stored = event_outcomes.record_outcomes(
        conn, entity.id, origin, sorted(set(read.duplicates["record_id"]) - set(record_rows))
    )
    if rerated:
        changed = {
            row["record_pk"]: row
            for row in read.assessed.placed.replacements.select(
                "record_pk", *(c for c in ANSWER_COLUMNS if c != "unit")
            ).iter_rows(named=True)
        }
        stored = {
            record_id: {**found, **changed.get(found["record_pk"], {})}
            for record_id, found in stored.items()
        }
    results: dict[int, EventResult] = {}
    for row_idx, m in enumerate(fresh):
        if row_idx in refused:
            results[m.index] = exception_result(m, entity, refused[row_idx], duplicate=False)
        elif row_idx in rated:
            results[m.index] = rated_result(m, entity, rated[row_idx], duplicate=False)
        elif m.record_id in record_rows:
            first = record_rows[m.record_id]
            results[m.index] = (
                rated_result(m, entity, rated[first], duplicate=True)
                if first in rated
                else exception_result(m, entity, refused[first], duplicate=True)
            )
        elif m.record_id in stored:
            results[m.index] = stored_result(m, entity, stored[m.record_id])
        else:
            raise RuntimeError(f"event {m.position} has no outcome")
    return results


#: The columns of a rated record that its answer shows (as ``event_outcomes`` reads them).
ANSWER_COLUMNS = (
    "charge",
    "billed_quantity",
    "unit",
    "unit_price",
    "band",
    "prefix",
    "period",
    "tier_split",
)


def rated_answers(rated: pl.DataFrame, places: int) -> dict[int, dict[str, Any]]:
    """Rated records' ``ANSWER_COLUMNS`` by ``row_idx``, for ``rated_result``, with their
    amounts already as text (``places``: the entity's charge places), formatted for the whole
    frame at once."""
    texts = rated.select(
        "row_idx",
        *ANSWER_COLUMNS,
        format_fixed_expr(pl.col("charge"), AMOUNT_SCALE, places).alias("charge_text"),
        format_fixed_expr(pl.col("billed_quantity"), QUANTITY_SCALE).alias("billed_text"),
        format_fixed_expr(pl.col("unit_price"), PRICE_SCALE, min_places=places).alias("price_text"),
    )
    if texts["charge_text"].null_count() > texts["charge"].null_count():
        raise ValueError(f"a charge has more than the entity's {places} places")
    return {row["row_idx"]: row for row in texts.iter_rows(named=True)}


def rated_result(
    row: EventRow, entity: Entity, found: dict[str, Any], *, duplicate: bool
) -> EventResult:
    """The answer for a rated record, from its charge's columns: as stored
    (``event_outcomes``) or as just booked (``rated_answers``, amounts already as text)."""
    if found["charge"] is None:
        # a stored record whose exception was written off (rejected in review)
        return EventResult(
            index=row.position,
            record_id=row.record_id,
            origin=row.origin,
            status="written_off",
            duplicate=duplicate,
            currency=entity.currency,
            unit=found["unit"],
        )
    return EventResult(
        index=row.position,
        record_id=row.record_id,
        origin=row.origin,
        status="rated",
        duplicate=duplicate,
        charge=found.get("charge_text")
        or format_fixed(found["charge"], AMOUNT_SCALE, entity.charge_places),
        currency=entity.currency,
        billed_quantity=found.get("billed_text")
        or format_fixed(found["billed_quantity"], QUANTITY_SCALE),
        unit=found["unit"],
        unit_price=found.get("price_text")
        or format_fixed(found["unit_price"], PRICE_SCALE, min_places=entity.charge_places),
        band=found["band"],
        prefix=found["prefix"],
        period=found["period"],
        tiers=tier_parts(found.get("tier_split"), entity.charge_places),
    )


def tier_parts(split: str | None, places: int) -> tuple[TierPart, ...] | None:
    """A stored ``tier_split`` as exact text parts (None for a record not split in tiers)."""
    parts = split_text(split)
    if not parts:
        return None
    return tuple(
        TierPart(
            tier,
            format_fixed(quantity, QUANTITY_SCALE),
            format_fixed(price, PRICE_SCALE, min_places=places),
        )
        for tier, quantity, price in parts
    )


def stored_result(row: EventRow, entity: Entity, found: dict[str, Any]) -> EventResult:
    """A repeat of a stored record (``event_outcomes.record_outcomes``): its current charge,
    or its pending exception."""
    if found["charge"] is not None or found["exception_id"] is None:
        return rated_result(row, entity, found, duplicate=True)
    return exception_result(
        row,
        entity,
        {
            "id": found["exception_id"],
            "code": found["code"],
            "reason": found["reason"],
            "field": found["field"],
        },
        duplicate=True,
    )


def exception_result(
    row: EventRow, entity: Entity, found: dict[str, Any], *, duplicate: bool
) -> EventResult:
    """The answer for an exception: ``found`` has its ``id``, ``code``, ``reason``, ``field``."""
    return EventResult(
        index=row.position,
        record_id=row.record_id,
        origin=row.origin,
        status="exception",
        duplicate=duplicate,
        currency=entity.currency,
        exception_id=found["id"],
        code=found["code"],
        reason=found["reason"],
        field=found["field"],
    )
