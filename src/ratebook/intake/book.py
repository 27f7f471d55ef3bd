"""Price new canonical records and book their charges: the stages an import and a re-processed
exception share, so a record is billed the same way whichever path brings it.

``assess`` matches, rates and places the records in their cycles (nothing written); the caller
stores the records, then ``Ledger.book`` writes their charges and re-ratings and tallies the
usage postings, which ``Ledger.postings`` hands over at the end of the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import polars as pl
from sqlalchemy import Connection

from ratebook.billing.post import ChargeMoves, UsageTally, reposting, unbalanced
from ratebook.errors import ConflictError
from ratebook.intake.place import CycleUsage, Placed
from ratebook.model.rejections import REJECTION_SCHEMA, Code, no_rejections, reject_where
from ratebook.pipeline.price import Reference, price
from ratebook.store import checks, cycles, usage
from ratebook.store.bulk import FEW_ROWS, insert_frame, insert_rows
from ratebook.store.seals import Seal
from ratebook.store.tables import rated_charges


@dataclass(frozen=True, slots=True, kw_only=True)
class Assessed:
    """What pricing new records gave.

    Attributes:
        matched: ``row_idx`` and ``customer_id`` of every record with a customer.
        placed: the rated records at their places, and the earlier charges they re-rate
            (with ``place=False``: the rated records as priced, not yet placed).
        rejections: ``REJECTION_SCHEMA`` rows: unmatched, unrated, out of policy, and late
            for a closed cycle where the entity rejects late usage.
    """

    matched: pl.DataFrame
    placed: Placed
    rejections: pl.DataFrame


def assess(
    new: pl.DataFrame,
    *,
    reference: Reference,
    cycle: CycleUsage,
    zone: str,
    late_usage: str,
    enforce_policy: bool = True,
    place: bool = True,
) -> Assessed:
    """Match, rate and place ``new`` (canonical records with ``origin``, not yet stored).

    ``late_usage='reject'`` turns records of a closed cycle into ``LATE_FOR_CLOSED_CYCLE``;
    ``enforce_policy=False`` prices records beyond the policy limits (an accepted exception);
    ``place=False`` leaves the placing to the caller (``DeferredCharges``).
    """
    # the cycle places tiered records below, against the usage it holds
    priced = price(new, reference, zone=zone, enforce_policy=enforce_policy, place_tiers=False)
    rated, late = priced.rated, no_rejections()
    if late_usage == "reject" and cycle.closed:
        rated, late = reject_where(
            rated,
            pl.col("period").is_in(sorted(cycle.closed)),
            code=Code.LATE_FOR_CLOSED_CYCLE,
            field="start_time",
            reason=pl.lit("usage of ")
            + pl.col("period")
            + pl.lit(", a closed cycle, and the entity rejects late usage; accept it to bill")
            + pl.lit(" it as late usage in the first open cycle"),
        )
    return Assessed(
        matched=priced.matched.select("row_idx", "customer_id"),
        placed=cycle.place(rated) if place else Placed.unplaced(rated),
        rejections=_together([priced.unmatched, priced.unrated, late]),
    )


def _together(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """The rejection frames as one of ``REJECTION_SCHEMA`` (the usual batch has none: no
    frame step then)."""
    found = [frame.select(list(REJECTION_SCHEMA)) for frame in frames if not frame.is_empty()]
    if not found:
        return no_rejections()
    return found[0] if len(found) == 1 else pl.concat(found)


#: The columns a charge takes from its placed record: the charges table's, less the entity,
#: the period it is posted to, the batch, the time of rating (set by ``Ledger.book``) and what
#: later re-ratings and invoices set.
_CHARGED = tuple(
    column.name
    for column in rated_charges.columns
    if column.name
    not in {
        "id",
        "entity_id",
        "posted_period",
        "batch_id",
        "rated_at",
        "superseded_by",
        "invoice_line_id",
    }
)


@dataclass(slots=True)
class Ledger:
    """Books a run's charges and tallies their postings, written once at the end of the run
    (``post``). ``cycle`` says which cycle each period's usage is posted to, for the charges
    and their postings alike; ``seal`` seals every row the run writes, for its audit entry;
    ``moves`` counts the charges written and superseded, which ``post`` holds the postings
    to."""

    cycle: CycleUsage
    seal: Seal = field(default_factory=Seal)
    tally: UsageTally = field(default_factory=UsageTally)
    moves: ChargeMoves = field(default_factory=ChargeMoves)

    def book(
        self,
        conn: Connection,
        rated: pl.DataFrame,
        placed: Placed,
        *,
        entity_id: int,
        batch_id: int,
        now: datetime,
    ) -> None:
        """Write the charges of ``rated`` (placed records with their ``record_pk``) and the
        re-ratings ``placed`` asks for, and tally their postings."""
        if rated.height < FEW_ROWS:
            # a push's few charges, as rows: each frame step would cost more than they do
            routing = self.cycle.routing
            rows = [
                {
                    "entity_id": entity_id,
                    **{name: record[name] for name in _CHARGED},
                    "posted_period": routing.posted_to(record["period"])[0],
                    "batch_id": batch_id,
                    "rated_at": now,
                }
                for record in rated.to_dicts()
            ]
            self.seal.add_rows("charges", rows)
            insert_rows(conn, rated_charges, rows)
            self.tally.add_rows(rows)
            self.moves.add_rows(rows)
        else:
            charges = rated.select(
                pl.lit(entity_id).alias("entity_id"),
                *_CHARGED,
                self.cycle.routing.posted_period().alias("posted_period"),
                pl.lit(batch_id).alias("batch_id"),
                pl.lit(now).alias("rated_at"),
            )
            self.seal.add("charges", charges)
            insert_frame(conn, rated_charges, charges)
            self.tally.add(rated)
            self.moves.add(charges)
        cycles.replace_charges(
            conn,
            placed.replacements,
            entity_id=entity_id,
            batch_id=batch_id,
            rated_at=now,
            seal=self.seal,
        )
        self.tally.reposts += reposting(
            placed.replaced,
            placed.replacements,
            memo="re-rated: a late record changed tier places",
        )
        # the charges superseded are those ``replace_charges`` found current, one each
        self.moves.add(placed.replacements)
        self.moves.add(placed.replaced, sign=-1)

    def post(
        self, conn: Connection, *, entity_id: int, batch_id: int, source: str, now: datetime
    ) -> None:
        """Write every posting of the run (usage per customer, period and unit, then the
        re-ratings), and refuse to commit unless they equal, for every customer-cycle, the
        charges the run wrote less those it superseded.

        With every booking held to this, a customer-cycle's current charges stay equal to its
        usage postings: the close checks that of each cycle it bills, and ``ratebook check``
        of every cycle.

        Raises:
            ConflictError: ``LEDGER_UNBALANCED``.
        """
        routing = self.cycle.routing
        postings = self.tally.postings(routing, source=Path(source).name)
        usage.add_postings(
            conn, postings, entity_id=entity_id, batch_id=batch_id, posted_at=now, seal=self.seal
        )
        wrong = unbalanced(self.moves, postings)
        if wrong:
            names = checks.account_names(conn, entity_id, [key[0] for key, _, _ in wrong[:3]])
            shown = "; ".join(
                f"customer {names.get(customer_id, customer_id)}, cycle {period}: charges"
                f" {checks.money(moved)} != usage postings {checks.money(posted)}"
                for (customer_id, period), moved, posted in wrong[:3]
            )
            raise ConflictError(
                "LEDGER_UNBALANCED",
                f"{len(wrong)} customer-cycle(s) would not balance, nothing was stored: {shown}",
            )
