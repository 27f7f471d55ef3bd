"""What an entity's operators look at first: usage and revenue by quarter hour, the periods
that hold usage, and each feed's last run."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Connection, Integer, cast, func, select
from sqlalchemy.sql.elements import ColumnElement

from ratebook.store.tables import (
    feed_runs,
    import_batches,
    rated_charges,
    usage_records,
    usage_totals,
)

#: Seconds in a bucket: a quarter hour divides every zone's offset from UTC, so each bucket
#: falls inside one local day.
BUCKET_SECONDS = 900


def _bucket(conn: Connection) -> ColumnElement[Any]:
    start = usage_records.c.start_time
    if conn.dialect.name == "postgresql":
        epoch: ColumnElement[Any] = cast(func.extract("epoch", start), BigInteger)
    else:
        epoch = cast(func.strftime("%s", start), Integer)
    return (epoch // BUCKET_SECONDS).label("bucket")


def charged_buckets(
    conn: Connection, entity_id: int, period: str, *, customer_id: int | None = None
) -> list[tuple[int, int, int]]:
    """The cycle's live charges by quarter hour of their records' start: (bucket, records,
    charge at AMOUNT_SCALE); a bucket is the start's Unix time divided by ``BUCKET_SECONDS``."""
    c, r = rated_charges.c, usage_records.c
    bucket = _bucket(conn)
    statement = (
        select(bucket, func.count(), func.coalesce(func.sum(c.charge), 0))
        .select_from(rated_charges.join(usage_records, r.id == c.record_pk))
        .where(c.entity_id == entity_id, c.period == period, c.superseded_by.is_(None))
        .group_by(bucket)
    )
    if customer_id is not None:
        statement = statement.where(c.customer_id == customer_id)
    return [(int(b), int(n), int(amount)) for b, n, amount in conn.execute(statement)]


def periods_with_usage(conn: Connection, entity_id: int) -> list[str]:
    """The billing periods that hold usage, latest first."""
    t = usage_totals.c
    rows = conn.execute(
        select(t.period).where(t.entity_id == entity_id).distinct().order_by(t.period.desc())
    )
    return [str(p) for (p,) in rows]


def usage_of_period(conn: Connection, entity_id: int, period: str) -> list[dict[str, Any]]:
    """The cycle's usage per service and unit, summed over its customers (base units,
    QUANTITY_SCALE)."""
    t = usage_totals.c
    rows = conn.execute(
        select(t.service, t.unit, func.sum(t.used).label("used"))
        .where(t.entity_id == entity_id, t.period == period)
        .group_by(t.service, t.unit)
        .order_by(t.service, t.unit)
    )
    return [dict(row._mapping) for row in rows]


def last_feed_runs(conn: Connection, entity_id: int) -> list[dict[str, Any]]:
    """Each feed's latest run: feed, started, finished, status, files seen and imported,
    error."""
    c = feed_runs.c
    latest = (
        select(c.feed, func.max(c.id).label("id"))
        .where(c.entity_id == entity_id)
        .group_by(c.feed)
        .subquery()
    )
    rows = conn.execute(
        select(
            c.feed,
            c.started_at,
            c.finished_at,
            c.status,
            c.files_seen,
            c.files_imported,
            c.error,
        )
        .join(latest, latest.c.id == c.id)
        .order_by(c.feed)
    )
    return [dict(row._mapping) for row in rows]


def latest_batch(conn: Connection, entity_id: int) -> int:
    """The entity's newest batch id (0 for none): every change of its charges is made by a
    batch (an import, a re-rating, a review, a close), so the charges are as they were while
    it stays the same."""
    b = import_batches.c
    found = conn.execute(select(func.max(b.id)).where(b.entity_id == entity_id)).scalar()
    return int(found or 0)
