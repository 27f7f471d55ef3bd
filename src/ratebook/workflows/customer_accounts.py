"""Customers as a caller sees them: the list, one customer with its identifiers, and the
running balance of a cycle."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from ratebook.errors import NotFoundError
from ratebook.model.holdings import Identifier
from ratebook.model.ledger import Period
from ratebook.model.parties import Entity
from ratebook.money import AMOUNT_SCALE, format_fixed
from ratebook.store import billing, parties, tariffs, usage
from ratebook.store.engine import reading
from ratebook.store.entities import get_entity

#: Posting kinds shown on their own in a balance; the others add up under ``other``.
_KINDS = ("brought_forward", "usage", "reversal", "recurring", "credit")


@dataclass(frozen=True, slots=True, kw_only=True)
class Balance:
    """A customer's cycle so far, from the ledger.

    Attributes:
        account: the customer.
        period: the cycle, ``YYYY-MM``.
        cycle_status: ``open``, or ``closed`` once the cycle was closed.
        brought_forward: what earlier cycles carried into this one (under the floor).
        usage: rated usage posted to the cycle, re-ratings included.
        recurring: recurring fees posted at close.
        credits: dispute credits (negative).
        other: any other postings (tax, rounding, carried out at close).
        balance: the sum of them all: what the cycle would bill if it closed now, before tax.
        currency: the entity's currency.
    """

    account: str
    period: str
    cycle_status: str
    brought_forward: str
    usage: str
    recurring: str
    credits: str
    other: str
    balance: str
    currency: str


def list_customers(
    engine: Engine, *, status: str | None = None, entity_code: str | None = None
) -> tuple[Entity, list[dict[str, Any]]]:
    """The entity and its customers, by account."""
    with reading(engine).connect() as conn:
        entity = get_entity(conn, entity_code)
        return entity, parties.list_customers(conn, entity.id, status=status)


def show_customer(
    engine: Engine, account: str, *, entity_code: str | None = None
) -> tuple[Entity, dict[str, Any], list[Identifier]]:
    """A customer and its identifiers.

    Raises:
        NotFoundError: ``CUSTOMER_NOT_FOUND``.
    """
    with reading(engine).connect() as conn:
        entity = get_entity(conn, entity_code)
        found = parties.list_customers(conn, entity.id, account=account)
        if not found:
            raise NotFoundError("CUSTOMER_NOT_FOUND", f"no customer {account!r}")
        return entity, found[0], parties.identifiers_of(conn, int(found[0]["id"]))


def customer_balance(
    engine: Engine,
    account: str,
    *,
    period: str | None = None,
    entity_code: str | None = None,
    now: datetime | None = None,
) -> Balance:
    """The customer's balance of ``period`` (default: the cycle ``now`` falls in, in the
    entity's zone).

    Raises:
        NotFoundError: ``CUSTOMER_NOT_FOUND``.
        InputError: ``BAD_PERIOD``.
    """
    with reading(engine).connect() as conn:
        entity = get_entity(conn, entity_code)
        if period is None:
            period = (now or datetime.now(UTC)).astimezone(entity.zone).strftime("%Y-%m")
        Period.parse(period)
        customer = parties.customer_by_account(conn, entity.id, account)
        if customer is None:
            raise NotFoundError("CUSTOMER_NOT_FOUND", f"no customer {account!r}")
        postings = billing.period_postings(conn, entity.id, period, customer_id=customer[0])
        closed = period in billing.closed_periods(conn, entity.id)
    sums = {kind: 0 for kind in (*_KINDS, "other")}
    for kind, amount in zip(postings["kind"], postings["amount"], strict=True):
        sums[kind if kind in _KINDS else "other"] += int(amount)

    def money(value: int) -> str:
        return format_fixed(value, AMOUNT_SCALE, entity.charge_places)

    return Balance(
        account=account,
        period=period,
        cycle_status="closed" if closed else "open",
        brought_forward=money(sums["brought_forward"]),
        usage=money(sums["usage"] + sums["reversal"]),
        recurring=money(sums["recurring"]),
        credits=money(sums["credit"]),
        other=money(sums["other"]),
        balance=money(sum(sums.values())),
        currency=entity.currency,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Assignment:
    """A rate table a customer is rated by, over a span.

    Attributes:
        table: the rate table's name.
        role: ``base`` or ``override``.
        discount_ppm: the customer's discount, parts per million.
        valid_from: from when (None: always).
        valid_to: until when, exclusive (None: open).
    """

    table: str
    role: str
    discount_ppm: int
    valid_from: datetime | None
    valid_to: datetime | None


def customer_assignments(
    engine: Engine, account: str, *, entity_code: str | None = None
) -> list[Assignment]:
    """The rate tables the customer is rated by, base first, by start.

    Raises:
        NotFoundError: ``CUSTOMER_NOT_FOUND``.
    """
    with reading(engine).connect() as conn:
        entity = get_entity(conn, entity_code)
        customer = parties.customer_by_account(conn, entity.id, account)
        if customer is None:
            raise NotFoundError("CUSTOMER_NOT_FOUND", f"no customer {account!r}")
        names = {t["id"]: t["name"] for t in tariffs.table_list(conn, entity.id)}
        frame = parties.load_assignments(conn, entity.id)
    mine = [row for row in frame.iter_rows(named=True) if row["customer_id"] == customer[0]]
    found = [
        Assignment(
            table=names.get(row["rate_table_id"], str(row["rate_table_id"])),
            role=row["role"],
            discount_ppm=row["discount_ppm"],
            valid_from=row["valid_from"],
            valid_to=row["valid_to"],
        )
        for row in mine
    ]
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(found, key=lambda a: (a.role != "base", a.valid_from or epoch, a.table))


def customer_records(
    engine: Engine,
    account: str,
    period: str,
    *,
    entity_code: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[Entity, list[dict[str, Any]]]:
    """A page of the customer's rated records of ``period``, by start time, with their
    current charges (integers at their scales).

    Raises:
        NotFoundError: ``CUSTOMER_NOT_FOUND``.
        InputError: ``BAD_PERIOD``.
    """
    Period.parse(period)
    with reading(engine).connect() as conn:
        entity = get_entity(conn, entity_code)
        customer = parties.customer_by_account(conn, entity.id, account)
        if customer is None:
            raise NotFoundError("CUSTOMER_NOT_FOUND", f"no customer {account!r}")
        lines = usage.statement_lines(
            conn, entity.id, customer[0], period, limit=limit, offset=offset
        )
    return entity, lines.to_dicts()
