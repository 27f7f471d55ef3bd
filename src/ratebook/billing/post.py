"""Posting rated usage to the ledger: where each period's usage goes, the tally of a run's
charges into postings, and the reversal and re-post of re-rated charges. Pure.

Usage of an open period is posted to that period. Usage of a closed period (a late record)
goes to the first open period, as ``late_usage`` naming the period it came from: cycles close
in order, so the first open one is the one after the last closed. A run tallies its charges
per customer, period and unit and posts each sum once, at its end.

A run also keeps what it did to each customer-cycle's current charges (``ChargeMoves``: the
charges it wrote less those it superseded); ``unbalanced`` compares that with its usage
postings, so a run whose postings differ from its charges is refused before it commits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from ratebook.model.ledger import USAGE_KINDS, Posting, PostingKind, next_period


@dataclass(frozen=True, slots=True)
class Routing:
    """Where usage is posted, given the entity's closed periods."""

    closed: frozenset[str]

    @classmethod
    def of(cls, closed: Collection[str]) -> Routing:
        return cls(frozenset(closed))

    @property
    def first_open(self) -> str | None:
        """The period late usage goes to (None while no period is closed)."""
        return next_period(max(self.closed)) if self.closed else None

    def posted_to(self, period: str) -> tuple[str, PostingKind, str | None]:
        """``(period posted to, kind, source period)`` for usage of ``period``."""
        if period not in self.closed:
            return period, PostingKind.USAGE, None
        return str(self.first_open), PostingKind.LATE_USAGE, period

    def posted_period(self) -> pl.Expr:
        """``posted_to`` as an expression over a frame's ``period`` column, named
        ``posted_period``."""
        if not self.closed:
            return pl.col("period").alias("posted_period")
        return (
            pl.when(pl.col("period").is_in(sorted(self.closed)))
            .then(pl.lit(self.first_open))
            .otherwise(pl.col("period"))
            .alias("posted_period")
        )


@dataclass(slots=True)
class UsageTally:
    """A run's rated charges summed per customer, period and unit, and the re-rating
    postings it made, to be posted once at the end of the run."""

    records: Counter[tuple[int, str, str]] = field(default_factory=Counter)
    quantities: Counter[tuple[int, str, str]] = field(default_factory=Counter)
    amounts: Counter[tuple[int, str, str]] = field(default_factory=Counter)
    reposts: list[Posting] = field(default_factory=list)

    def add(self, rated: pl.DataFrame) -> None:
        """Count the charges of ``rated`` (``customer_id``, ``period``, ``unit``,
        ``billed_quantity``, ``charge``)."""
        for (customer_id, period, unit), (n, quantity, amount) in _summed(
            rated, ("customer_id", "period", "unit")
        ):
            key = (int(customer_id), str(period), str(unit))
            self.records[key] += n
            self.quantities[key] += quantity
            self.amounts[key] += amount

    def add_rows(self, rated: list[dict[str, Any]]) -> None:
        """``add`` for charges given as rows."""
        for row in rated:
            key = (int(row["customer_id"]), str(row["period"]), str(row["unit"]))
            self.records[key] += 1
            self.quantities[key] += int(row["billed_quantity"])
            self.amounts[key] += int(row["charge"])

    def postings(self, routing: Routing, *, source: str) -> list[Posting]:
        """Every posting of the run: usage per customer, period and unit (posted where
        ``routing`` says), then the re-ratings. ``source`` names the run in the memos."""
        usage = []
        for (customer_id, period, unit), count in sorted(self.records.items()):
            posted, kind, came_from = routing.posted_to(period)
            usage.append(
                Posting(
                    customer_id=customer_id,
                    period=posted,
                    kind=kind,
                    amount=self.amounts[customer_id, period, unit],
                    quantity=self.quantities[customer_id, period, unit],
                    records=count,
                    source_period=came_from,
                    memo=f"usage ({unit}) from {source}",
                )
            )
        return usage + self.reposts


def reposting(replaced: pl.DataFrame, replacements: pl.DataFrame, *, memo: str) -> list[Posting]:
    """The postings of re-rated charges: per customer, period posted to and unit, a reversal
    of the old charges (``replaced``) and a posting of the new ones (``replacements``); both
    frames have ``customer_id``, ``posted_period``, ``unit``, ``billed_quantity`` and
    ``charge``."""
    out: list[Posting] = []
    for frame, kind, sign in (
        (replaced, PostingKind.REVERSAL, -1),
        (replacements, PostingKind.USAGE, 1),
    ):
        out += _sums(frame, kind, sign, memo)
    return out


#: Up to this many charges are summed in Python (``_summed``), beyond it by a frame
#: aggregation: a few charges (a push's) cost more to set an aggregation up for.
_FEW_CHARGES = 256


def _summed(
    frame: pl.DataFrame, keys: tuple[str, ...]
) -> list[tuple[tuple[Any, ...], tuple[int, int, int]]]:
    """``(count, billed quantity, charge)`` of ``frame``'s charges by ``keys``, in key
    order."""
    if frame.is_empty():
        return []
    if frame.height <= _FEW_CHARGES:
        sums: dict[tuple[Any, ...], tuple[int, int, int]] = {}
        width = len(keys)
        for row in frame.select(*keys, "billed_quantity", "charge").iter_rows():
            key = row[:width]
            n, quantity, amount = sums.get(key, (0, 0, 0))
            sums[key] = (n + 1, quantity + int(row[width]), amount + int(row[width + 1]))
        return sorted(sums.items())
    totals = (
        frame.group_by(*keys)
        .agg(pl.len(), pl.col("billed_quantity").sum(), pl.col("charge").sum())
        .sort(*keys)
    )
    width = len(keys)
    return [
        (row[:width], (int(row[width]), int(row[width + 1]), int(row[width + 2])))
        for row in totals.iter_rows()
    ]


def _sums(frame: pl.DataFrame, kind: PostingKind, sign: int, memo: str) -> Iterable[Posting]:
    for (customer_id, period, unit), (n, quantity, amount) in _summed(
        frame, ("customer_id", "posted_period", "unit")
    ):
        yield Posting(
            customer_id=int(customer_id),
            period=str(period),
            kind=kind,
            amount=sign * amount,
            quantity=sign * quantity,
            records=sign * n,
            memo=f"{memo} ({unit})",
        )


@dataclass(slots=True)
class ChargeMoves:
    """What a run did to the current charges of each customer-cycle it touched: the charges it
    wrote, less those it superseded, summed per customer and cycle posted to."""

    amounts: Counter[tuple[int, str]] = field(default_factory=Counter)

    def add(self, charges: pl.DataFrame, *, sign: int = 1) -> None:
        """Count ``charges`` (``customer_id``, ``posted_period``, ``billed_quantity``,
        ``charge``) as written (``sign`` 1) or superseded (-1)."""
        for (customer_id, period), (_, _, amount) in _summed(
            charges, ("customer_id", "posted_period")
        ):
            self.amounts[int(customer_id), str(period)] += sign * amount

    def add_rows(self, charges: list[dict[str, Any]]) -> None:
        """``add`` for charges written, given as rows."""
        for row in charges:
            self.amounts[int(row["customer_id"]), str(row["posted_period"])] += int(row["charge"])


def unbalanced(
    moves: ChargeMoves, postings: Iterable[Posting]
) -> list[tuple[tuple[int, str], int, int]]:
    """The customer-cycles whose charges ``moves`` differ from the sum of the usage
    ``postings`` made for them: ``((customer, period), charges moved, posted)``, in order."""
    posted: Counter[tuple[int, str]] = Counter()
    for posting in postings:
        if posting.kind in USAGE_KINDS:
            posted[posting.customer_id, posting.period] += posting.amount
    keys = moves.amounts.keys() | posted.keys()
    return sorted(
        (key, moves.amounts[key], posted[key]) for key in keys if moves.amounts[key] != posted[key]
    )
