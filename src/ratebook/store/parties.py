"""Customers, their effective-dated identifiers and rate-table assignments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy import Connection, and_, insert, select, update

from ratebook.pipeline.match import IDENTIFIER_SCHEMA
from ratebook.pipeline.rate import ASSIGNMENT_SCHEMA
from ratebook.store.frames import query_frame
from ratebook.store.reference_lock import lock_reference
from ratebook.store.tables import customer_identifiers, customers, rate_assignments


@dataclass(frozen=True, slots=True, kw_only=True)
class Identifier:
    """A way usage is tied to a customer, in force over ``[valid_from, valid_to)``.

    Attributes:
        kind: ``account``, ``number`` (an exact E.164 number) or ``prefix`` (a number prefix).
        value: the account code, or the E.164 number or prefix (with ``+``).
        valid_from: first instant in force, or None for always.
        valid_to: first instant no longer in force, or None for open-ended.
    """

    kind: str
    value: str
    valid_from: datetime | None
    valid_to: datetime | None


def upsert_customer(conn: Connection, entity_id: int, account: str, name: str) -> tuple[int, bool]:
    """The id of the customer with ``account``, created (with its account identifier) if new.

    Returns:
        ``(customer_id, created)``.
    """
    row = conn.execute(
        select(customers.c.id, customers.c.name).where(
            customers.c.entity_id == entity_id, customers.c.account == account
        )
    ).first()
    if row is not None:
        if row.name != name:
            conn.execute(update(customers).where(customers.c.id == row.id).values(name=name))
        return int(row.id), False
    lock_reference(conn, entity_id)
    now = datetime.now(UTC)
    result = conn.execute(
        insert(customers).values(
            entity_id=entity_id, account=account, name=name, status="active", created_at=now
        )
    )
    customer_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    add_identifier(
        conn,
        entity_id,
        customer_id,
        Identifier(kind="account", value=account, valid_from=None, valid_to=None),
    )
    return customer_id, True


def add_identifier(
    conn: Connection, entity_id: int, customer_id: int, identifier: Identifier
) -> bool:
    """Add an identifier unless the customer already has exactly it. Returns whether added."""
    c = customer_identifiers.c
    same = conn.execute(
        select(c.id).where(
            c.entity_id == entity_id,
            c.customer_id == customer_id,
            c.kind == identifier.kind,
            c.value == identifier.value,
            c.valid_from.is_(None)
            if identifier.valid_from is None
            else c.valid_from == identifier.valid_from,
            c.valid_to.is_(None)
            if identifier.valid_to is None
            else c.valid_to == identifier.valid_to,
        )
    ).first()
    if same is not None:
        return False
    lock_reference(conn, entity_id)
    conn.execute(
        insert(customer_identifiers).values(
            entity_id=entity_id,
            customer_id=customer_id,
            kind=identifier.kind,
            value=identifier.value,
            valid_from=identifier.valid_from,
            valid_to=identifier.valid_to,
            created_at=datetime.now(UTC),
        )
    )
    return True


def overlapping_owner(
    conn: Connection, entity_id: int, customer_id: int, identifier: Identifier
) -> str | None:
    """The account of another customer holding the same identifier over an overlapping time."""
    c = customer_identifiers.c
    conditions = [
        c.entity_id == entity_id,
        c.kind == identifier.kind,
        c.value == identifier.value,
        c.customer_id != customer_id,
    ]
    if identifier.valid_to is not None:
        conditions.append((c.valid_from.is_(None)) | (c.valid_from < identifier.valid_to))
    if identifier.valid_from is not None:
        conditions.append((c.valid_to.is_(None)) | (c.valid_to > identifier.valid_from))
    row = conn.execute(
        select(customers.c.account)
        .select_from(customer_identifiers.join(customers, customers.c.id == c.customer_id))
        .where(and_(*conditions))
        .limit(1)
    ).first()
    return None if row is None else str(row.account)


def add_assignment(
    conn: Connection,
    entity_id: int,
    customer_id: int,
    rate_table_id: int,
    valid_from: datetime | None,
    valid_to: datetime | None,
    *,
    role: str = "base",
    discount_ppm: int = 0,
) -> bool:
    """Assign a rate table (``base``, or an ``override`` whose rows win where they match) over
    ``[valid_from, valid_to)`` unless already so assigned. Returns whether it was added."""
    c = rate_assignments.c
    same = conn.execute(
        select(c.id).where(
            c.entity_id == entity_id,
            c.customer_id == customer_id,
            c.rate_table_id == rate_table_id,
            c.role == role,
            c.discount_ppm == discount_ppm,
            c.valid_from.is_(None) if valid_from is None else c.valid_from == valid_from,
            c.valid_to.is_(None) if valid_to is None else c.valid_to == valid_to,
        )
    ).first()
    if same is not None:
        return False
    lock_reference(conn, entity_id)
    conn.execute(
        insert(rate_assignments).values(
            entity_id=entity_id,
            customer_id=customer_id,
            rate_table_id=rate_table_id,
            role=role,
            discount_ppm=discount_ppm,
            valid_from=valid_from,
            valid_to=valid_to,
            created_at=datetime.now(UTC),
        )
    )
    return True


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
    """The entity's customers by account: account, name, status, floor, created and closed."""
    c = customers.c
    statement = (
        select(c.id, c.account, c.name, c.status, c.invoicing_floor, c.created_at, c.closed_at)
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
