"""Disputes and their append-only event history (comments and status changes)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from ratebook.store.tables import (
    customers,
    dispute_events,
    disputes,
    import_batches,
    invoice_lines,
    invoices,
    rated_charges,
    record_keys,
    usage_records,
)


def next_number(conn: Connection, entity_id: int) -> int:
    """The entity's next dispute number (the caller holds the entity's lock or writes first)."""
    found = conn.execute(
        select(func.max(disputes.c.number)).where(disputes.c.entity_id == entity_id)
    ).scalar_one()
    return int(found or 0) + 1


def add(conn: Connection, **values: Any) -> int:
    """Store a new dispute; returns its id."""
    result = conn.execute(insert(disputes).values(**values))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def add_event(conn: Connection, **values: Any) -> None:
    """Append to a dispute's history (never updated, never deleted)."""
    conn.execute(insert(dispute_events).values(**values))


def update_dispute(conn: Connection, dispute_id: int, **values: Any) -> None:
    """Change a dispute's status columns."""
    conn.execute(update(disputes).where(disputes.c.id == dispute_id).values(**values))


def get(conn: Connection, entity_id: int, number: int) -> dict[str, Any] | None:
    """A dispute by its number, with the customer's account."""
    d = disputes.c
    row = conn.execute(
        select(disputes, customers.c.account, customers.c.name.label("customer_name"))
        .select_from(disputes.join(customers, customers.c.id == d.customer_id))
        .where(d.entity_id == entity_id, d.number == number)
    ).first()
    return None if row is None else dict(row._mapping)


def events(conn: Connection, dispute_id: int) -> list[dict[str, Any]]:
    """A dispute's history in order."""
    e = dispute_events.c
    rows = conn.execute(
        select(dispute_events).where(e.dispute_id == dispute_id).order_by(e.at, e.id)
    ).all()
    return [dict(r._mapping) for r in rows]


def find(
    conn: Connection,
    entity_id: int,
    *,
    status: str | None = None,
    account: str | None = None,
) -> list[dict[str, Any]]:
    """Disputes by number, filtered."""
    d = disputes.c
    statement = (
        select(disputes, customers.c.account)
        .select_from(disputes.join(customers, customers.c.id == d.customer_id))
        .where(d.entity_id == entity_id)
        .order_by(d.number)
    )
    if status is not None:
        statement = statement.where(d.status == status)
    if account is not None:
        statement = statement.where(customers.c.account == account)
    return [dict(r._mapping) for r in conn.execute(statement)]


def records_by_id(
    conn: Connection, entity_id: int, record_id: str, origin: str | None
) -> list[dict[str, Any]]:
    """Stored records with this id (one per origin), with their current charge if rated."""
    r, c, k = usage_records.c, rated_charges.c, record_keys.c
    statement = (
        select(
            r.id.label("record_pk"),
            r.origin,
            r.record_id,
            r.service,
            r.customer_id,
            r.status,
            c.charge,
            import_batches.c.source_name,
            r.source_line,
        )
        .select_from(
            record_keys.join(usage_records, r.id == k.record_pk)
            .join(import_batches, import_batches.c.id == r.batch_id)
            .outerjoin(rated_charges, (c.record_pk == r.id) & c.superseded_by.is_(None))
        )
        .where(k.entity_id == entity_id, k.record_id == record_id)
        .order_by(k.origin)
    )
    if origin is not None:
        statement = statement.where(k.origin == origin)
    return [dict(x._mapping) for x in conn.execute(statement)]


def invoice_line(conn: Connection, entity_id: int, line_id: int) -> dict[str, Any] | None:
    """An invoice line with its invoice's number and customer."""
    li, i = invoice_lines.c, invoices.c
    row = conn.execute(
        select(
            li.id,
            li.kind,
            li.category,
            li.description,
            li.amount,
            i.id.label("invoice_id"),
            i.number,
            i.customer_id,
        )
        .select_from(invoice_lines.join(invoices, i.id == li.invoice_id))
        .where(li.entity_id == entity_id, li.id == line_id)
    ).first()
    return None if row is None else dict(row._mapping)


def invoice_facts(conn: Connection, entity_id: int, number: int) -> dict[str, Any] | None:
    """An invoice's id, customer, net, and the category of its largest line."""
    i, li = invoices.c, invoice_lines.c
    row = conn.execute(
        select(i.id, i.customer_id, i.net).where(i.entity_id == entity_id, i.number == number)
    ).first()
    if row is None:
        return None
    category = conn.execute(
        select(li.category)
        .where(li.invoice_id == row.id)
        .order_by(li.amount.desc(), li.line_no)
        .limit(1)
    ).scalar_one_or_none()
    return {**dict(row._mapping), "category": category or "*"}
