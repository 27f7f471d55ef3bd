"""One batch of pushed events (one origin and attribute set) through the intake: its rows,
its repeats of pending exceptions, its chunk stored, its end, and each event's answer."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from ratebook.intake.answers import EventResult, answer_batch, exception_result
from ratebook.intake.batch import finish_batch
from ratebook.intake.book import Ledger
from ratebook.intake.chunk import ReadChunk, import_chunk
from ratebook.intake.place import CycleUsage
from ratebook.intake.tally import Tally
from ratebook.model.parties import Entity
from ratebook.model.usage import EVENT_FIELDS as FIELDS
from ratebook.pipeline.event_record import canonical
from ratebook.pipeline.numbers import entity_plan
from ratebook.pipeline.price import Reference
from ratebook.settings import Settings
from ratebook.sources.csvread import RawChunk, to_csv_line
from ratebook.sources.events import EventRow
from ratebook.sources.formats import get_format
from ratebook.store import event_outcomes, usage


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchRows:
    """One batch's events as rows of the generic format.

    Attributes:
        columns: the canonical fields, then the batch's attribute names.
        repeats: by event index, the pending exception an event repeats exactly (an invalid
            event sent again: a duplicate of it, never read again).
        fresh: the other events, in order.
        chunk: the fresh events' rows, lines numbered by event index from 1 or as the events
            say (a stream's offsets) (None if none).
    """

    columns: list[str]
    repeats: dict[int, dict[str, Any]]
    fresh: list[EventRow]
    chunk: RawChunk | None


def event_window(now: datetime, settings: Settings) -> tuple[datetime, datetime]:
    """The times a pushed event may start at, received at ``now``: ``[from, to)``."""
    return (
        now - timedelta(days=settings.event_days_back),
        now + timedelta(days=settings.event_days_ahead),
    )


#: Up to this many events a batch is read one event at a time (``canonical_records``), beyond
#: it as frames: about 30 microseconds an event against the frames' 20 ms of set-up and a few
#: microseconds an event (5,000 events: 150 against 45 ms).
CANONICAL_ROWS = 500


def canonical_records(
    entity: Entity,
    members: list[EventRow],
    columns: list[str],
    *,
    settings: Settings,
    window: tuple[datetime, datetime],
) -> list[dict[str, Any]] | None:
    """The canonical records of a batch's events read without frames
    (``pipeline.event_record``), row ``i`` the ``i``-th member, or None unless every event is
    the usual kind and starts inside ``window``: the frames then read the batch and word each
    refusal."""
    plan = entity_plan(entity)
    records: list[dict[str, Any]] = []
    for row_idx, member in enumerate(members):
        if not member.utf8_ok:
            return None
        record = canonical(
            member.fields,
            columns,
            row_idx=row_idx,
            line=member.index + 1 if member.line is None else member.line,
            feed_zone=entity.timezone,
            entity_zone=entity.timezone,
            plan=plan,
            max_field_chars=settings.max_field_chars,
        )
        if record is None or not window[0] <= record["start_time"] < window[1]:
            return None
        records.append(record)
    return records


def batch_columns(members: list[EventRow]) -> list[str]:
    """A batch's columns: the canonical fields, then its attribute names."""
    return list(FIELDS) + sorted({k for m in members for k in m.fields} - set(FIELDS))


def batch_rows(conn: Connection, entity_id: int, origin: str, members: list[EventRow]) -> BatchRows:
    """The rows of one batch (one origin and attribute set), for storing or quoting."""
    columns = batch_columns(members)
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
            [m.index + 1 if m.line is None else m.line for m in fresh],
            [[m.fields.get(c, "") for c in columns] for m in fresh],
            width=len(columns),
            utf8_checked=all(m.utf8_ok for m in fresh),
            raw=[raw_lines[m.index] for m in fresh],
        )
        if fresh
        else None
    )
    return BatchRows(columns=columns, repeats=repeats, fresh=fresh, chunk=chunk)


def book_events(
    conn: Connection,
    entity: Entity,
    origin: str,
    members: list[EventRow],
    *,
    reference: Reference,
    cycle: CycleUsage,
    source_name: str,
    settings: Settings,
    audited: bool,
    now: datetime,
    source_kind: str = "api",
    answered: bool = True,
) -> tuple[int, Tally, dict[int, EventResult]]:
    """Store one batch of events (one origin and attribute set): its batch id, what became
    of its events, and each event's answer by its index among the transaction's events.
    ``audited=False`` writes no audit entry (a quote, rolled back); ``source_kind`` is
    ``api`` or ``kafka``; ``answered=False`` (a stream, which answers no one) skips the
    answers, and the events may then share lines (a message's array of events, one offset).

    One function: the batch's steps in order, as a file's are."""
    fmt = get_format("generic")
    rows = batch_rows(conn, entity.id, origin, members)
    batch_id = usage.start_batch(
        conn,
        entity_id=entity.id,
        origin=origin,
        fmt=fmt.name,
        source_name=source_name,
        source_sha256=None,  # events are known by id, not by the body they came in
        size_bytes=None,
        source_kind=source_kind,
        columns=rows.columns,
        feed_zone=entity.timezone,
        now=now,
    )
    ledger = Ledger(cycle)
    # an exact repeat of a pending exception is a duplicate of it, never read again
    tally = Tally(read=len(rows.repeats), duplicates=len(rows.repeats))
    read: ReadChunk | None = None
    if rows.chunk is not None:
        window = event_window(now, settings)
        read, booked = import_chunk(
            conn,
            rows.chunk,
            fmt=fmt,
            columns=rows.columns,
            entity=entity,
            zone=entity.timezone,
            origin=origin,
            batch_id=batch_id,
            source_sha256=[m.digest for m in rows.fresh],
            reference=reference,
            cycle=cycle,
            ledger=ledger,
            settings=settings,
            now=now,
            window=window,
            canonical=canonical_records(
                entity, rows.fresh, rows.columns, settings=settings, window=window
            )
            if len(rows.fresh) <= CANONICAL_ROWS
            else None,
        )
        tally += booked
    finish_batch(
        conn,
        entity_id=entity.id,
        batch_id=batch_id,
        ledger=ledger,
        tally=tally,
        source=source_name,
        now=now,
        audited={"source": source_name, "format": "events", "origin": origin} if audited else None,
    )
    if not answered:
        return batch_id, tally, {}
    results = {
        m.index: exception_result(m, entity, rows.repeats[m.index], duplicate=True)
        for m in members
        if m.index in rows.repeats
    }
    if read is not None:
        results.update(
            _answers(
                conn, entity, origin, rows.fresh, read, batch_id, audited, stored=tally.exceptions
            )
        )
    return batch_id, tally, results


def _answers(
    conn: Connection,
    entity: Entity,
    origin: str,
    fresh: list[EventRow],
    read: ReadChunk,
    batch_id: int,
    audited: bool,
    *,
    stored: int,
) -> dict[int, EventResult]:
    """The answers of a stored batch's fresh events. Its exceptions (``stored`` of them) are
    read back by row (their ids are the store's); a repeat of a record stored before is read
    as it now stands, after this batch."""
    row_of = {m.index + 1: row_idx for row_idx, m in enumerate(fresh)}
    new_exceptions = (
        {
            row_of[line]: found
            for line, found in event_outcomes.batch_exceptions(conn, batch_id).items()
        }
        if stored
        else {}
    )
    answers = answer_batch(conn, entity, origin, fresh, read, refused=new_exceptions, rerated=False)
    if audited:
        return answers
    # the exceptions of a quoted batch are rolled back: a quote names none of them
    gone = {found["id"] for found in new_exceptions.values()}
    return {
        index: dataclasses.replace(result, exception_id=None)
        if result.exception_id in gone
        else result
        for index, result in answers.items()
    }
