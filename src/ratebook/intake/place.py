"""Placing newly rated records in their customer-cycles, against what the store holds.

``pipeline.tiers`` prices a tiered record at its place in its customer-cycle. A batch of new
records usually comes after everything the cycle holds: each group then starts from the usage
already stored. When a new record comes *before* a stored charge on a tiered row (a late
record), the stored charges from that instant on are placed again with the new records among
them; those whose price changes are re-rated: a new charge supersedes the old one and the
ledger gets a reversal and a new posting, never an update.

A closed cycle is never re-placed: a record arriving after its cycle closed is priced after
everything the cycle held, and its posting goes to the first open cycle as late usage.

What the run adds to each cycle is written to the store's running totals once, by ``save``,
at the end of the run's transaction.

Used by one import (across its chunks, inside its transaction) and by ``rerate``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Connection

from ratebook.billing.post import Routing
from ratebook.model.frames import empty_frame, rows_frame
from ratebook.pipeline.place_each import (
    GroupKey,
    group_of,
    ladders_of,
    moved_places,
    place_group,
)
from ratebook.pipeline.scalar import price_on_ladder
from ratebook.pipeline.tiers import (
    GROUP,
    ORDER,
    apply_tiers,
    on_tiers,
    place,
    price_in_cycle,
    tier_parts,
)
from ratebook.store import billing, cycles
from ratebook.store.cycles import CHARGE_SCHEMA, USAGE_SCHEMA

#: What a booked charge adds to its group's totals (``usage_change``).
_BOOKED = (*GROUP, "billed_quantity", "start_time", "tier")

#: A stored charge's place in its group (``pipeline.place_each.Place`` with its group).
_STORED: dict[str, pl.DataType] = {
    "customer_id": pl.Int64(),
    "period": pl.String(),
    "service": pl.String(),
    "unit": pl.String(),
    "charge_id": pl.Int64(),
    "start_us": pl.Int64(),
    "origin": pl.String(),
    "record_id": pl.String(),
    "billed_quantity": pl.Int64(),
    "rate_row_id": pl.Int64(),
}

#: Up to this many records a batch is placed one record at a time (``pipeline.place_each``),
#: beyond it as frames (an import's deferred charges, a large streamed batch). Each
#: vectorized step costs a fixed fraction of a millisecond, so a small batch's placing is all
#: set-up, and a pushed batch of back-dated records (up to 1,000 events) is placed faster one
#: at a time: a batch of 1,000 random-time events into the bench's month stores in about a
#: fifth less time on SQLite and a quarter less on PostgreSQL. Larger batches go faster as
#: frames: the stream bench's batches of 2,500 events of 200 customers persist at 7,400
#: events/s placed as frames, 5,600 placed one at a time, on either store.
PLACE_EACH_ROWS = 1_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Placed:
    """What placing a batch gave.

    Attributes:
        rated: the new records, priced at their places.
        replaced: earlier charges whose price changed (``CHARGE_SCHEMA``, as they were).
        replacements: their new ratings (``CHARGE_SCHEMA``, ``charge_id`` of the old one).
    """

    rated: pl.DataFrame
    replaced: pl.DataFrame
    replacements: pl.DataFrame

    @classmethod
    def unplaced(cls, rated: pl.DataFrame) -> Placed:
        """``rated`` as priced, re-rating nothing (placed later by the caller)."""
        empty = empty_frame(CHARGE_SCHEMA)
        return cls(rated=rated, replaced=empty, replacements=empty)


def usage_change(added: pl.DataFrame, removed: pl.DataFrame | None = None) -> pl.DataFrame:
    """What booking the charges ``added`` (and superseding ``removed``) does to each group's
    totals (``USAGE_SCHEMA``): billed quantity added less removed, and the latest start of
    the added ones, of all and of those on a tiered row (``tier`` set)."""
    parts = [
        added.select(
            *GROUP,
            pl.col("billed_quantity").alias("used"),
            "start_time",
            pl.col("tier").is_not_null().alias("_tiered"),
        )
    ]
    if removed is not None and not removed.is_empty():
        parts.append(
            removed.select(
                *GROUP,
                (-pl.col("billed_quantity")).alias("used"),
                pl.lit(None, CHARGE_SCHEMA["start_time"]).alias("start_time"),
                pl.lit(False).alias("_tiered"),
            )
        )
    merged: dict[GroupKey, Usage] = {}
    _add(
        merged,
        pl.concat(parts)
        .select(
            *GROUP,
            "used",
            pl.col("start_time").alias("last_start"),
            pl.when("_tiered").then(pl.col("start_time")).alias("last_tiered"),
        )
        .iter_rows(),
    )
    return _as_frame(merged)


#: A group's usage (``USAGE_SCHEMA`` less the group): billed quantity of its current
#: charges, the latest start among them, and the latest start of one on a tiered row.
Usage = tuple[int, datetime | None, datetime | None]


def _later(held: datetime | None, offered: datetime | None) -> datetime | None:
    """The later of two nullable instants."""
    if held is None:
        return offered
    return held if offered is None or offered <= held else offered


def _add(totals: dict[GroupKey, Usage], rows: Iterable[tuple[Any, ...]]) -> None:
    """Add rows of ``USAGE_SCHEMA`` to ``totals``: quantities summed, latest starts kept."""
    for row in rows:
        key: GroupKey = row[:4]
        was = totals.get(key)
        totals[key] = (
            (row[4], row[5], row[6])
            if was is None
            else (was[0] + row[4], _later(was[1], row[5]), _later(was[2], row[6]))
        )


def _usage_rows(
    charges: list[dict[str, Any]],
    *,
    tiered: Callable[[dict[str, Any]], bool] | None = None,
    removed: bool = False,
) -> Iterator[tuple[Any, ...]]:
    """What booking ``charges`` (or, ``removed``, superseding them) adds to their groups'
    totals, a row of ``USAGE_SCHEMA`` each: ``usage_change`` for charges held as
    dictionaries."""
    for c in charges:
        yield (
            *group_of(c),
            -c["billed_quantity"] if removed else c["billed_quantity"],
            None if removed else c["start_time"],
            c["start_time"] if tiered is not None and tiered(c) else None,
        )


def _as_frame(
    totals: dict[GroupKey, Usage], groups: Iterable[GroupKey] | None = None
) -> pl.DataFrame:
    """``totals`` (of ``groups`` among them, or all) as a frame of ``USAGE_SCHEMA``."""
    keys = totals if groups is None else [g for g in groups if g in totals]
    return pl.DataFrame([(*key, *totals[key]) for key in keys], schema=USAGE_SCHEMA, orient="row")


class CycleUsage:
    """The usage of each customer-cycle this run has touched: loaded from the store on first
    touch, then kept up to date as batches are placed."""

    def __init__(
        self,
        conn: Connection,
        *,
        entity_id: int,
        rows: pl.DataFrame,
        closed: Iterable[str] | None = None,
    ) -> None:
        """``closed``: the entity's closed periods as ``conn``'s transaction read them under
        the entity's lock, or None to read them here."""
        self._conn = conn
        self._entity_id = entity_id
        self._rows = rows
        self._held: dict[GroupKey, Usage] = {}
        self._added: dict[GroupKey, Usage] = {}  # not yet in the store's totals
        self._locked: set[int] = set()  # customers whose placing locks this run holds
        self._closed = set(billing.closed_periods(conn, entity_id) if closed is None else closed)

    @property
    def closed(self) -> frozenset[str]:
        """The entity's closed periods."""
        return frozenset(self._closed)

    @property
    def routing(self) -> Routing:
        """Where usage of each period is posted (read under the entity's lock, so no close
        can come between)."""
        return Routing.of(self._closed)

    def place(self, rated: pl.DataFrame) -> Placed:
        """Price ``rated`` (new records with ``origin``) at their places in their cycles.

        The records must not be in the store yet; their charges must be stored before the next
        call, which counts them as held.
        """
        empty = empty_frame(CHARGE_SCHEMA)
        if rated.is_empty():
            return Placed(rated=rated, replaced=empty, replacements=empty)
        if rated.height <= PLACE_EACH_ROWS:
            return self._place_each(rated)
        held = self._load(rated)
        tiered = on_tiers(rated, self._rows)
        firsts = (
            rated.with_columns(tiered.alias("_tiered"))
            .group_by(GROUP)
            .agg(pl.col("start_time").min().alias("since"), pl.col("_tiered").any())
            .join(held, on=list(GROUP), how="left")
        )
        # a group is late where a new record starts at or before a held charge that its
        # place could change: any held charge if a new one is tiered, else a tiered one
        late = firsts.filter(
            (
                (pl.col("_tiered") & (pl.col("since") <= pl.col("last_start")))
                | (pl.col("since") <= pl.col("last_tiered"))
            )
            & ~pl.col("period").is_in(sorted(self._closed))
        ).select(*GROUP, "since")
        flagged = rated.join(
            late.select(*GROUP, pl.lit(True).alias("_late")), on=list(GROUP), how="left"
        ).with_columns(pl.col("_late").fill_null(False))
        on_time = flagged.filter(~pl.col("_late")).drop("_late")
        placed = price_in_cycle(on_time, self._rows, held)
        replaced, replacements = empty, empty
        if not late.is_empty():
            late_new, replaced, replacements = self._place_late(
                flagged.filter(pl.col("_late")).drop("_late"), late
            )
            placed = pl.concat([placed, late_new.select(placed.columns)])
        self._count(rated.with_columns(tiered.alias("_tiered")))
        # what the charges booked from this placing change in the totals: the new records'
        # charges, and the re-ratings' new charges in place of the old
        booked = pl.concat([placed.select(_BOOKED), replacements.select(_BOOKED)])
        _add(self._added, usage_change(booked, replaced).iter_rows())
        return Placed(
            rated=placed.sort("row_idx") if "row_idx" in placed.columns else placed,
            replaced=replaced,
            replacements=replacements,
        )

    def save(self) -> None:
        """Add what the placed records (and the charges they re-rated) changed to the store's
        running totals: once, at the end of the run, after their charges are booked."""
        cycles.add_usage(
            self._conn, self._entity_id, [(*key, *usage) for key, usage in self._added.items()]
        )
        self._added = {}

    def _load(self, rated: pl.DataFrame) -> pl.DataFrame:
        """The usage of ``rated``'s groups (``USAGE_SCHEMA``), read from the store on first
        touch."""
        groups = [tuple(g) for g in rated.select(GROUP).unique().iter_rows()]
        fresh = [g for g in groups if g not in self._held]
        if fresh:
            self.lock({g[0] for g in fresh})
            keys = pl.DataFrame(
                sorted({(g[0], g[1]) for g in fresh}),
                schema={"customer_id": pl.Int64(), "period": pl.String()},
                orient="row",
            )
            found = {
                tuple(row[:4]): (row[4], row[5], row[6])
                for row in cycles.cycle_usage(self._conn, self._entity_id, keys).iter_rows()
            }
            for group in fresh:
                self._held[group] = found.get(group, (0, None, None))
        return _as_frame(self._held, groups)

    def lock(self, customer_ids: set[int]) -> None:
        """Take the placing locks of these customers' cycles (``cycles.placing_locks``),
        those this run does not hold yet: before their usage is first read, or before a run
        places many customers' records in turn, all of them at once."""
        wanted = customer_ids - self._locked
        if wanted:
            cycles.placing_locks(self._conn, self._entity_id, wanted)
            self._locked |= wanted

    def _count(self, rated: pl.DataFrame) -> None:
        added = rated.group_by(GROUP).agg(
            pl.col("billed_quantity").sum().alias("used"),
            pl.col("start_time").max().alias("last_start"),
            pl.col("start_time").filter(pl.col("_tiered")).max().alias("last_tiered"),
        )
        _add(self._held, added.select(list(USAGE_SCHEMA)).iter_rows())

    def _place_each(self, rated: pl.DataFrame) -> Placed:
        """``place`` for a small batch, one record at a time: the same frames, in the same
        order, from a few frame steps rather than dozens."""
        records = rated.to_dicts()
        usage = self._usage_of({group_of(r) for r in records})
        ladders = ladders_of(self._rows, [r["rate_row_id"] for r in records])
        groups: dict[GroupKey, list[dict[str, Any]]] = {}
        for record in records:
            groups.setdefault(group_of(record), []).append(record)
        late: dict[GroupKey, datetime] = {}
        for key, members in groups.items():
            used, last_start, last_tiered = usage[key]
            since = min(r["start_time"] for r in members)
            tiered = any(r["rate_row_id"] in ladders for r in members)
            # as ``place``: late where a new record starts at or before a held charge that
            # its place could change
            if key[1] not in self._closed and (
                (tiered and last_start is not None and since <= last_start)
                or (last_tiered is not None and since <= last_tiered)
            ):
                late[key] = since
            else:
                place_group(members, used, ladders)
        replaced: list[dict[str, Any]] = []
        replacements: list[dict[str, Any]] = []
        if late:
            tails = cycles.places_since(self._conn, self._entity_id, late)
            ladders |= ladders_of(self._rows, [p.rate_row_id for t in tails.values() for p in t])
            moved: dict[int, int] = {}
            for key in late:
                tail = tails.get(key, [])
                before = usage[key][0] - sum(p.billed_quantity for p in tail)
                moved |= moved_places(groups[key], tail, before, ladders)
            ids = sorted(moved)
            names = list(CHARGE_SCHEMA)
            for row in cycles.charge_rows(self._conn, ids):
                was = dict(zip(names, row, strict=True))
                now = dict(was)
                price_on_ladder(now, moved[was["charge_id"]], ladders[was["rate_row_id"]])
                replaced.append(was)
                replacements.append(now)
        _add(self._held, _usage_rows(records, tiered=lambda r: r["rate_row_id"] in ladders))
        # what the booked charges change in the totals: the new records' charges, and the
        # re-ratings' new charges in place of the old
        _add(
            self._added,
            _usage_rows([*records, *replacements], tiered=lambda r: r["tier"] is not None),
        )
        _add(self._added, _usage_rows(replaced, removed=True))
        placed = [r for r in records if group_of(r) not in late]
        placed += [r for r in records if group_of(r) in late]
        if "row_idx" in rated.columns:
            placed.sort(key=lambda r: r["row_idx"])
        return Placed(
            rated=pl.DataFrame(placed, schema=rated.schema),
            replaced=rows_frame(replaced, CHARGE_SCHEMA),
            replacements=rows_frame(replacements, CHARGE_SCHEMA),
        )

    def _usage_of(
        self, groups: set[GroupKey]
    ) -> dict[GroupKey, tuple[int, datetime | None, datetime | None]]:
        """``_load`` for a few groups, as ``(used, last_start, last_tiered)`` by group."""
        usage = {group: self._held[group] for group in groups if group in self._held}
        missing = groups - usage.keys()
        if missing:
            self.lock({g[0] for g in missing})
            found = cycles.usage_of(self._conn, self._entity_id, missing)
            self._held |= found
            usage |= found
        return usage

    def _place_late(
        self, new: pl.DataFrame, late: pl.DataFrame
    ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """Place the new records of late groups among their stored charges from each group's
        first new instant on (``late``: ``GROUP`` and ``since``); the stored charges are read
        as their places alone (``place_each.Place``), and in full only where their tiers
        change."""
        since = {tuple(row[:-1]): row[-1] for row in late.select(*GROUP, "since").iter_rows()}
        tails = cycles.places_since(self._conn, self._entity_id, since)
        stored = pl.DataFrame(
            [(*group, *place) for group, places in tails.items() for place in places],
            schema=_STORED,
            orient="row",
        ).with_columns(
            pl.from_epoch("start_us", time_unit="us")
            .dt.replace_time_zone("UTC")
            .alias("start_time")
        )
        held = _as_frame(self._held, [tuple(g) for g in late.select(GROUP).iter_rows()])
        before = held.join(
            stored.group_by(GROUP).agg(pl.col("billed_quantity").sum().alias("_tail")),
            on=list(GROUP),
            how="left",
        ).select(*GROUP, (pl.col("used") - pl.col("_tail").fill_null(0)).alias("used"))
        placing = [*GROUP, *ORDER, "billed_quantity", "rate_row_id"]
        together = place(
            pl.concat(
                [
                    new.select(placing).with_columns(
                        pl.lit(None, pl.Int64).alias("charge_id"),
                        pl.int_range(pl.len()).alias("_n"),
                    ),
                    stored.select(*placing, "charge_id").with_columns(
                        pl.lit(None, pl.Int64).alias("_n")
                    ),
                ],
                how="diagonal",
            ),
            before,
        )
        # the new records, priced at their places (a place kept only where it priced)
        places = together.filter(pl.col("charge_id").is_null()).select("_n", "usage_before")
        new_placed = apply_tiers(
            new.with_columns(pl.int_range(pl.len()).alias("_n"))
            .drop("usage_before", strict=False)
            .join(places, on="_n", how="left", maintain_order="left")
            .drop("_n"),
            self._rows,
        )
        new_placed = new_placed.with_columns(
            pl.when(pl.col("tier").is_not_null()).then(pl.col("usage_before")).alias("usage_before")
        ).select(new.columns)
        # the stored charges whose tiers their new places change
        now = together.filter(pl.col("charge_id").is_not_null()).select(
            "charge_id", pl.col("usage_before").alias("_now")
        )
        moved = (
            place(stored, before)
            .join(now, on="charge_id", how="inner")
            .filter(pl.col("usage_before") != pl.col("_now"))
        )
        moved = moved.filter(
            tier_parts(moved, self._rows).ne_missing(
                tier_parts(moved.with_columns(pl.col("_now").alias("usage_before")), self._rows)
            )
        ).sort("charge_id")
        replaced = cycles.charges_by_id(self._conn, moved["charge_id"].to_list())
        replacements = apply_tiers(
            replaced.drop("usage_before")
            .join(
                moved.select("charge_id", pl.col("_now").alias("usage_before")),
                on="charge_id",
                how="left",
                maintain_order="left",
            )
            .select(list(CHARGE_SCHEMA)),
            self._rows,
        )
        return new_placed, replaced, replacements
