"""Tax on an invoice, by line category.

Each invoice line has a category: its service (``voice``, ``sms``, ...) for usage, the plan's
category for recurring fees, the category it came from for amounts brought forward. An
entity's tax rates map categories to a treatment; ``*`` is the rate of any category not named.
A category with no rate at all is outside the scope of tax (shown untaxed).

Rounding point: tax is computed once per invoice and per rate, on the exact sum of the lines
taxed at that rate, and rounded to the currency's minor unit with the entity's rounding mode.
Lines are never taxed one by one, so an invoice's tax does not depend on how its usage is
grouped into lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from ratebook.money import AMOUNT_SCALE, RoundingMode, round_div

PPM = 1_000_000


class Treatment(StrEnum):
    """How a category is taxed: at a rate, at zero (zero-rated), exempt, or outside scope."""

    STANDARD = "standard"
    ZERO = "zero"
    EXEMPT = "exempt"
    NONE = "none"


@dataclass(frozen=True, slots=True, kw_only=True)
class TaxRate:
    """A category's tax: ``rate_ppm`` is parts per million (8% is 80,000)."""

    category: str
    treatment: Treatment
    rate_ppm: int
    label: str


OUTSIDE_SCOPE = TaxRate(category="*", treatment=Treatment.NONE, rate_ppm=0, label="")


@dataclass(frozen=True, slots=True, kw_only=True)
class TaxLine:
    """The tax of one rate on an invoice: ``base`` exact, ``amount`` at the minor unit."""

    label: str
    treatment: Treatment
    rate_ppm: int
    base: int
    amount: int


def rate_for(category: str, rates: Mapping[str, TaxRate]) -> TaxRate:
    """The rate of ``category``: its own, else ``*``, else outside scope."""
    return rates.get(category) or rates.get("*") or OUTSIDE_SCOPE


def tax_lines(
    lines: Iterable[tuple[str, int]],
    rates: Mapping[str, TaxRate],
    *,
    minor_places: int,
    mode: RoundingMode,
) -> list[TaxLine]:
    """The tax of an invoice whose lines are ``(category, exact amount)``.

    One :class:`TaxLine` per distinct (label, treatment, rate), in the order first met;
    zero-rated and exempt lines give a line of amount 0 so the invoice can show them; lines
    outside scope give none.
    """
    bases: dict[tuple[str, Treatment, int], int] = {}
    for category, amount in lines:
        rate = rate_for(category, rates)
        if rate.treatment is Treatment.NONE:
            continue
        key = (rate.label, rate.treatment, rate.rate_ppm)
        bases[key] = bases.get(key, 0) + amount
    step = 10 ** (AMOUNT_SCALE - minor_places)
    result = []
    for (label, treatment, rate_ppm), base in bases.items():
        amount = 0
        if treatment is Treatment.STANDARD:
            amount = round_div(base * rate_ppm, PPM * step, mode) * step
        result.append(
            TaxLine(label=label, treatment=treatment, rate_ppm=rate_ppm, base=base, amount=amount)
        )
    return result
