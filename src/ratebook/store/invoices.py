"""Invoices: issued once, numbered gaplessly per entity, never changed; their lines and the
delivery log of their hand-off."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select

from ratebook.billing.compose import Line
from ratebook.billing.tax import TaxRate, rate_for
from ratebook.errors import ConflictError
from ratebook.store.seals import Seal
from ratebook.store.tables import customers, invoice_deliveries, invoice_lines, invoices


@dataclass(frozen=True, slots=True, kw_only=True)
class InvoiceRow:
    """An issued invoice as stored. Amounts at AMOUNT_SCALE: ``net`` is the exact sum of its
    lines, ``billed_net`` the net it bills (in whole minor units), ``total`` = ``billed_net``
    + ``tax``, and ``rounding`` = ``net - billed_net``, carried to the next cycle."""

    id: int
    number: int
    account: str
    customer_name: str
    period: str
    issued_at: datetime
    currency: str
    net: int
    tax: int
    total: int
    rounding: int
    reason: str
    document: str
    document_sha256: str

    @property
    def billed_net(self) -> int:
        """The net the invoice bills: its lines in whole minor units."""
        return self.total - self.tax


def next_number(conn: Connection, entity_id: int) -> int:
    """The next invoice number of the entity (the close's lock keeps it gapless)."""
    i = invoices.c
    last = conn.execute(select(func.max(i.number)).where(i.entity_id == entity_id)).scalar()
    return int(last or 0) + 1


def line_rows(lines: Sequence[Line], rates: Mapping[str, TaxRate]) -> list[dict[str, Any]]:
    """An invoice's lines as stored rows, numbered from 1, with their tax treatment."""
    rows = []
    for n, line in enumerate(lines, start=1):
        rate = rate_for(line.category, rates)
        rows.append(
            {
                "line_no": n,
                "kind": line.kind,
                "category": line.category,
                "description": line.description[:500],
                "service": line.service,
                "destination": line.destination,
                "band": line.band,
                "unit": line.unit,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "rate_unit": line.rate_unit,
                "records": line.records,
                "source_period": line.source_period,
                "amount": line.amount,
                "tax_treatment": rate.treatment.value,
                "tax_rate_ppm": rate.rate_ppm,
            }
        )
    return rows


def add_invoice(
    conn: Connection, values: dict[str, Any], lines: list[dict[str, Any]], *, seal: Seal
) -> tuple[int, list[int]]:
    """Insert an invoice and its lines (sealed in ``seal``); returns its id and the lines'
    ids in line order."""
    seal.add_rows("invoice", [values])
    seal.add_rows("invoice_lines", lines)
    result = conn.execute(insert(invoices).values(**values))
    invoice_id = int(result.inserted_primary_key[0]) if result.inserted_primary_key else 0
    if not lines:
        return invoice_id, []
    # one statement for all the lines: a statement a line would dominate a large close
    inserted = conn.execute(
        insert(invoice_lines).returning(invoice_lines.c.id, sort_by_parameter_order=True),
        [{"entity_id": values["entity_id"], "invoice_id": invoice_id, **line} for line in lines],
    )
    return invoice_id, [int(line_id) for line_id in inserted.scalars()]


def _columns() -> list[Any]:
    i = invoices.c
    return [
        i.id,
        i.number,
        customers.c.account,
        customers.c.name.label("customer_name"),
        i.period,
        i.issued_at,
        i.currency,
        i.net,
        i.tax,
        i.total,
        i.rounding,
        i.reason,
        i.document,
        i.document_sha256,
    ]


def _row(row: Any) -> InvoiceRow:
    """An invoice as read, its document checked against the digest frozen at issue.

    Raises:
        ConflictError: ``INVOICE_ALTERED`` when the document no longer has that digest.
    """
    found = InvoiceRow(**row._mapping)
    if hashlib.sha256(found.document.encode()).hexdigest() != found.document_sha256:
        raise ConflictError(
            "INVOICE_ALTERED",
            f"invoice {found.number} ({found.account}, {found.period}) was altered in the store"
            " after it was issued: its document no longer has the SHA-256 frozen at issue;"
            " it is not shown or exported (run `ratebook audit verify --deep`)",
        )
    return found


def list_invoices(
    conn: Connection,
    entity_id: int,
    *,
    period: str | None = None,
    account: str | None = None,
) -> list[InvoiceRow]:
    """Issued invoices by number."""
    i = invoices.c
    statement = (
        select(*_columns())
        .select_from(invoices.join(customers, customers.c.id == i.customer_id))
        .where(i.entity_id == entity_id)
        .order_by(i.number)
    )
    if period is not None:
        statement = statement.where(i.period == period)
    if account is not None:
        statement = statement.where(customers.c.account == account)
    return [_row(r) for r in conn.execute(statement)]


def get_invoice(conn: Connection, entity_id: int, number: int) -> InvoiceRow | None:
    """The invoice with ``number`` in the entity, or None."""
    i = invoices.c
    row = conn.execute(
        select(*_columns())
        .select_from(invoices.join(customers, customers.c.id == i.customer_id))
        .where(i.entity_id == entity_id, i.number == number)
    ).first()
    return None if row is None else _row(row)


def invoice_for(conn: Connection, entity_id: int, account: str, period: str) -> InvoiceRow | None:
    """The customer's invoice of ``period``, or None."""
    found = list_invoices(conn, entity_id, period=period, account=account)
    return found[0] if found else None


def add_delivery(conn: Connection, values: dict[str, Any]) -> None:
    """Log one delivery attempt."""
    conn.execute(insert(invoice_deliveries).values(**values))


def delivered_to(conn: Connection, entity_id: int, url: str) -> set[int]:
    """Ids of the entity's invoices delivered to ``url`` already."""
    d = invoice_deliveries.c
    rows = conn.execute(
        select(d.invoice_id).where(d.entity_id == entity_id, d.url == url, d.outcome == "delivered")
    ).scalars()
    return {int(i) for i in rows}


def deliveries(conn: Connection, invoice_id: int) -> list[dict[str, Any]]:
    """The delivery log of an invoice, oldest first."""
    d = invoice_deliveries.c
    rows = conn.execute(
        select(
            d.url, d.idempotency_key, d.attempt, d.status_code, d.outcome, d.error, d.attempted_at
        )
        .where(d.invoice_id == invoice_id)
        .order_by(d.id)
    )
    return [dict(r._mapping) for r in rows]


def line_ids(conn: Connection, invoice_id: int) -> dict[int, int]:
    """The store keys of an invoice's lines, by line number (what lineage is asked by)."""
    li = invoice_lines.c
    rows = conn.execute(select(li.line_no, li.id).where(li.invoice_id == invoice_id))
    return {int(no): int(pk) for no, pk in rows}
