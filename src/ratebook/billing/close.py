"""Closing one customer's cycle: its invoice lines and their wording, the carry-forward
decision, the remainder of billing in whole minor units, and the postings the close adds.
Pure.

A customer's payable total is everything its cycle holds (usage, late usage, recurring fees,
amounts brought forward, credits, adjustments) plus the tax an invoice would add. Under the
invoicing floor it is carried into the next cycle instead of invoiced, until it crosses the
floor or an invoice is forced:

* ``closure``: the account is closed (its final invoice);
* ``max_cycles``: it was already carried the entity's maximum number of cycles in a row;
* ``fiscal_year_end``: the cycle is the last of the entity's fiscal year.

A forced close still issues nothing when the payable total is exactly zero.

A carried balance leaves the cycle as a ``carried`` posting per line category and enters the
next as ``brought_forward`` postings; an invoice's rounding remainder is carried the same way
under the category ``rounding``, so over a customer's life nothing is lost to rounding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

import polars as pl

from ratebook.billing.compose import Composed, Line, compose
from ratebook.billing.tax import TaxRate
from ratebook.errors import ConflictError
from ratebook.model.ledger import USAGE_KINDS, Period, Posting, PostingKind, next_period
from ratebook.money import AMOUNT_SCALE, RoundingMode, format_fixed


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
    if fiscal_year_end_month is not None and Period.of(period).month == fiscal_year_end_month:
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """The entity's rules for a close.

    Attributes:
        floor: the invoicing floor (AMOUNT_SCALE); a customer's own floor replaces it.
        max_carry_cycles: the most cycles in a row a balance may be carried (None: no limit).
        fiscal_year_end_month: the month whose close invoices every balance (None: none).
        minor_places: the currency's minor unit.
        mode: how the invoice total (and tax) is rounded.
        rates: tax rates by line category.
    """

    floor: int
    max_carry_cycles: int | None
    fiscal_year_end_month: int | None
    minor_places: int
    mode: RoundingMode
    rates: Mapping[str, TaxRate]


@dataclass(frozen=True, slots=True, kw_only=True)
class Customer:
    """What a close needs to know of a customer.

    Attributes:
        id: the customer.
        account: its account code, for messages.
        closed: the account was closed before the cycle ended (its final invoice).
        floor: its own invoicing floor, or None for the entity's.
        streak_before: how many cycles in a row its balance was carried before this one.
    """

    id: int
    account: str
    closed: bool
    floor: int | None
    streak_before: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerClose:
    """What closing one customer's cycle gives.

    Attributes:
        customer_id: the customer.
        decision: invoiced or carried, and why.
        composed: the lines, tax and totals (of the invoice, or of what is carried).
        postings: what the close adds to the ledger: tax and the rounding remainder of an
            invoice, or the carried balance; each carried amount leaves this cycle and enters
            the next.
        carried: the amount carried into the next cycle (the rounding remainder of an invoice).
        streak: cycles in a row carried, this one included (0 once invoiced or zero).
    """

    customer_id: int
    decision: Decision
    composed: Composed
    postings: list[Posting]
    carried: int
    streak: int


def close_customer(
    *,
    period: str,
    customer: Customer,
    usage: Sequence[Line],
    recurring: Sequence[Line],
    ledger: pl.DataFrame,
    policy: Policy,
    invoice_number: int,
) -> CustomerClose:
    """Close ``customer``'s cycle ``period``.

    Args:
        usage: its usage and late-usage lines (sums of the charges posted to the cycle).
        recurring: its recurring-fee lines, billed by this close.
        ledger: the cycle's postings of the customer so far (``POSTING_COLUMNS``), in order.
        policy: the entity's rules.
        invoice_number: the number its invoice gets if one is issued (named in the memos).

    Raises:
        ConflictError: ``LEDGER_UNBALANCED`` when the usage lines differ from the cycle's
            usage postings, or all the lines from the cycle's postings.

    One function: the checks, the decision and its postings are one rule read top to bottom.
    """
    rated = sum(line.amount for line in usage)
    posted_usage = int(ledger.filter(pl.col("kind").is_in(list(USAGE_KINDS)))["amount"].sum())
    if rated != posted_usage:
        raise ConflictError(
            "LEDGER_UNBALANCED",
            f"customer {customer.account}, cycle {period}: the charges it bills"
            f" ({_money(rated)}) differ from its usage postings ({_money(posted_usage)});"
            " nothing was closed: run `ratebook check` to see every difference",
        )
    # the recurring fees were posted by this close before it read the ledger
    lines = [*usage, *recurring, *ledger_lines(ledger)]
    if sum(line.amount for line in lines) != int(ledger["amount"].sum()):
        raise ConflictError(
            "LEDGER_UNBALANCED",
            f"customer {customer.account}, cycle {period}: the invoice lines differ from the"
            " cycle's postings; nothing was closed: run `ratebook check`",
        )
    composed = compose(lines, policy.rates, minor_places=policy.minor_places, mode=policy.mode)
    decision = decide(
        composed.totals.exact,
        policy.floor if customer.floor is None else customer.floor,
        forced_reason(
            period=period,
            account_closed=customer.closed,
            streak_before=customer.streak_before,
            max_carry_cycles=policy.max_carry_cycles,
            fiscal_year_end_month=policy.fiscal_year_end_month,
        ),
    )
    if decision.outcome is Outcome.INVOICED:
        totals = composed.totals
        postings = []
        if totals.tax:
            postings.append(
                Posting(
                    customer_id=customer.id,
                    period=period,
                    kind=PostingKind.TAX,
                    amount=totals.tax,
                    category="tax",
                    memo=f"tax, invoice {invoice_number}",
                )
            )
        postings += carry(
            customer.id,
            period,
            "rounding",
            totals.rounding,
            memo=f"invoice {invoice_number} rounding",
        )
        return CustomerClose(
            customer_id=customer.id,
            decision=decision,
            composed=composed,
            postings=postings,
            carried=totals.rounding,
            streak=0,
        )
    by_category: dict[str, int] = {}
    for line in composed.lines:
        by_category[line.category] = by_category.get(line.category, 0) + line.amount
    postings = [
        posting
        for category, amount in by_category.items()
        for posting in carry(
            customer.id, period, category, amount, memo="carried: under the invoicing floor"
        )
    ]
    net = composed.totals.net
    return CustomerClose(
        customer_id=customer.id,
        decision=decision,
        composed=composed,
        postings=postings,
        carried=net,
        streak=customer.streak_before + 1 if net != 0 else 0,
    )


def carry(customer_id: int, period: str, category: str, amount: int, *, memo: str) -> list[Posting]:
    """Carry ``amount`` of ``category`` out of ``period`` into the next (nothing for zero)."""
    if amount == 0:
        return []
    return [
        Posting(
            customer_id=customer_id,
            period=period,
            kind=PostingKind.CARRIED,
            amount=-amount,
            category=category,
            memo=memo,
        ),
        Posting(
            customer_id=customer_id,
            period=next_period(period),
            kind=PostingKind.BROUGHT_FORWARD,
            amount=amount,
            category=category,
            source_period=period,
            memo=f"brought forward from {period}",
        ),
    ]


def ledger_lines(ledger: pl.DataFrame) -> list[Line]:
    """The invoice lines a cycle's postings give besides usage and recurring fees: what was
    brought forward (one line per category and period it came from), then each other posting
    (volume settlements, credits, adjustments) as it is."""
    lines = []
    forward = (
        ledger.filter(pl.col("kind") == PostingKind.BROUGHT_FORWARD.value)
        .group_by("category", "source_period", maintain_order=True)
        .agg(pl.col("amount").sum())
    )
    for category, source, amount in forward.iter_rows():
        what = "rounding" if category == "rounding" else category
        lines.append(
            Line(
                kind=PostingKind.BROUGHT_FORWARD.value,
                category=str(category),
                description=f"Brought forward from {source} ({what})",
                amount=int(amount),
                source_period=source,
                key=(PostingKind.BROUGHT_FORWARD.value, category),
            )
        )
    skipped = [*(k.value for k in USAGE_KINDS), "recurring", "brought_forward"]
    for kind, category, memo, amount in (
        ledger.filter(~pl.col("kind").is_in(skipped))
        .select("kind", "category", "memo", "amount")
        .iter_rows()
    ):
        lines.append(
            Line(
                kind=str(kind),
                category=str(category or kind),
                description=str(memo or kind),
                amount=int(amount),
                key=(str(kind),),
            )
        )
    return lines


#: What a usage line groups its charges by.
USAGE_KEY = ("service", "unit", "destination", "band", "unit_price", "rate_unit")


def usage_keys(kind: str) -> list[str]:
    """What a usage line (``usage``) or late-usage line (``late_usage``, per period too)
    groups its charges by."""
    return ["period", *USAGE_KEY] if kind == "late_usage" else list(USAGE_KEY)


def usage_lines(charges: pl.DataFrame, kind: str) -> dict[int, list[Line]]:
    """Each customer's usage lines of ``kind`` (``usage`` or ``late_usage``), sums of its
    ``charges``, in line order: every customer's grouped at once."""
    keys = usage_keys(kind)
    grouped = (
        charges.group_by("customer_id", *keys)
        .agg(
            pl.len().alias("records"),
            pl.col("billed_quantity").sum(),
            pl.col("charge").sum(),
        )
        .sort(["customer_id", *keys], nulls_last=True)
    )
    lines: dict[int, list[Line]] = {}
    late = kind == "late_usage"
    for row in grouped.iter_rows(named=True):
        label = _label(row["service"], row["destination"], row["band"])
        lines.setdefault(int(row["customer_id"]), []).append(
            Line(
                kind=kind,
                category=row["service"],
                description=f"Late usage of {row['period']}: {label}" if late else label,
                amount=int(row["charge"]),
                service=row["service"],
                destination=row["destination"],
                band=row["band"],
                unit=row["unit"],
                quantity=int(row["billed_quantity"]),
                unit_price=row["unit_price"],
                rate_unit=row["rate_unit"],
                records=int(row["records"]),
                source_period=row["period"] if late else None,
                key=(kind, *(row[k] for k in keys)),
            )
        )
    return lines


def recurring_line(
    *,
    interval_id: int,
    plan: str,
    category: str,
    amount: int,
    first: date,
    last: date,
    days: int,
    interval_days: int,
) -> Line:
    """The invoice line of one billed subscription interval."""
    text = f"{plan}, {first:%d %b %Y} to {last:%d %b %Y}"
    if days != interval_days:
        text += f" ({days} of {interval_days} days)"
    return Line(
        kind="recurring",
        category=category,
        description=text,
        amount=amount,
        records=0,
        key=("recurring", interval_id),
    )


def _label(service: str, destination: str | None, band: str | None) -> str:
    parts = [service.capitalize()]
    if destination:
        parts.append(destination)
    text = ": ".join(parts)
    return f"{text} ({band})" if band and band != "*" else text


def _money(value: int) -> str:
    return format_fixed(value, AMOUNT_SCALE, None, min_places=2)


def closed_before(closed_at: datetime | None, status: str, ends_at: datetime) -> bool:
    """Whether an account was closed before the cycle ending at ``ends_at`` ended."""
    return status == "closed" and (closed_at is None or closed_at < ends_at)
