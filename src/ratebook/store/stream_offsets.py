"""The stream positions a consumer group has applied (``stream_offsets``): claimed when a
partition is assigned, advanced by compare-and-set in the transaction that stores the events
before the new position."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from ratebook.store.tables import stream_offsets


@dataclass(frozen=True, slots=True)
class Claim:
    """A member's hold on one partition: where to start, and the epoch it commits under."""

    topic: str
    partition: int
    next_offset: int | None  # None: nothing applied yet (start at the earliest offset)
    epoch: int


def claim(conn: Connection, group: str, topic: str, partition: int, now: datetime) -> Claim:
    """Take ``partition`` for this member: its stored position, under a new epoch, so that
    any earlier holder's commit is refused from now on."""
    c = stream_offsets.c
    key = (c.group_id == group, c.topic == topic, c.partition == partition)
    bumped = conn.execute(
        update(stream_offsets).where(*key).values(epoch=c.epoch + 1, updated_at=now)
    )
    if bumped.rowcount == 0:
        conn.execute(
            insert(stream_offsets).values(
                group_id=group,
                topic=topic,
                partition=partition,
                next_offset=-1,
                epoch=1,
                updated_at=now,
            )
        )
    row = conn.execute(select(c.next_offset, c.epoch).where(*key)).one()
    offset = int(row.next_offset)
    return Claim(topic, partition, None if offset < 0 else offset, int(row.epoch))


def advance(
    conn: Connection,
    group: str,
    held: Claim,
    expected: int | None,
    next_offset: int,
    now: datetime,
    *,
    lag: int | None = None,
    batch_messages: int | None = None,
    batch_ms: int | None = None,
) -> bool:
    """Move the partition's position from ``expected`` to ``next_offset`` if this member
    still holds it (its epoch is the latest) and nobody moved it meanwhile, with the lag and
    batch time seen. False otherwise: the caller's transaction must then be rolled back."""
    c = stream_offsets.c
    done = conn.execute(
        update(stream_offsets)
        .where(
            c.group_id == group,
            c.topic == held.topic,
            c.partition == held.partition,
            c.epoch == held.epoch,
            c.next_offset == (-1 if expected is None else expected),
        )
        .values(
            next_offset=next_offset,
            updated_at=now,
            lag=lag,
            batch_messages=batch_messages,
            batch_ms=batch_ms,
            last_error=None,
        )
    )
    return done.rowcount == 1


def record_error(
    conn: Connection, group: str, partitions: list[tuple[str, int]], error: str, now: datetime
) -> None:
    """Note the error that stopped a batch of ``partitions`` (their positions stay)."""
    c = stream_offsets.c
    for topic, partition in partitions:
        conn.execute(
            update(stream_offsets)
            .where(c.group_id == group, c.topic == topic, c.partition == partition)
            .values(last_error=error[:2000], updated_at=now)
        )


def stored_positions(conn: Connection, group: str | None = None) -> list[dict[str, object]]:
    """Every stored position (of one group), for status and lag; ``next_offset`` is None
    for a partition nothing was applied from yet, and ``events_per_second`` is the last
    batch's messages of the partition over its time in the store."""
    c = stream_offsets.c
    query = select(
        c.group_id,
        c.topic,
        c.partition,
        c.next_offset,
        c.epoch,
        c.updated_at,
        c.lag,
        c.batch_messages,
        c.batch_ms,
        c.last_error,
    )
    if group is not None:
        query = query.where(c.group_id == group)
    rows = conn.execute(query.order_by(c.group_id, c.topic, c.partition)).mappings().all()
    # -1 is stored for a partition claimed but never applied: nothing, not an offset
    return [
        {
            **r,
            "next_offset": None if r["next_offset"] < 0 else r["next_offset"],
            "events_per_second": round(r["batch_messages"] * 1000 / r["batch_ms"])
            if r["batch_messages"] and r["batch_ms"]
            else None,
        }
        for r in rows
    ]
