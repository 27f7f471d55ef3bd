"""An entity's activity as its operators look at it first: the cycle's usage and revenue so
far, day by day, with its exceptions, disputes, imports, feeds and streams."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from ratebook.errors import NotFoundError
from ratebook.model.ledger import Period
from ratebook.model.parties import Entity
from ratebook.store import activity, disputes, parties, review
from ratebook.store.engine import reading
from ratebook.store.entities import get_entity
from ratebook.store.stream_offsets import stored_positions

#: Imports shown on the overview.
LAST_IMPORTS = 8


@dataclass(frozen=True, slots=True)
class Day:
    """One local day of a cycle: its records with a live charge, and their charges
    (AMOUNT_SCALE)."""

    day: date
    records: int
    charge: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Overview:
    """What an entity's overview page shows.

    Attributes:
        entity: the entity.
        period: the cycle shown.
        periods: the cycles that hold usage, latest first.
        days: every day of the cycle, in the entity's zone.
        usage: the cycle's billed quantity per service and unit (QUANTITY_SCALE).
        exceptions: pending exceptions by code (a count over the ``counted`` asked for is
            ``counted + 1``).
        open_disputes: disputes not resolved yet.
        imports: the last imports with their row identity.
        feeds: each feed's last run.
        streams: every stream consumer group's partitions.
    """

    entity: Entity
    period: str
    periods: list[str]
    days: list[Day]
    usage: list[dict[str, Any]]
    exceptions: dict[str, int]
    open_disputes: list[dict[str, Any]]
    imports: list[dict[str, Any]]
    feeds: list[dict[str, Any]]
    streams: list[dict[str, Any]] = field(default_factory=list)

    @property
    def revenue(self) -> int:
        """The cycle's live charges so far (AMOUNT_SCALE)."""
        return sum(d.charge for d in self.days)

    @property
    def records(self) -> int:
        """The cycle's records with a live charge."""
        return sum(d.records for d in self.days)


class BucketCache:
    """The entity-wide charged buckets of each cycle, kept while the entity's newest batch
    stays the same (``store.activity.latest_batch``): reading them joins every charge of the
    cycle to its record, a second or more for a busy month, so an overview viewed again
    between imports reads one row instead."""

    def __init__(self, *, kept: int = 64) -> None:
        self._kept = kept
        self._buckets: dict[tuple[int, str], tuple[int, list[tuple[int, int, int]]]] = {}
        self._lock = threading.Lock()

    def buckets(self, conn: Connection, entity_id: int, period: str) -> list[tuple[int, int, int]]:
        """``store.activity.charged_buckets`` of the entity's cycle, from the cache when no
        batch was written since."""
        stamp = activity.latest_batch(conn, entity_id)
        with self._lock:
            kept = self._buckets.get((entity_id, period))
        if kept is not None and kept[0] == stamp:
            return kept[1]
        found = activity.charged_buckets(conn, entity_id, period)
        with self._lock:
            if len(self._buckets) >= self._kept:
                self._buckets.clear()
            self._buckets[(entity_id, period)] = (stamp, found)
        return found


def default_period(periods: list[str], entity: Entity, now: datetime) -> str:
    """The cycle ``now`` falls in when it holds usage, else the latest that does, else
    ``now``'s."""
    current = now.astimezone(entity.zone).strftime("%Y-%m")
    return current if current in periods or not periods else periods[0]


def _days(entity: Entity, period: str, buckets: list[tuple[int, int, int]]) -> list[Day]:
    start, end = Period.parse(period).bounds(entity.timezone)
    first = start.astimezone(entity.zone).date()
    last = (end - timedelta(seconds=1)).astimezone(entity.zone).date()
    records: Counter[date] = Counter()
    charges: Counter[date] = Counter()
    for bucket, n, amount in buckets:
        local = datetime.fromtimestamp(bucket * activity.BUCKET_SECONDS, UTC).astimezone(
            entity.zone
        )
        records[local.date()] += n
        charges[local.date()] += amount
    days = []
    day = first
    while day <= last:
        days.append(Day(day, records[day], charges[day]))
        day += timedelta(days=1)
    return days


def daily(
    engine: Engine, period: str, *, entity_code: str | None = None, account: str | None = None
) -> tuple[Entity, list[Day]]:
    """The cycle's records and charges per local day, for the entity or one customer.

    Raises:
        InputError: ``BAD_PERIOD``.
        NotFoundError: ``CUSTOMER_NOT_FOUND``.
    """
    Period.parse(period)
    with reading(engine).connect() as conn:
        entity = get_entity(conn, entity_code)
        customer_id = None
        if account is not None:
            customer = parties.customer_by_account(conn, entity.id, account)
            if customer is None:
                raise NotFoundError("CUSTOMER_NOT_FOUND", f"no customer {account!r}")
            customer_id = customer[0]
        buckets = activity.charged_buckets(conn, entity.id, period, customer_id=customer_id)
    return entity, _days(entity, period, buckets)


def overview(
    engine: Engine,
    *,
    entity_code: str | None = None,
    period: str | None = None,
    now: datetime | None = None,
    cache: BucketCache | None = None,
    counted: int | None = None,
) -> Overview:
    """The entity's overview of ``period`` (default: see ``default_period``), its daily
    figures kept in ``cache`` between changes when one is given, and each code's pending
    exceptions counted up to ``counted + 1`` when it is given (see ``pending_by_code``).

    Raises:
        InputError: ``BAD_PERIOD``.
    """
    if period is not None:
        Period.parse(period)
    with reading(engine).connect() as conn:
        entity = get_entity(conn, entity_code)
        periods = activity.periods_with_usage(conn, entity.id)
        shown = period or default_period(periods, entity, now or datetime.now(UTC))
        buckets = (
            cache.buckets(conn, entity.id, shown)
            if cache
            else activity.charged_buckets(conn, entity.id, shown)
        )
        found = Overview(
            entity=entity,
            period=shown,
            periods=periods,
            days=_days(entity, shown, buckets),
            usage=activity.usage_of_period(conn, entity.id, shown),
            exceptions=review.pending_by_code(conn, entity.id, cap=counted),
            open_disputes=[d for d in disputes.find(conn, entity.id) if d["status"] != "resolved"],
            imports=review.row_identity(conn, entity.id, last=LAST_IMPORTS)[::-1],
            feeds=activity.last_feed_runs(conn, entity.id),
            streams=stored_positions(conn),
        )
    for row in found.imports:
        row["ok"] = row["read"] == (
            row["rated"] + row["duplicates"] + row["pending"] + row["written_off"]
        )
    return found


def periods_with_usage(engine: Engine, *, entity_code: str | None = None) -> list[str]:
    """The cycles that hold usage, latest first."""
    with reading(engine).connect() as conn:
        entity = get_entity(conn, entity_code)
        return activity.periods_with_usage(conn, entity.id)
