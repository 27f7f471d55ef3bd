"""Placing a few records in their customer-cycles one at a time: ``tiers.price_in_cycle`` for
records held as dictionaries, the path a small batch takes (``intake.place.CycleUsage``), where
the vectorized placing spends its time setting up plans rather than placing.

The rules are the vectorized ones: within a group (``tiers.GROUP``) records stand in
``tiers.ORDER``; a record on a tiered row is priced on its ladder after the group's billed
quantity ahead of it; a record on a flat row is left as it is. Re-placing a group's stored
charges after a back-dated record re-rates only those whose amount or tier split changes, and
reads of the others only their places. A differential property test holds this path and the
vectorized one to the same ledger.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import polars as pl

from ratebook.pipeline.compiled import Ladder, ladder_of
from ratebook.pipeline.scalar import price_on_ladder, same_parts
from ratebook.pipeline.tiers import GROUP, ORDER

#: A customer-cycle's key: ``GROUP``'s values.
GroupKey = tuple[Any, ...]


class Place(NamedTuple):
    """What placing reads of a stored charge: its id, its place in its group's order (the
    start as whole microseconds since 1970, then origin and id) and what it adds to the usage
    after it."""

    charge_id: int
    start_us: int
    origin: str
    record_id: str
    billed_quantity: int
    rate_row_id: int | None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def start_us(start: datetime) -> int:
    """An aware instant as whole microseconds since 1970 (``Place.start_us``)."""
    return (start - _EPOCH) // _MICROSECOND


def group_of(record: dict[str, Any]) -> GroupKey:
    """The customer-cycle a record or charge counts in."""
    return tuple(record[c] for c in GROUP)


class _KnownLadders:
    """The ladders of the latest rate rows by rate row id, decoded all at once the first time
    those rows are asked about: the reference data a process keeps between requests hands out
    the same frame until it changes, and its rows share a handful of ladders, so each distinct
    ladder is decoded once per reference load, not once per transaction."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: pl.DataFrame | None = None
        self._known: dict[int, Ladder] = {}

    def of(self, rows: pl.DataFrame, wanted: set[int]) -> dict[int, Ladder]:
        with self._lock:
            if self._rows is not rows:
                self._rows, self._known = rows, _decoded(rows)
            known = self._known
        return {i: ladder for i in wanted if (ladder := known.get(i)) is not None}


def _decoded(rows: pl.DataFrame) -> dict[int, Ladder]:
    """Every tiered row's ladder by rate row id."""
    shared: dict[tuple[Any, ...], Ladder | None] = {}
    found: dict[int, Ladder] = {}
    for rate_row_id, kind, tiers, minimum, max_cost in (
        rows.filter(pl.col("tier_kind").is_not_null())
        .select("rate_row_id", "tier_kind", "tiers", "minimum_charge", "max_cost")
        .iter_rows()
    ):
        key = (kind, tiers, minimum, max_cost)
        if key not in shared:
            shared[key] = ladder_of(kind, tiers, minimum, max_cost)
        ladder = shared[key]
        if ladder is not None:
            found[rate_row_id] = ladder
    return found


_known_ladders = _KnownLadders()


def ladders_of(rows: pl.DataFrame, rate_row_ids: Iterable[int | None]) -> dict[int, Ladder]:
    """The ladders of the tiered rows among ``rate_row_ids`` (rows: ``ROW_SCHEMA``)."""
    wanted = {i for i in rate_row_ids if i is not None}
    return _known_ladders.of(rows, wanted) if wanted else {}


def place_group(records: list[dict[str, Any]], used: int, ladders: dict[int, Ladder]) -> None:
    """Price the records of one group that are on tiered rows at their places: in ``ORDER``,
    after ``used`` (what the group held before them) and the records ahead of each."""
    for record in sorted(records, key=lambda r: tuple(r[c] for c in ORDER)):
        ladder = ladders.get(record["rate_row_id"])
        if ladder is not None:
            price_on_ladder(record, used, ladder)
        used += record["billed_quantity"]


def moved_places(
    new: list[dict[str, Any]],
    stored: list[Place],
    before: int,
    ladders: dict[int, Ladder],
) -> dict[int, int]:
    """Place a late group's ``new`` records among its ``stored`` charges from their first
    instant on, after ``before`` (what the group holds ahead of them all).

    The new records are priced in place. Each stored charge stands priced at its place before
    the new records came. Returns the new place (``usage_before``) of each stored charge whose
    tiers that place changes, by charge id: the ones to re-rate. A charge moved along its tier
    keeps its price."""
    was: dict[int, int] = {}
    used = before
    for charge in sorted(stored, key=lambda p: (p.start_us, p.origin, p.record_id)):
        was[charge.charge_id] = used
        used += charge.billed_quantity
    placing: list[tuple[tuple[int, str, str], dict[str, Any] | Place]] = [
        ((start_us(r["start_time"]), r["origin"], r["record_id"]), r) for r in new
    ]
    placing += [((p.start_us, p.origin, p.record_id), p) for p in stored]
    placing.sort(key=lambda item: item[0])
    moved: dict[int, int] = {}
    used = before
    for _, item in placing:
        if isinstance(item, Place):
            ladder = ladders.get(item.rate_row_id) if item.rate_row_id is not None else None
            if ladder is not None and not same_parts(
                ladder, was[item.charge_id], used, item.billed_quantity
            ):
                moved[item.charge_id] = used
            used += item.billed_quantity
        else:
            ladder = ladders.get(item["rate_row_id"])
            if ladder is not None:
                price_on_ladder(item, used, ladder)
            used += item["billed_quantity"]
    return moved
