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

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Connection

from ratebook.billing.post import Routing
from ratebook.pipeline.place_each import (
    REPRICED,
    GroupKey,
    group_of,
    ladders_of,
    place_group,
    replace_tail,
)
from ratebook.pipeline.tiers import GROUP, on_tiers, price_in_cycle
from ratebook.store import billing, cycles
from ratebook.store.cycles import CHARGE_SCHEMA, USAGE_SCHEMA

#: What a booked charge adds to its group's totals (``usage_change``).
_BOOKED = (*GROUP, "billed_quantity", "start_time", "tier")

#: Up to this many records a batch is placed one record at a time (``pipeline.place_each``),
#: beyond it as frames: each vectorized step costs a fixed fraction of a millisecond, so a
#: small batch's placing is all set-up.
PLACE_EACH_ROWS = 500

#: What placing a record sets.
_PLACED = ("charge", "unit_price", "usage_before", "tier", "tier_split")


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
        empty = pl.DataFrame(schema=CHARGE_SCHEMA)
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
    return _merged(
        pl.concat(parts).select(
            *GROUP,
            "used",
            pl.col("start_time").alias("last_start"),
            pl.when("_tiered").then(pl.col("start_time")).alias("last_tiered"),
        )
    ).cast(pl.Schema(USAGE_SCHEMA))


def _usage_rows(
    charges: list[dict[str, Any]],
    *,
    tiered: Callable[[dict[str, Any]], bool] | None = None,
    removed: bool = False,
) -> pl.DataFrame:
    """What booking ``charges`` (or, ``removed``, superseding them) adds to their groups'
    totals, a row each (``USAGE_SCHEMA``): ``usage_change`` for charges held as dictionaries."""
    return pl.DataFrame(
        [
            (
                *group_of(c),
                -c["billed_quantity"] if removed else c["billed_quantity"],
                None if removed else c["start_time"],
                c["start_time"] if tiered is not None and tiered(c) else None,
            )
            for c in charges
        ],
        schema=USAGE_SCHEMA,
        orient="row",
    )


def _merged(totals: pl.DataFrame) -> pl.DataFrame:
    """One row per group: quantities summed, latest starts kept."""
    return (
        totals.group_by(GROUP, maintain_order=True)
        .agg(pl.col("used").sum(), pl.col("last_start").max(), pl.col("last_tiered").max())
        .select(list(USAGE_SCHEMA))
    )


class CycleUsage:
    """The usage of each customer-cycle this run has touched: loaded from the store on first
    touch, then kept up to date as batches are placed."""

    def __init__(self, conn: Connection, *, entity_id: int, rows: pl.DataFrame) -> None:
        self._conn = conn
        self._entity_id = entity_id
        self._rows = rows
        self._held = pl.DataFrame(schema=USAGE_SCHEMA)
        self._added = pl.DataFrame(schema=USAGE_SCHEMA)  # not yet in the store's totals
        self._closed = billing.closed_periods(conn, entity_id)

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
        empty = pl.DataFrame(schema=CHARGE_SCHEMA)
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
        self._added = _merged(pl.concat([self._added, usage_change(booked, replaced)]))
        return Placed(
            rated=placed.sort("row_idx") if "row_idx" in placed.columns else placed,
            replaced=replaced,
            replacements=replacements,
        )

    def save(self) -> None:
        """Add what the placed records (and the charges they re-rated) changed to the store's
        running totals: once, at the end of the run, after their charges are booked."""
        cycles.add_usage(self._conn, self._entity_id, self._added)
        self._added = self._added.clear()

    def _load(self, rated: pl.DataFrame) -> pl.DataFrame:
        fresh = rated.select(GROUP).unique().join(self._held, on=list(GROUP), how="anti")
        if not fresh.is_empty():
            keys = fresh.select("customer_id", "period").unique()
            found = cycles.cycle_usage(self._conn, self._entity_id, keys)
            fresh = (
                fresh.join(found, on=list(GROUP), how="left")
                .with_columns(pl.col("used").fill_null(0))
                .select(list(USAGE_SCHEMA))
            )
            self._held = pl.concat([self._held, fresh])
        return self._held

    def _count(self, rated: pl.DataFrame) -> None:
        added = rated.group_by(GROUP).agg(
            pl.col("billed_quantity").sum().alias("used"),
            pl.col("start_time").max().alias("last_start"),
            pl.col("start_time").filter(pl.col("_tiered")).max().alias("last_tiered"),
        )
        self._held = _merged(pl.concat([self._held, added.select(list(USAGE_SCHEMA))]))

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
            tails = cycles.tails_since(self._conn, self._entity_id, late)
            ladders |= ladders_of(self._rows, [c["rate_row_id"] for t in tails.values() for c in t])
            for key in late:
                tail = tails.get(key, [])
                before = usage[key][0] - sum(c["billed_quantity"] for c in tail)
                for was, now in replace_tail(groups[key], tail, before, ladders):
                    replaced.append(was)
                    replacements.append(now)
        self._held = _merged(
            pl.concat(
                [self._held, _usage_rows(records, tiered=lambda r: r["rate_row_id"] in ladders)]
            )
        )
        # what the booked charges change in the totals: the new records' charges, and the
        # re-ratings' new charges in place of the old
        self._added = _merged(
            pl.concat(
                [
                    self._added,
                    _usage_rows([*records, *replacements], tiered=lambda r: r["tier"] is not None),
                    _usage_rows(replaced, removed=True),
                ]
            )
        )
        placed = [r for r in records if group_of(r) not in late]
        placed += [r for r in records if group_of(r) in late]
        if "row_idx" in rated.columns:
            placed.sort(key=lambda r: r["row_idx"])
        return Placed(
            rated=pl.DataFrame(placed, schema=rated.schema),
            replaced=pl.DataFrame(replaced, schema=CHARGE_SCHEMA),
            replacements=pl.DataFrame(replacements, schema=CHARGE_SCHEMA),
        )

    def _usage_of(
        self, groups: set[GroupKey]
    ) -> dict[GroupKey, tuple[int, datetime | None, datetime | None]]:
        """``_load`` for a few groups, as ``(used, last_start, last_tiered)`` by group."""
        usage: dict[GroupKey, tuple[int, datetime | None, datetime | None]] = {}
        if not self._held.is_empty():
            customers = sorted({group[0] for group in groups})
            for row in (
                self._held.filter(pl.col("customer_id").is_in(customers))
                .select(list(USAGE_SCHEMA))
                .iter_rows()
            ):
                if row[: len(GROUP)] in groups:
                    usage[row[: len(GROUP)]] = row[len(GROUP) :]
        missing = groups - usage.keys()
        if missing:
            found = cycles.usage_of(self._conn, self._entity_id, missing)
            self._held = pl.concat(
                [
                    self._held,
                    pl.DataFrame(
                        [(*group, *held) for group, held in found.items()],
                        schema=USAGE_SCHEMA,
                        orient="row",
                    ),
                ]
            )
            usage |= found
        return usage

    def _place_late(
        self, new: pl.DataFrame, late: pl.DataFrame
    ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        stored = cycles.charges_since(self._conn, self._entity_id, late)
        held = self._held.join(late, on=list(GROUP), how="semi")
        before = held.join(
            stored.group_by(GROUP).agg(pl.col("billed_quantity").sum().alias("_tail")),
            on=list(GROUP),
            how="left",
        ).select(*GROUP, (pl.col("used") - pl.col("_tail").fill_null(0)).alias("used"))
        columns = [c for c in CHARGE_SCHEMA if c in new.columns]
        together = pl.concat(
            [
                new.select(columns).with_columns(
                    pl.lit(None, pl.Int64).alias("charge_id"), pl.int_range(pl.len()).alias("_n")
                ),
                stored.with_columns(pl.lit(None, pl.Int64).alias("_n")),
            ],
            how="diagonal",
        )
        placed = price_in_cycle(together, self._rows, before)
        fresh = placed.filter(pl.col("charge_id").is_null()).sort("_n")
        again = placed.filter(pl.col("charge_id").is_not_null()).select(list(CHARGE_SCHEMA))
        was = stored.select(list(CHARGE_SCHEMA))
        changed = again.join(
            was.select("charge_id", *_PLACED), on="charge_id", how="inner", suffix="_was"
        ).filter(pl.any_horizontal(pl.col(c).ne_missing(pl.col(f"{c}_was")) for c in REPRICED))
        replacements = changed.select(list(CHARGE_SCHEMA))
        replaced = was.join(replacements.select("charge_id"), on="charge_id", how="semi")
        # the new records keep every column they came with, now placed
        new_placed = (
            new.drop(*(c for c in _PLACED if c in new.columns))
            .with_columns(pl.int_range(pl.len()).alias("_n"))
            .join(fresh.select("_n", *_PLACED), on="_n", how="left")
            .drop("_n")
        )
        return new_placed.select(new.columns), replaced, replacements
