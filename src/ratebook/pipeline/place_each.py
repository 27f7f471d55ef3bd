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
from typing import Any

import polars as pl

from ratebook.pipeline.compiled import Ladder, ladder_of
from ratebook.pipeline.scalar import ladder_parts, price_on_ladder
from ratebook.pipeline.tiers import GROUP, ORDER

#: A customer-cycle's key: ``GROUP``'s values.
GroupKey = tuple[Any, ...]


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
    stored: list[dict[str, Any]],
    before: int,
    ladders: dict[int, Ladder],
) -> dict[int, int]:
    """Place a late group's ``new`` records among its ``stored`` charges from their first
    instant on, after ``before`` (what the group holds ahead of them all).

    The new records are priced in place. ``stored`` holds what placing needs of each charge
    (``charge_id``, ``ORDER``, ``billed_quantity``, ``rate_row_id``: ``store.cycles``'s
    ``PLACE_SCHEMA``); each stands priced at its place before the new records came. Returns
    the new place (``usage_before``) of each stored charge whose tiers that place changes,
    by charge id: the ones to re-rate. A charge moved along its tier keeps its price."""
    order = [*ORDER]
    was: dict[int, int] = {}
    used = before
    for charge in sorted(stored, key=lambda r: tuple(r[c] for c in order)):
        was[charge["charge_id"]] = used
        used += charge["billed_quantity"]
    known = {id(charge) for charge in stored}
    moved: dict[int, int] = {}
    used = before
    for item in sorted([*new, *stored], key=lambda r: tuple(r[c] for c in order)):
        ladder = ladders.get(item["rate_row_id"])
        if ladder is not None:
            if id(item) not in known:
                price_on_ladder(item, used, ladder)
            elif ladder_parts(ladder, used, item["billed_quantity"]) != ladder_parts(
                ladder, was[item["charge_id"]], item["billed_quantity"]
            ):
                moved[item["charge_id"]] = used
        used += item["billed_quantity"]
    return moved
