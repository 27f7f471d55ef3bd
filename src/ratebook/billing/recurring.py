"""Recurring charges: which service intervals of a subscription a cycle close bills, and how
much each costs after proration by day.

The rules (also in ``docs/billing.md``):

* A **monthly** plan's intervals are calendar months; an **annual** plan's are subscription
  years from its start date (a 29 February start renews on 28 February in common years).
* Service days are the days of the interval from ``starts_on`` to ``ends_on``, both included.
  An interval costs ``fee × service days / days in the interval``, rounded once, to the
  entity's charge places with its rounding mode. A whole interval costs exactly the fee.
* **In advance**: an interval is billed by the close of the cycle before the one it starts in.
  **In arrears**: by the close of the cycle its service ends in. A close bills every due
  interval not billed yet, so a subscription entered late catches up; none is billed twice.
* Intervals already billed in advance are not recomputed when an end date is set later: a
  refund for unused days is a credit.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from ratebook.model.ledger import Period, next_period
from ratebook.money import AMOUNT_SCALE, RoundingMode, round_div


class Interval(StrEnum):
    """How often a plan's fee falls due."""

    MONTHLY = "monthly"
    ANNUAL = "annual"


class Billing(StrEnum):
    """Whether an interval is billed before or after it is used."""

    ADVANCE = "advance"
    ARREARS = "arrears"


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscription:
    """A customer's recurring plan. ``fee`` is at AMOUNT_SCALE, per interval."""

    id: int
    customer_id: int
    reference: str
    plan: str
    fee: int
    interval: Interval
    billing: Billing
    starts_on: date
    ends_on: date | None
    category: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecurringCharge:
    """One billed service interval of a subscription (``service_from``..``service_to``
    inclusive: the days of service in it)."""

    subscription_id: int
    service_from: date
    service_to: date
    days: int
    interval_days: int
    amount: int


def period_of(day: date) -> str:
    """The calendar-month cycle (``YYYY-MM``) a local date is in."""
    return str(Period(day.year, day.month))


def _add_years(day: date, years: int) -> date:
    year = day.year + years
    last = calendar.monthrange(year, day.month)[1]
    return date(year, day.month, min(day.day, last))


def intervals(sub: Subscription) -> Iterator[tuple[date, date]]:
    """The subscription's whole intervals ``(first day, last day)`` in order, from the one
    holding ``starts_on``; endless unless ``ends_on`` is set."""
    if sub.interval is Interval.MONTHLY:
        first = sub.starts_on.replace(day=1)
        while sub.ends_on is None or first <= sub.ends_on:
            last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
            yield first, last
            first = last + timedelta(days=1)
    else:
        years = 0
        while True:
            first = _add_years(sub.starts_on, years)
            if sub.ends_on is not None and first > sub.ends_on:
                return
            yield first, _add_years(sub.starts_on, years + 1) - timedelta(days=1)
            years += 1


def due(
    sub: Subscription,
    period: str,
    *,
    billed: frozenset[date],
    places: int,
    mode: RoundingMode,
) -> list[RecurringCharge]:
    """The intervals the close of ``period`` bills (not in ``billed``, by first day).

    Args:
        sub: the subscription.
        period: the cycle being closed.
        billed: ``service_from`` (first day of service) of the intervals billed earlier.
        places: the entity's charge places; each interval's amount is rounded to them once.
        mode: the rounding mode.
    """
    horizon = next_period(period) if sub.billing is Billing.ADVANCE else period
    charges: list[RecurringCharge] = []
    for first, last in intervals(sub):
        service_from = max(first, sub.starts_on)
        service_to = last if sub.ends_on is None else min(last, sub.ends_on)
        deciding = service_from if sub.billing is Billing.ADVANCE else service_to
        if period_of(deciding) > horizon:
            break
        if service_from in billed or service_to < service_from:
            continue
        days = (service_to - service_from).days + 1
        interval_days = (last - first).days + 1
        step = 10 ** (AMOUNT_SCALE - places)
        amount = round_div(sub.fee * days, interval_days * step, mode) * step
        charges.append(
            RecurringCharge(
                subscription_id=sub.id,
                service_from=service_from,
                service_to=service_to,
                days=days,
                interval_days=interval_days,
                amount=amount,
            )
        )
    return charges
