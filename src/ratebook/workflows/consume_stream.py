"""Streaming ingest: a Kafka consumer group's members apply each polled batch in one
transaction of the store, with the partitions' positions advanced in that same transaction.

Exactly-once effect, the way the Kafka consumer documentation recommends for a relational
sink: the store, not the broker, holds each partition's position (``stream_offsets``). On
assignment a member claims the partition (a new epoch) and seeks to the stored position; each
batch is one transaction of records, charges, exceptions, postings, batch manifests and the
positions' compare-and-set, so a member that lost a partition in a rebalance cannot commit.
The broker is told the positions afterwards, for monitoring tools only. Dedup by ``(entity,
origin, record_id)`` stays the backstop, as for files and the API.

Every message ends up as events (rated, duplicates or exceptions, in batches named ``kafka
<topic> partition <p>`` whose lines are offsets), as one ``BAD_MESSAGE`` exception, or on the
dead-letter topic when it names no entity Ratebook knows.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from ratebook.errors import InputError, NotFoundError, RatebookError
from ratebook.intake.batch import finish_batch
from ratebook.intake.book import Ledger
from ratebook.intake.events import book_events
from ratebook.intake.place import CycleUsage
from ratebook.intake.tally import Tally, codes
from ratebook.model.meters import Meters
from ratebook.model.parties import Entity
from ratebook.model.rejections import Code
from ratebook.model.stream import StreamConfig
from ratebook.settings import Settings
from ratebook.sources import kafka
from ratebook.sources.events import EventRow, by_batch, event_rows
from ratebook.sources.feeds_config import load_streams
from ratebook.sources.messages import StreamMessage, Unreadable, decode
from ratebook.store import billing, usage
from ratebook.store.entities import get_entity
from ratebook.store.reference import ReferenceCache, reference_for
from ratebook.store.stream_offsets import Claim, advance, claim, record_error
from ratebook.store.unreadable import UnreadableMessage, add_unreadable
from ratebook.workflows.meters import configured_meters

log = logging.getLogger(__name__)

Partition = tuple[str, int]


class LostPartitionError(RuntimeError):
    """The batch touched partitions this member no longer holds: nothing was stored."""

    def __init__(self, partitions: list[Partition]) -> None:
        super().__init__(f"partitions taken over by another member: {partitions}")
        self.partitions = partitions


@dataclass(slots=True, kw_only=True)
class BatchResult:
    """What one applied batch did.

    Attributes:
        read: messages read (events and unreadable messages; an array counts its events).
        dead_lettered: messages sent to the dead-letter topic.
        positions: the partitions' new stored positions.
    """

    read: int = 0
    rated: int = 0
    duplicates: int = 0
    exceptions: int = 0
    dead_lettered: int = 0
    batch_ids: list[int] = field(default_factory=list)
    positions: dict[Partition, int] = field(default_factory=dict)

    def add(self, tally: Tally) -> None:
        self.read += tally.read
        self.rated += tally.rated
        self.duplicates += tally.duplicates
        self.exceptions += tally.exceptions


@dataclass(slots=True)
class _Plan:
    """One entity's share of a batch, by partition."""

    entity: Entity
    events: dict[Partition, list[EventRow]] = field(default_factory=lambda: defaultdict(list))
    unreadable: dict[Partition, list[UnreadableMessage]] = field(
        default_factory=lambda: defaultdict(list)
    )


def apply_batch(
    engine: Engine,
    config: StreamConfig,
    held: dict[Partition, Claim],
    positions: dict[Partition, int | None],
    messages: list[StreamMessage],
    *,
    settings: Settings,
    references: ReferenceCache | None = None,
    dead_letters: Callable[[list[tuple[StreamMessage, str]]], None] = lambda _: None,
    ends: dict[Partition, int] | None = None,
) -> BatchResult:
    """Apply ``messages`` and advance their partitions' positions in one transaction (run
    again when another writer stored the same records meanwhile). Messages of partitions
    not in ``held``, or before a partition's position, are skipped: they are another
    member's, or applied already. ``ends`` (each partition's end, as the broker last said)
    gives the lag stored with the positions.

    Raises:
        LostPartitionError: another member claimed a partition of the batch since (nothing is
            stored).
    """
    fresh = [
        m
        for m in messages
        if (m.topic, m.partition) in held
        and m.offset >= (positions.get((m.topic, m.partition)) or 0)
    ]
    return usage.storing(
        lambda: _apply(
            engine, config, held, positions, fresh, settings, references, dead_letters, ends or {}
        ),
        what=f"{len(fresh)} stream messages",
    )


def _apply(
    engine: Engine,
    config: StreamConfig,
    held: dict[Partition, Claim],
    positions: dict[Partition, int | None],
    messages: list[StreamMessage],
    settings: Settings,
    references: ReferenceCache | None,
    dead_letters: Callable[[list[tuple[StreamMessage, str]]], None],
    broker_ends: dict[Partition, int],
) -> BatchResult:
    """``apply_batch``'s one transaction.

    One function: the transaction's steps in order (read the messages, book each entity's
    share, advance the positions, send dead letters, commit)."""
    result = BatchResult()
    started = time.perf_counter()
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            now = datetime.now(UTC)
            plans, dead = _plans(conn, config, messages, configured_meters(settings))
            for plan in sorted(plans.values(), key=lambda p: p.entity.id):
                _book(conn, plan, config, settings, references, now, result)
            lost: list[Partition] = []
            ends: dict[Partition, int] = {}
            counts: dict[Partition, int] = defaultdict(int)
            for m in messages:
                key = (m.topic, m.partition)
                ends[key] = max(ends.get(key, 0), m.offset + 1)
                counts[key] += 1
            batch_ms = round((time.perf_counter() - started) * 1000)
            for key, end in sorted(ends.items()):
                lag = None if key not in broker_ends else max(0, broker_ends[key] - end)
                moved = advance(
                    conn,
                    config.group,
                    held[key],
                    positions.get(key),
                    end,
                    now,
                    lag=lag,
                    batch_messages=counts[key],
                    batch_ms=batch_ms,
                )
                if not moved:
                    lost.append(key)
            if lost:
                raise LostPartitionError(lost)
            dead_letters(dead)
            result.dead_lettered = len(dead)
            result.positions = ends
        except BaseException:
            transaction.rollback()
            raise
        transaction.commit()
    return result


def _plans(
    conn: Connection, config: StreamConfig, messages: list[StreamMessage], meters: Meters | None
) -> tuple[dict[int, _Plan], list[tuple[StreamMessage, str]]]:
    """The batch's messages read and shared out by entity; those naming no known entity."""
    plans: dict[int, _Plan] = {}
    known: dict[str | None, Entity | None] = {}
    dead: list[tuple[StreamMessage, str]] = []
    index = 0
    for m in messages:
        code = config.entity if config.entity is not None else m.header(config.entity_header)
        if code not in known:
            try:
                known[code] = None if code is None else get_entity(conn, code)
            except NotFoundError:
                known[code] = None
        entity = known[code]
        if entity is None:
            why = (
                f"no {config.entity_header} header"
                if code is None
                else f"no entity {code!r} in this Ratebook"
            )
            dead.append((m, why))
            continue
        plan = plans.setdefault(entity.id, _Plan(entity))
        key = (m.topic, m.partition)
        decoded = decode(m, meters)
        if isinstance(decoded, Unreadable):
            plan.unreadable[key].append(UnreadableMessage(m.offset, m.value, decoded.reason))
            continue
        digest = hashlib.sha256(m.value or b"").hexdigest()
        try:
            rows = event_rows(decoded, config.origin, digest, index)
        except InputError as error:
            plan.unreadable[key].append(UnreadableMessage(m.offset, m.value, error.render()))
            continue
        for row in rows:
            row.line = m.offset
        index += len(rows)
        plan.events[key].extend(rows)
    return plans, dead


def _book(
    conn: Connection,
    plan: _Plan,
    config: StreamConfig,
    settings: Settings,
    references: ReferenceCache | None,
    now: datetime,
    result: BatchResult,
) -> None:
    """One entity's share of the batch: a batch per partition (and origin and attribute
    set) of its events, one of its unreadable messages."""
    entity = plan.entity
    billing.lock_entity(conn, entity.id, shared=True)
    reference = reference_for(conn, entity.id, references)
    cycle = CycleUsage(conn, entity_id=entity.id, rows=reference.rows)
    for (topic, partition), rows in sorted(plan.events.items()):
        for (origin, _), members in by_batch(rows).items():
            batch_id, tally, _ = book_events(
                conn,
                entity,
                origin,
                members,
                reference=reference,
                cycle=cycle,
                source_name=f"kafka {topic} partition {partition}",
                settings=settings,
                audited=True,
                now=now,
                source_kind="kafka",
                answered=False,
            )
            result.batch_ids.append(batch_id)
            result.add(tally)
    for (topic, partition), unread in sorted(plan.unreadable.items()):
        source = f"kafka {topic} partition {partition}"
        batch_id = usage.start_batch(
            conn,
            entity_id=entity.id,
            origin=config.origin,
            fmt="events",
            source_name=source,
            source_sha256=None,
            size_bytes=None,
            source_kind="kafka",
            now=now,
        )
        add_unreadable(
            conn,
            entity_id=entity.id,
            batch_id=batch_id,
            origin=config.origin,
            messages=unread,
            now=now,
        )
        tally = Tally(
            read=len(unread),
            exceptions=len(unread),
            by_code=codes([Code.INVALID_RECORD.value] * len(unread)),
        )
        finish_batch(
            conn,
            entity_id=entity.id,
            batch_id=batch_id,
            ledger=Ledger(cycle),
            tally=tally,
            source=source,
            now=now,
            audited={"source": source, "format": "events", "origin": config.origin},
        )
        result.batch_ids.append(batch_id)
        result.add(tally)
    cycle.save()


@dataclass(slots=True, kw_only=True)
class StreamTotals:
    """What a consumer has done since it started."""

    batches: int = 0
    read: int = 0
    rated: int = 0
    duplicates: int = 0
    exceptions: int = 0
    dead_lettered: int = 0
    last_error: str | None = None
    positions: dict[Partition, int] = field(default_factory=dict)

    def add(self, result: BatchResult) -> None:
        self.batches += 1
        self.read += result.read
        self.rated += result.rated
        self.duplicates += result.duplicates
        self.exceptions += result.exceptions
        self.dead_lettered += result.dead_lettered
        self.positions.update(result.positions)


def consume(
    engine: Engine,
    config: StreamConfig,
    *,
    settings: Settings,
    stop: threading.Event,
    idle_exit: float | None = None,  # float-ok: seconds
    on_batch: Callable[[StreamTotals], None] | None = None,
) -> StreamTotals:
    """Consume as a member of ``config.group`` until ``stop`` is set (or, with
    ``idle_exit``, until it holds partitions and neither a message nor a change of its
    partitions came for that many seconds), then leave the group. The batch under way when
    ``stop`` is set is finished or rolled back first."""
    totals = StreamTotals()
    held: dict[Partition, Claim] = {}
    positions: dict[Partition, int | None] = {}
    references = ReferenceCache()
    dead = kafka.DeadLetters(config)

    idle_since = [time.monotonic()]  # restarted by each message and each assignment

    def on_assign(partitions: list[Partition]) -> dict[Partition, int | None]:
        idle_since[0] = time.monotonic()
        now = datetime.now(UTC)
        with engine.begin() as conn:
            for topic, partition in partitions:
                taken = claim(conn, config.group, topic, partition, now)
                held[(topic, partition)] = taken
                positions[(topic, partition)] = taken.next_offset
        log.info("stream %s: assigned %s", config.group, sorted(partitions))
        return {p: positions[p] for p in partitions}

    def on_revoke(partitions: list[Partition]) -> None:
        idle_since[0] = time.monotonic()
        for p in partitions:
            held.pop(p, None)
            positions.pop(p, None)
        log.info("stream %s: revoked %s", config.group, sorted(partitions))

    client = kafka.consumer(config, on_assign, on_revoke)
    try:
        while not stop.is_set():
            messages = kafka.poll(client, config)
            if not messages:
                quiet = time.monotonic() - idle_since[0]
                if idle_exit is not None and held and quiet >= idle_exit:
                    break
                continue
            idle_since[0] = time.monotonic()
            touched = sorted({(m.topic, m.partition) for m in messages})
            try:
                result = apply_batch(
                    engine,
                    config,
                    held,
                    positions,
                    messages,
                    settings=settings,
                    references=references,
                    dead_letters=dead.send,
                    ends=kafka.high_watermarks(client, touched),
                )
            except LostPartitionError as lost:
                totals.last_error = str(lost)
                log.warning("stream %s: %s; left to their new holder", config.group, lost)
                for p in lost.partitions:
                    held.pop(p, None)
                    positions.pop(p, None)
                _rewind(client, positions, messages)
                continue
            except (RatebookError, DBAPIError, RuntimeError) as error:
                totals.last_error = str(error)
                log.warning("stream %s: batch not applied, retrying: %s", config.group, error)
                _note_error(engine, config.group, touched, totals.last_error)
                _rewind(client, positions, messages)
                time.sleep(1)
                continue
            positions.update(result.positions)
            totals.add(result)
            kafka.commit_async(client, result.positions)
            if on_batch is not None:
                on_batch(totals)
    finally:
        client.close()
    return totals


def _note_error(engine: Engine, group: str, partitions: list[Partition], error: str) -> None:
    """Keep the error with the partitions' positions for status; a store that cannot take
    it now (the usual cause of the error) is left alone."""
    try:
        with engine.begin() as conn:
            record_error(conn, group, partitions, error, datetime.now(UTC))
    except (RatebookError, DBAPIError) as failed:
        log.info("stream %s: error not recorded: %s", group, failed)


def _rewind(
    client: kafka.Consumer, positions: dict[Partition, int | None], messages: list[StreamMessage]
) -> None:
    """After a batch that did not commit, read its held partitions again from their stored
    positions (the client has moved past the batch's messages)."""
    for key in sorted({(m.topic, m.partition) for m in messages}):
        if key in positions:
            kafka.seek(client, key, positions[key])


def keep_consuming(
    engine: Engine, config: StreamConfig, *, settings: Settings, stop: threading.Event
) -> None:
    """``consume`` until ``stop`` is set, starting again (after a pause) when the store or
    the broker fails under it: ``ratebook serve``'s streams."""
    while not stop.is_set():
        try:
            consume(engine, config, settings=settings, stop=stop)
        except (RatebookError, DBAPIError, RuntimeError) as error:
            log.warning("stream %s stopped, starting again in 5 s: %s", config.group, error)
            stop.wait(5)


def start_streams(
    engine: Engine, feeds_file: Path, *, settings: Settings, stop: threading.Event
) -> list[tuple[str, StreamConfig]]:
    """A consumer thread (``keep_consuming``) for each ``kind: kafka`` feed of
    ``feeds_file``, until ``stop`` is set; each feed's name and settings.

    Raises:
        InputError: a feeds file that cannot be read; ConfigError: a stream that cannot work.
    """
    started: list[tuple[str, StreamConfig]] = []
    for feed in load_streams(feeds_file):
        config = feed.stream()
        threading.Thread(
            target=keep_consuming,
            args=(engine, config),
            kwargs={"settings": settings, "stop": stop},
            name=f"stream-{feed.name}",
            daemon=True,
        ).start()
        started.append((feed.name, config))
    return started
