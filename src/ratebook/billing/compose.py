"""Composing an invoice: its lines in a fixed order, the tax, the totals, and the hand-off
document (the JSON described by ``docs/invoice.schema.json``).

Amounts are integers at AMOUNT_SCALE. A line's ``amount`` is exact (a sum of rated charges,
a prorated fee, a carried amount), as the ledger and the lineage keep it. The invoice bills
each line in whole minor units of the currency: the exact net is rounded once with the
entity's mode, and that figure is shared among the lines by largest remainder, so each line
is within one minor unit of its exact amount and the lines add up to the net billed. Tax is
computed per rate on the billed lines; what the net's rounding leaves (under one minor unit)
is carried to the next cycle, so no fraction of a minor unit is lost or invented.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ratebook.billing.tax import TaxLine, TaxRate, rate_for, tax_lines
from ratebook.money import (
    AMOUNT_SCALE,
    PRICE_SCALE,
    QUANTITY_SCALE,
    RoundingMode,
    format_fixed,
    round_div,
)

SCHEMA_ID = "https://ratebook.dev/schemas/invoice-1.json"

#: The order of line kinds on an invoice.
KINDS = (
    "recurring",
    "usage",
    "volume_settlement",
    "late_usage",
    "brought_forward",
    "credit",
    "adjustment",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Line:
    """One invoice line before tax. ``key`` ties it to what it bills (not in the document)."""

    kind: str
    category: str
    description: str
    amount: int
    service: str | None = None
    destination: str | None = None
    band: str | None = None
    unit: str | None = None
    quantity: int | None = None
    unit_price: int | None = None
    rate_unit: int | None = None
    records: int = 0
    source_period: str | None = None
    key: tuple[Any, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Totals:
    """``net`` (the exact lines) + ``tax`` = ``exact``; ``billed_net`` is the net in whole
    minor units (the billed lines' sum), ``total`` = ``billed_net + tax`` is what is due, and
    ``rounding`` = ``exact - total`` (= ``net - billed_net``) is carried forward."""

    net: int
    billed_net: int
    tax: int
    exact: int
    total: int
    rounding: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Composed:
    """An invoice's ordered lines, each line's billed amount (``billed[i]`` for
    ``lines[i]``, in whole minor units), tax lines and totals."""

    lines: list[Line]
    billed: list[int]
    tax: list[TaxLine]
    totals: Totals


def round_total(exact: int, *, minor_places: int, mode: RoundingMode) -> tuple[int, int]:
    """``(total, remainder)``: ``exact`` rounded to the minor unit, and what rounding left
    (``exact - total``, under one minor unit), which is carried to the next cycle."""
    step = 10 ** (AMOUNT_SCALE - minor_places)
    total = round_div(exact, step, mode) * step
    return total, exact - total


def billed_amounts(amounts: Sequence[int], *, minor_places: int, mode: RoundingMode) -> list[int]:
    """Each exact amount in whole minor units, adding up to their sum rounded with ``mode``.

    Largest remainder: every amount is taken down to its minor unit, and the minor units the
    rounded sum still needs go one each to the amounts that lost most (the first of equals);
    so each is within one minor unit of its exact value.
    """
    step = 10 ** (AMOUNT_SCALE - minor_places)
    billed_sum, _ = round_total(sum(amounts), minor_places=minor_places, mode=mode)
    floors = [(amount // step) * step for amount in amounts]
    short = (billed_sum - sum(floors)) // step  # 0 <= short <= len(amounts)
    lost = sorted(range(len(amounts)), key=lambda i: (floors[i] - amounts[i], i))
    for i in lost[:short]:
        floors[i] += step
    return floors


def compose(
    lines: Sequence[Line],
    rates: Mapping[str, TaxRate],
    *,
    minor_places: int,
    mode: RoundingMode,
) -> Composed:
    """Order the lines (by kind, then as given), bill them in whole minor units, and compute
    the tax and the totals."""
    ordered = sorted(lines, key=lambda line: KINDS.index(line.kind))
    billed = billed_amounts([line.amount for line in ordered], minor_places=minor_places, mode=mode)
    taxes = tax_lines(
        ((line.category, amount) for line, amount in zip(ordered, billed, strict=True)),
        rates,
        minor_places=minor_places,
        mode=mode,
    )
    net = sum(line.amount for line in ordered)
    billed_net = sum(billed)
    tax = sum(t.amount for t in taxes)
    return Composed(
        lines=ordered,
        billed=billed,
        tax=taxes,
        totals=Totals(
            net=net,
            billed_net=billed_net,
            tax=tax,
            exact=net + tax,
            total=billed_net + tax,
            rounding=net - billed_net,
        ),
    )


def money_text(value: int, minor_places: int) -> str:
    """An AMOUNT_SCALE integer as exact decimal text with at least the minor unit's places."""
    return format_fixed(value, AMOUNT_SCALE, None, min_places=minor_places)


def percent_text(rate_ppm: int) -> str:
    """Parts per million as a percentage: 80,000 is ``"8"``."""
    return format_fixed(rate_ppm, 4)


def document(
    *,
    number: int,
    display_number: str,
    period: str,
    issued_at: datetime,
    reason: str,
    seller: Mapping[str, str],
    customer: Mapping[str, str],
    currency: str,
    minor_places: int,
    composed: Composed,
    rates: Mapping[str, TaxRate],
) -> dict[str, Any]:
    """The hand-off document of an invoice (``docs/invoice.schema.json``).

    One function: it builds one document, field after field."""

    def money(value: int) -> str:
        return money_text(value, minor_places)

    lines = []
    for n, (line, billed) in enumerate(zip(composed.lines, composed.billed, strict=True), 1):
        rate = rate_for(line.category, rates)
        item: dict[str, Any] = {
            "line": n,
            "kind": line.kind,
            "category": line.category,
            "description": line.description,
            "records": line.records,
            "amount": money(billed),
            "tax": {"treatment": rate.treatment.value, "rate": percent_text(rate.rate_ppm)},
        }
        if line.service is not None:
            item["service"] = line.service
        if line.destination is not None:
            item["destination"] = line.destination
        if line.band is not None:
            item["band"] = line.band
        if line.quantity is not None and line.unit is not None:
            item["quantity"] = format_fixed(line.quantity, QUANTITY_SCALE)
            item["unit"] = line.unit
        if line.unit_price is not None and line.rate_unit is not None:
            item["unit_price"] = format_fixed(line.unit_price, PRICE_SCALE)
            item["per"] = format_fixed(line.rate_unit, QUANTITY_SCALE)
        if line.source_period is not None:
            item["source_period"] = line.source_period
        lines.append(item)
    totals = composed.totals
    return {
        "$schema": SCHEMA_ID,
        "invoice": {
            "number": number,
            "id": display_number,
            "period": period,
            "issued_at": issued_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "currency": currency,
            "reason": reason,
        },
        "seller": dict(seller),
        "customer": dict(customer),
        "lines": lines,
        "tax": [
            {
                "label": t.label,
                "treatment": t.treatment.value,
                "rate": percent_text(t.rate_ppm),
                "base": money(t.base),
                "amount": money(t.amount),
            }
            for t in composed.tax
        ],
        "totals": {
            "net": money(totals.billed_net),
            "tax": money(totals.tax),
            "exact": money(totals.exact),
            "rounding_carried": money(totals.rounding),
            "total": money(totals.total),
        },
    }


def canonical_json(doc: Mapping[str, Any]) -> str:
    """The one byte-stable encoding of a document: sorted keys, no spaces, UTF-8 text."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
