"""Lineage queries: from an invoice line to its rated records, and from a record to its
charges, their rate rows, its import batch and source line, and the invoice lines billing it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from ratebook.store.tables import (
    corrections,
    exceptions,
    import_batches,
    invoice_lines,
    invoices,
    rate_rows,
    rate_table_versions,
    rate_tables,
    rated_charges,
    record_keys,
    subscription_charges,
    subscriptions,
    usage_records,
)


def invoice_line(conn: Connection, entity_id: int, line_id: int) -> dict[str, Any] | None:
    """An invoice line with its invoice's number and period."""
    li, i = invoice_lines.c, invoices.c
    row = conn.execute(
        select(invoice_lines, i.number.label("invoice_number"), i.period.label("invoice_period"))
        .select_from(invoice_lines.join(invoices, i.id == li.invoice_id))
        .where(li.entity_id == entity_id, li.id == line_id)
    ).first()
    return None if row is None else dict(row._mapping)


def records_of_line(conn: Connection, line_id: int) -> list[int]:
    """The records whose charges an invoice line billed, by start time."""
    c, r = rated_charges.c, usage_records.c
    rows = conn.execute(
        select(r.id)
        .select_from(rated_charges.join(usage_records, r.id == c.record_pk))
        .where(c.invoice_line_id == line_id)
        .distinct()
        .order_by(r.id)
    ).scalars()
    return [int(x) for x in rows]


def fees_of_line(conn: Connection, line_id: int) -> list[dict[str, Any]]:
    """The recurring fee intervals an invoice line billed."""
    sc, s = subscription_charges.c, subscriptions.c
    rows = conn.execute(
        select(s.plan, sc.service_from, sc.service_to, sc.amount)
        .select_from(subscription_charges.join(subscriptions, s.id == sc.subscription_id))
        .where(sc.invoice_line_id == line_id)
        .order_by(sc.service_from)
    )
    return [dict(r._mapping) for r in rows]


def records_by_id(
    conn: Connection, entity_id: int, record_id: str, origin: str | None
) -> list[int]:
    """Stored records with this id (one per origin)."""
    k = record_keys.c
    statement = select(k.record_pk).where(k.entity_id == entity_id, k.record_id == record_id)
    if origin is not None:
        statement = statement.where(k.origin == origin)
    return [int(x) for x in conn.execute(statement.order_by(k.origin)).scalars()]


def record(conn: Connection, record_pk: int) -> dict[str, Any]:
    """A record with its import batch."""
    r, b = usage_records.c, import_batches.c
    row = conn.execute(
        select(
            usage_records,
            b.source_name,
            b.source_kind,
            b.format,
            b.started_at.label("imported_at"),
        )
        .select_from(usage_records.join(import_batches, b.id == r.batch_id))
        .where(r.id == record_pk)
    ).one()
    return dict(row._mapping)


def charges(conn: Connection, record_pk: int) -> list[dict[str, Any]]:
    """Every rating of a record, oldest first, with its rate table, version, row and the
    invoice line (if billed)."""
    c, v, t, w = rated_charges.c, rate_table_versions.c, rate_tables.c, rate_rows.c
    li, i = invoice_lines.c, invoices.c
    rows = conn.execute(
        select(
            c.id,
            c.period,
            c.charge,
            c.billed_quantity,
            c.unit_price,
            c.rate_unit,
            c.connect_fee,
            c.discount_ppm,
            c.prefix,
            c.band,
            c.tier,
            c.rounding_mode,
            c.rounding_places,
            c.batch_id,
            c.rated_at,
            c.superseded_by,
            c.invoice_line_id,
            t.name.label("rate_table"),
            v.effective_from,
            v.timezone.label("version_timezone"),
            v.revision,
            w.destination_name,
            li.line_no,
            i.number.label("invoice_number"),
        )
        .select_from(
            rated_charges.outerjoin(rate_tables, t.id == c.rate_table_id)
            .outerjoin(rate_table_versions, v.id == c.version_id)
            .outerjoin(rate_rows, w.id == c.rate_row_id)
            .outerjoin(invoice_lines, li.id == c.invoice_line_id)
            .outerjoin(invoices, i.id == li.invoice_id)
        )
        .where(c.record_pk == record_pk)
        .order_by(c.id)
    )
    return [dict(r._mapping) for r in rows]


def exception_of(conn: Connection, record_pk: int) -> dict[str, Any] | None:
    """The exception a record was reviewed under, if it was one."""
    x = exceptions.c
    row = conn.execute(
        select(x.id, x.code, x.status, x.resolution, x.note, x.raw).where(x.record_pk == record_pk)
    ).first()
    return None if row is None else dict(row._mapping)


def corrections_of(conn: Connection, record_pk: int) -> list[dict[str, Any]]:
    """Corrections that made or changed a record."""
    k = corrections.c
    rows = conn.execute(
        select(k.id, k.changes, k.raw, k.author, k.reason, k.created_at)
        .where(k.record_pk == record_pk)
        .order_by(k.id)
    )
    return [dict(r._mapping) for r in rows]
