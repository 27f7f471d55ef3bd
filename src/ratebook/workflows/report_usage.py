"""Balances per customer, monthly usage statements and the exception log, for one entity."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from sqlalchemy import Engine

from ratebook.billing.statement import mask_number, measure_text, tier_parts_text
from ratebook.errors import NotFoundError
from ratebook.model.ledger import Period
from ratebook.model.parties import Entity
from ratebook.model.review import Filter
from ratebook.money import AMOUNT_SCALE, PRICE_SCALE, QUANTITY_SCALE, format_fixed
from ratebook.render.listing import SafeCsvWriter
from ratebook.store import parties, review, usage
from ratebook.store.entities import get_entity

#: The columns of a CSV statement (docs/billing.md, "Statements"). ``kind`` is ``record`` for
#: a rated record, ``total`` for the totals after them: one per unit, then one of everything
#: (``unit`` empty), each with its count of records.
STATEMENT_HEADER = (
    "kind",
    "account",
    "period",
    "currency",
    "record_id",
    "date_time",
    "service",
    "caller",
    "destination",
    "destination_name",
    "band",
    "quantity",
    "billed_quantity",
    "unit",
    "rate",
    "rate_unit",
    "tiers",
    "charge",
    "records",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class BalanceLine:
    """One customer's usage of one unit in a period. Amounts and quantities are exact
    decimal text; ``billed_quantity`` is in ``unit``."""

    account: str
    name: str
    unit: str
    records: int
    billed_quantity: str
    charge: str
    currency: str


def balances(engine: Engine, period: str, *, entity_code: str | None = None) -> list[BalanceLine]:
    """Per customer and unit: records, billed quantity and charge for a calendar month (in
    the entity's zone); a customer's charge is the sum of its lines."""
    Period.parse(period)
    with engine.connect() as conn:
        entity = get_entity(conn, entity_code)
        frame = usage.balances(conn, entity.id, period)
    return [
        BalanceLine(
            account=row["account"],
            name=row["name"],
            unit=row["unit"],
            records=row["records"],
            billed_quantity=format_fixed(row["billed_quantity"], QUANTITY_SCALE),
            charge=format_fixed(row["charge"], AMOUNT_SCALE, entity.charge_places),
            currency=entity.currency,
        )
        for row in frame.iter_rows(named=True)
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class StatementResult:
    """A statement written: its file, line count and total charge (exact text)."""

    path: Path
    account: str
    lines: int
    total: str
    currency: str


def _statement_rows(
    entity: Entity, account: str, period: str, lines: pl.DataFrame
) -> list[list[str]]:
    local = lines.with_columns(
        pl.col("start_time")
        .dt.convert_time_zone(entity.timezone)
        .dt.strftime("%Y-%m-%d %H:%M:%S")
        .alias("local")
    )
    places = entity.charge_places
    head = [account, period, entity.currency]
    out: list[list[str]] = []
    for row in local.iter_rows(named=True):
        tiers = tier_parts_text(row["tier_split"], row["unit"], places)
        out.append(
            [
                "record",
                *head,
                row["record_id"],
                row["local"],
                row["service"],
                row["caller"] or "",
                mask_number(row["destination"], entity.mask_digits),
                row["destination_name"] or "",
                row["band"] or "",
                format_fixed(row["quantity"], QUANTITY_SCALE),
                format_fixed(row["billed_quantity"], QUANTITY_SCALE),
                row["unit"],
                # a record split between tiers has no one rate: its parts are in ``tiers``
                "" if tiers else format_fixed(row["unit_price"], PRICE_SCALE, min_places=places),
                measure_text(row["rate_unit"], row["unit"]),
                tiers,
                format_fixed(row["charge"], AMOUNT_SCALE, places),
                "",
            ]
        )
    by_unit = (
        lines.group_by("unit")
        .agg(
            pl.col("quantity").sum(),
            pl.col("billed_quantity").sum(),
            pl.col("charge").sum(),
            pl.len().alias("records"),
        )
        .sort("unit")
    )
    blank = [""] * 7  # record_id .. band
    for unit, quantity, billed, charge, records in by_unit.iter_rows():
        out.append(
            [
                "total",
                *head,
                *blank,
                format_fixed(quantity, QUANTITY_SCALE),
                format_fixed(billed, QUANTITY_SCALE),
                unit,
                "",
                "",
                "",
                format_fixed(charge, AMOUNT_SCALE, places),
                str(records),
            ]
        )
    out.append(
        [
            "total",
            *head,
            *blank,
            "",
            "",
            "",
            "",
            "",
            "",
            format_fixed(int(lines["charge"].sum() or 0), AMOUNT_SCALE, places),
            str(lines.height),
        ]
    )
    return out


def write_statement(
    engine: Engine, *, account: str, period: str, out: Path, entity_code: str | None = None
) -> StatementResult:
    """Write one customer's monthly usage statement as CSV (``STATEMENT_HEADER``): a line per
    record in start-time order (local time of the entity), then the totals per unit and of
    everything.

    Raises:
        NotFoundError: ``CUSTOMER_NOT_FOUND``.
    """
    Period.parse(period)
    with engine.connect() as conn:
        entity = get_entity(conn, entity_code)
        customer = parties.customer_by_account(conn, entity.id, account)
        if customer is None:
            raise NotFoundError("CUSTOMER_NOT_FOUND", f"no customer with account {account!r}")
        lines = usage.statement_lines(conn, entity.id, customer[0], period)
    return _write(entity, account, period, lines, out)


def write_statements(
    engine: Engine,
    *,
    period: str,
    out_dir: Path,
    entity_code: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[StatementResult]:
    """Write the statement of every customer with usage in ``period`` into ``out_dir``;
    ``progress(done, total)`` is told of each one written."""
    Period.parse(period)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[StatementResult] = []
    with engine.connect() as conn:
        entity = get_entity(conn, entity_code)
        customers = usage.customers_with_usage(conn, entity.id, period)
        for done, (customer_id, account) in enumerate(customers):
            if progress is not None:
                progress(done, len(customers))
            lines = usage.statement_lines(conn, entity.id, customer_id, period)
            safe = re.sub(r"[^A-Za-z0-9._-]", "_", account)
            path = out_dir / f"{safe}-{period}.csv"
            results.append(_write(entity, account, period, lines, path))
    return results


def _write(
    entity: Entity, account: str, period: str, lines: pl.DataFrame, out: Path
) -> StatementResult:
    total = int(lines["charge"].sum() or 0)
    rows = _statement_rows(entity, account, period, lines)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = SafeCsvWriter(handle)
        writer.writerow(STATEMENT_HEADER)
        writer.writerows(rows)
    return StatementResult(
        path=out,
        account=account,
        lines=lines.height,
        total=format_fixed(total, AMOUNT_SCALE, entity.charge_places),
        currency=entity.currency,
    )


def exception_log(
    engine: Engine,
    *,
    entity_code: str | None = None,
    code: str | None = None,
    status: str | None = None,
) -> pl.DataFrame:
    """The exception queue with source file and line, as a frame (``review.LISTED``)."""
    with engine.connect() as conn:
        entity = get_entity(conn, entity_code)
        found = review.find(conn, entity.id, Filter(code=code, status=status))
    return pl.DataFrame(
        [[row[c] for c in review.LISTED] for row in found],
        schema=review.LISTED_SCHEMA,
        orient="row",
    )
