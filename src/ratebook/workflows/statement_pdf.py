"""``ratebook statement --pdf``: a customer's itemised statement of a period.

Shows what the period's close did: the invoice (its lines, tax and total) or the amount
carried forward under the floor; while the cycle is open, the balance so far (provisional).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine

from ratebook.billing.compose import money_text
from ratebook.billing.statement import mask_number, quantity_text
from ratebook.errors import NotFoundError
from ratebook.model.ledger import Period
from ratebook.model.parties import Entity
from ratebook.money import (
    AMOUNT_SCALE,
    PRICE_SCALE,
    QUANTITY_SCALE,
    format_fixed,
    minor_places,
    parse_fixed,
)
from ratebook.render.statement_pdf import StatementPage, render_statement
from ratebook.store import billing, invoices, parties, usage
from ratebook.store.entities import get_entity

_OTHER = ("credit", "adjustment", "volume_settlement")


@dataclass(frozen=True, slots=True, kw_only=True)
class PdfResult:
    """A statement written: its file, number, itemised rows and the total shown."""

    path: Path
    number: str
    items: int
    total: str
    currency: str


def write_statement_pdf(
    engine: Engine,
    *,
    account: str,
    period: str,
    out: Path,
    entity_code: str | None = None,
    now: datetime | None = None,
) -> PdfResult:
    """Write the statement PDF of ``account`` for ``period``.

    Raises:
        NotFoundError: ``CUSTOMER_NOT_FOUND``.
    """
    Period.parse(period)
    with engine.connect() as conn:
        entity = get_entity(conn, entity_code)
        customer = parties.customer_by_account(conn, entity.id, account)
        if customer is None:
            raise NotFoundError("CUSTOMER_NOT_FOUND", f"no customer with account {account!r}")
        page = _page(conn, entity, customer, account, period, now or datetime.now(UTC))
    items = render_statement(page, out)
    return PdfResult(
        path=out, number=page.number, items=items, total=page.summary[-1][1], currency=page.currency
    )


def _page(
    conn: Connection,
    entity: Entity,
    customer: tuple[int, str],
    account: str,
    period: str,
    now: datetime,
) -> StatementPage:
    """What one customer's statement page shows: its lines, its invoice and its summaries.

    One function: it gathers one page's facts in the order the page shows them."""
    customer_id, name = customer
    minor = minor_places(entity.currency)
    lines = usage.statement_lines(conn, entity.id, customer_id, period)
    invoice = invoices.invoice_for(conn, entity.id, account, period)
    result = billing.cycle_result(conn, entity.id, customer_id, period)

    def money(value: int) -> str:
        return money_text(value, minor)

    invoice_lines: list[list[str]] = []
    notes: list[str] = []
    if invoice is not None:
        doc = json.loads(invoice.document)
        number = doc["invoice"]["id"]
        status = f"Invoice {number} ({doc['invoice']['reason'].replace('_', ' ')})"
        summary = _invoice_summary(doc, minor)
        for item in doc["lines"]:
            quantity = f"{item['quantity']} {item['unit']}" if "quantity" in item else ""
            rate = (
                f"{item['unit_price']}/{item['per']}{item['unit']}" if "unit_price" in item else ""
            )
            tax = item["tax"]
            shown = f"{tax['rate']}%" if tax["treatment"] == "standard" else tax["treatment"]
            invoice_lines.append([item["description"], quantity, rate, shown, item["amount"]])
        totals = doc["totals"]
        invoice_lines += [
            ["Net", "", "", "", totals["net"]],
            ["Tax", "", "", "", totals["tax"]],
            ["Total due", "", "", "", totals["total"]],
        ]
        for tax in doc["tax"]:
            notes.append(
                f"{tax['label']} {tax['treatment'].replace('zero', 'zero-rated')} "
                f"{tax['rate']}% on {tax['base']}: {tax['amount']} {entity.currency}"
            )
        if doc["totals"]["rounding_carried"] not in ("0.00", "0"):
            notes.append(
                f"Lines are billed in whole minor units of {entity.currency}; what that left,"
                f" {doc['totals']['rounding_carried']} {entity.currency}, is carried to the next"
                " period."
            )
    else:
        number = f"ST-{entity.code}-{period}-{account}"
        postings = billing.period_postings(conn, entity.id, period, customer_id)
        summary = _ledger_summary(postings, money)
        if result is not None:
            status = "Carried forward: under the invoicing floor"
            floor = money(entity.invoicing_floor)
            notes.append(
                f"The balance of {money(int(str(result['net'])))} is under the invoicing floor"
                f" of {floor} {entity.currency} and is carried into the next period; tax is "
                "charged on the invoice that bills it."
            )
        else:
            status = "Provisional: the period is not closed"
    return StatementPage(
        entity_name=entity.name,
        entity_code=entity.code,
        customer_name=name,
        account=account,
        period=period,
        number=number,
        issued=now.astimezone(entity.zone).strftime("%Y-%m-%d"),
        currency=entity.currency,
        status=status,
        summary=summary,
        by_destination=_by_destination(lines, entity),
        invoice_lines=invoice_lines,
        items=_items(lines, entity),
        items_total=format_fixed(
            int(lines["charge"].sum() or 0), AMOUNT_SCALE, None, min_places=minor
        ),
        notes=notes,
    )


def _invoice_summary(doc: dict[str, Any], minor: int) -> list[tuple[str, str]]:
    lines, totals = doc["lines"], doc["totals"]

    def total_of(*kinds: str) -> str:
        exact = sum(
            parse_fixed(x["amount"], AMOUNT_SCALE, allow_negative=True)
            for x in lines
            if x["kind"] in kinds
        )
        return money_text(exact, minor)

    return [
        ("Brought forward", total_of("brought_forward")),
        ("Usage this period", total_of("usage")),
        ("Late usage of earlier periods", total_of("late_usage")),
        ("Recurring charges", total_of("recurring")),
        ("Credits and adjustments", total_of(*_OTHER)),
        ("Tax", str(totals["tax"])),
        ("Total due", str(totals["total"])),
    ]


def _ledger_summary(postings: pl.DataFrame, money: Callable[[int], str]) -> list[tuple[str, str]]:
    def total_of(*kinds: str) -> int:
        return int(postings.filter(pl.col("kind").is_in(kinds))["amount"].sum() or 0)

    carried = -total_of("carried")
    rows = [
        ("Brought forward", money(total_of("brought_forward"))),
        ("Usage this period", money(total_of("usage", "reversal"))),
        ("Late usage of earlier periods", money(total_of("late_usage"))),
        ("Recurring charges", money(total_of("recurring"))),
        ("Credits and adjustments", money(total_of(*_OTHER))),
    ]
    if carried:
        rows.append(("Carried forward to the next period", money(carried)))
    else:
        rows.append(("Balance so far", money(int(postings["amount"].sum() or 0))))
    return rows


def _by_destination(lines: pl.DataFrame, entity: Entity) -> list[list[str]]:
    if lines.is_empty():
        return []
    grouped = (
        lines.group_by("service", "destination_name", "band", "unit")
        .agg(pl.len().alias("n"), pl.col("billed_quantity").sum(), pl.col("charge").sum())
        .sort("service", "destination_name", "band", nulls_last=True)
    )
    minor = minor_places(entity.currency)
    return [
        [
            str(r["service"]),
            r["destination_name"] or "",
            "" if r["band"] in (None, "*") else str(r["band"]),
            str(r["n"]),
            quantity_text(int(r["billed_quantity"]), str(r["unit"])),
            format_fixed(int(r["charge"]), AMOUNT_SCALE, None, min_places=minor),
        ]
        for r in grouped.iter_rows(named=True)
    ]


def _items(lines: pl.DataFrame, entity: Entity) -> list[list[str]]:
    local = lines.with_columns(
        pl.col("start_time").dt.convert_time_zone(entity.timezone).dt.strftime("%Y-%m-%d %H:%M:%S")
    )
    places = entity.charge_places
    rows = []
    for r in local.iter_rows(named=True):
        unit = str(r["unit"])
        per = format_fixed(int(r["rate_unit"]), QUANTITY_SCALE)
        rows.append(
            [
                str(r["start_time"]),
                r["caller"] or "",
                mask_number(r["destination"], entity.mask_digits),
                r["destination_name"] or "",
                quantity_text(int(r["quantity"]), unit),
                quantity_text(int(r["billed_quantity"]), unit),
                f"{format_fixed(int(r['unit_price']), PRICE_SCALE, min_places=places)}/{per}{unit}",
                format_fixed(int(r["charge"]), AMOUNT_SCALE, places),
            ]
        )
    return rows
