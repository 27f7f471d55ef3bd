"""The carry-forward decision at cycle close, and the invoice total's rounding.

A customer's payable total is everything its cycle holds (usage, late usage, recurring fees,
amounts brought forward, credits, adjustments) plus the tax an invoice would add. Under the
invoicing floor it is carried into the next cycle instead of invoiced, until it crosses the
floor or an invoice is forced:

* ``closure``: the account is closed (its final invoice);
* ``max_cycles``: it was already carried the entity's maximum number of cycles in a row;
* ``fiscal_year_end``: the cycle is the last of the entity's fiscal year.

A forced close still issues nothing when the payable total is exactly zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ratebook.money import AMOUNT_SCALE, RoundingMode, round_div


class Outcome(StrEnum):
    """What a cycle close did with one customer's balance."""

    INVOICED = "invoiced"
    CARRIED = "carried"


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """The outcome, and why an invoice was issued (``floor`` when it crossed the floor)."""

    outcome: Outcome
    reason: str | None


def forced_reason(
    *,
    period: str,
    account_closed: bool,
    streak_before: int,
    max_carry_cycles: int | None,
    fiscal_year_end_month: int | None,
) -> str | None:
    """Why this close must invoice whatever the floor says, or None."""
    if account_closed:
        return "closure"
    if max_carry_cycles is not None and streak_before >= max_carry_cycles:
        return "max_cycles"
    if fiscal_year_end_month is not None and int(period[5:7]) == fiscal_year_end_month:
        return "fiscal_year_end"
    return None


def decide(payable: int, floor: int, forced: str | None) -> Decision:
    """Invoice or carry a payable total (AMOUNT_SCALE) against the floor."""
    if payable == 0:
        return Decision(outcome=Outcome.CARRIED, reason=None)
    if forced is not None:
        return Decision(outcome=Outcome.INVOICED, reason=forced)
    if payable >= floor and payable > 0:
        return Decision(outcome=Outcome.INVOICED, reason="floor")
    return Decision(outcome=Outcome.CARRIED, reason=None)


def round_total(exact: int, *, minor_places: int, mode: RoundingMode) -> tuple[int, int]:
    """``(total, remainder)``: ``exact`` rounded to the minor unit, and what rounding left
    (``exact - total``, under one minor unit), which is carried to the next cycle."""
    step = 10 ** (AMOUNT_SCALE - minor_places)
    total = round_div(exact, step, mode) * step
    return total, exact - total
