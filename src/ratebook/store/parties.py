"""Customers, their effective-dated identifiers and rate-table assignments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Connection, bindparam, insert, select, update

from ratebook.model.holdings import Assignment, Holdings, Identifier
from ratebook.model.parties import ASSIGNMENT_SCHEMA, IDENTIFIER_SCHEMA
from ratebook.store.frames import query_frame
from ratebook.store.reference_lock import lock_reference
from ratebook.store.tables import customer_identifiers, customers, rate_assignments


def customer_accounts(conn: Connection, entity_id: int) -> dict[str, tuple[int, str]]:
    """``{account: (id, name)}`` of every customer of the entity."""
    rows = conn.execute(
        select(customers.c.account, customers.c.id, customers.c.name).where(
            customers.c.entity_id == entity_id
        )
    )
    return {str(r.account): (int(r.id), str(r.name)) for r in rows}


def add_customers(
    conn: Connection, entity_id: int, named: list[tuple[str, str]], *, now: datetime
) -> dict[str, int]:
    """Create customers (``(account, name)``, accounts new to the entity), each with its
    account identifier. Returns ``{account: id}``."""
    if not named:
        return {}
    lock_reference(conn, entity_id)
    created = conn.execute(
        insert(customers).returning(
            customers.c.id, customers.c.account, sort_by_parameter_order=True
        ),
        [
            {
                "entity_id": entity_id,
                "account": account,
                "name": name,
                "status": "active",
                "created_at": now,
            }
            for account, name in named
        ],
    )
    ids = {str(r.account): int(r.id) for r in created}
    add_identifiers(
        conn,
        entity_id,
        [
            (customer_id, Identifier(kind="account", value=account, valid_from=None, valid_to=None))
            for account, customer_id in ids.items()
        ],
        now=now,
    )
    return ids


def rename_customers(conn: Connection, names: list[tuple[int, str]]) -> None:
    """Give customers (``(id, name)``) new names."""
    if names:
        conn.execute(
            update(customers)
            .where(customers.c.id == bindparam("customer_id"))
            .values(name=bindparam("new_name")),
            [{"customer_id": customer_id, "new_name": name} for customer_id, name in names],
        )


def set_segments(conn: Connection, segments: list[tuple[int, str]]) -> int:
    """Give customers (``(id, segment)``) their segment; returns how many changed."""
    changed = 0
    for customer_id, segment in segments:
        changed += conn.execute(
            update(customers)
            .where(customers.c.id == customer_id, customers.c.segment != segment)
            .values(segment=segment)
        ).rowcount
    return changed


def add_identifiers(
    conn: Connection, entity_id: int, held: list[tuple[int, Identifier]], *, now: datetime
) -> None:
    """Add identifiers (``(customer_id, identifier)``), checked by the caller
    (``model.holdings``)."""
    if not held:
        return
    lock_reference(conn, entity_id)
    conn.execute(
        insert(customer_identifiers),
        [
            {
                "entity_id": entity_id,
                "customer_id": customer_id,
                "kind": identifier.kind,
                "value": identifier.value,
                "valid_from": identifier.valid_from,
                "valid_to": identifier.valid_to,
                "created_at": now,
            }
            for customer_id, identifier in held
        ],
    )


def add_assignments(
    conn: Connection, entity_id: int, assignments: list[Assignment], *, now: datetime
) -> None:
    """Add rate-table assignments, checked by the caller (``model.holdings``)."""
    if not assignments:
        return
    lock_reference(conn, entity_id)
    conn.execute(
        insert(rate_assignments),
        [
            {
                "entity_id": entity_id,
                "customer_id": a.customer_id,
                "rate_table_id": a.rate_table_id,
                "role": a.role,
                "discount_ppm": a.discount_ppm,
                "valid_from": a.valid_from,
                "valid_to": a.valid_to,
                "created_at": now,
            }
            for a in assignments
        ],
    )


def holdings(conn: Connection, entity_id: int) -> Holdings:
    """What the entity's customers hold now: every identifier and assignment."""
    held = Holdings()
    for row in load_identifiers(conn, entity_id).iter_rows(named=True):
        held.hold(
            row["customer_id"],
            row["account"],
            Identifier(
                kind=row["kind"],
                value=row["value"],
                valid_from=row["valid_from"],
                valid_to=row["valid_to"],
            ),
        )
    for row in load_assignments(conn, entity_id).iter_rows(named=True):
        held.assign(Assignment(**row))
    return held


def load_identifiers(conn: Connection, entity_id: int) -> pl.DataFrame:
    """Every identifier of the entity, as the matcher wants them."""
    c = customer_identifiers.c
    statement = (
        select(c.customer_id, customers.c.account, c.kind, c.value, c.valid_from, c.valid_to)
        .select_from(customer_identifiers.join(customers, customers.c.id == c.customer_id))
        .where(c.entity_id == entity_id)
    )
    return query_frame(conn, statement, IDENTIFIER_SCHEMA)


def load_assignments(conn: Connection, entity_id: int) -> pl.DataFrame:
    """Every rate-table assignment of the entity, base and override."""
    c = rate_assignments.c
    statement = select(
        c.customer_id, c.rate_table_id, c.role, c.discount_ppm, c.valid_from, c.valid_to
    ).where(c.entity_id == entity_id)
    return query_frame(conn, statement, ASSIGNMENT_SCHEMA)


def customer_by_account(conn: Connection, entity_id: int, account: str) -> tuple[int, str] | None:
    """``(id, name)`` of the customer with ``account``, or None."""
    row = conn.execute(
        select(customers.c.id, customers.c.name).where(
            customers.c.entity_id == entity_id, customers.c.account == account
        )
    ).first()
    return None if row is None else (int(row.id), str(row.name))


def close_customer(conn: Connection, customer_id: int, closed_at: datetime) -> None:
    """Mark an account closed from ``closed_at`` (its next close issues a final invoice)."""
    conn.execute(
        update(customers)
        .where(customers.c.id == customer_id)
        .values(status="closed", closed_at=closed_at)
    )


def set_customer_floor(conn: Connection, customer_id: int, floor: int | None) -> None:
    """Override the entity's invoicing floor for one customer (None: use the entity's)."""
    conn.execute(
        update(customers).where(customers.c.id == customer_id).values(invoicing_floor=floor)
    )


def list_customers(
    conn: Connection, entity_id: int, *, status: str | None = None, account: str | None = None
) -> list[dict[str, Any]]:
    """The entity's customers by account: account, name, status, segment, floor, created and
    closed."""
    c = customers.c
    statement = (
        select(
            c.id,
            c.account,
            c.name,
            c.status,
            c.segment,
            c.invoicing_floor,
            c.created_at,
            c.closed_at,
        )
        .where(c.entity_id == entity_id)
        .order_by(c.account)
    )
    if status is not None:
        statement = statement.where(c.status == status)
    if account is not None:
        statement = statement.where(c.account == account)
    return [dict(r._mapping) for r in conn.execute(statement)]


def identifiers_of(conn: Connection, customer_id: int) -> list[Identifier]:
    """A customer's identifiers, in force or not, by kind, value and start."""
    i = customer_identifiers.c
    rows = conn.execute(
        select(i.kind, i.value, i.valid_from, i.valid_to)
        .where(i.customer_id == customer_id)
        .order_by(i.kind, i.value, i.valid_from)
    )
    return [
        Identifier(kind=r.kind, value=r.value, valid_from=r.valid_from, valid_to=r.valid_to)
        for r in rows
    ]
