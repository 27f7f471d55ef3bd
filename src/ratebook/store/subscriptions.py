"""Subscriptions (recurring plans) and the service intervals cycle closes have billed."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ratebook.billing.recurring import Billing, Interval, RecurringCharge, Subscription
from ratebook.store.seals import Seal
from ratebook.store.tables import customers, subscription_charges, subscriptions


def _subscription(row: Any) -> Subscription:
    return Subscription(
        id=row.id,
        customer_id=row.customer_id,
        reference=row.reference,
        plan=row.plan,
        fee=row.fee,
        interval=Interval(row.interval),
        billing=Billing(row.billing),
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        category=row.category,
    )


def find_subscription(conn: Connection, entity_id: int, reference: str) -> Subscription | None:
    """The subscription with the operator's ``reference``, or None."""
    s = subscriptions.c
    row = conn.execute(
        select(subscriptions).where(s.entity_id == entity_id, s.reference == reference)
    ).first()
    return None if row is None else _subscription(row)


def add_subscription(
    conn: Connection,
    entity_id: int,
    *,
    customer_id: int,
    reference: str,
    plan: str,
    fee: int,
    interval: Interval,
    billing: Billing,
    starts_on: date,
    ends_on: date | None,
    category: str,
    now: datetime,
) -> int:
    """Insert a subscription; returns its id."""
    result = conn.execute(
        insert(subscriptions).values(
            entity_id=entity_id,
            customer_id=customer_id,
            reference=reference,
            plan=plan,
            fee=fee,
            interval=interval.value,
            billing=billing.value,
            starts_on=starts_on,
            ends_on=ends_on,
            category=category,
            created_at=now,
        )
    )
    return int(result.inserted_primary_key[0]) if result.inserted_primary_key else 0


def end_subscription(conn: Connection, subscription_id: int, ends_on: date) -> None:
    """Set the last day of service."""
    conn.execute(
        update(subscriptions).where(subscriptions.c.id == subscription_id).values(ends_on=ends_on)
    )


def list_subscriptions(
    conn: Connection, entity_id: int, *, account: str | None = None
) -> list[tuple[str, Subscription]]:
    """``(account, subscription)`` pairs, by account and reference."""
    s, c = subscriptions.c, customers.c
    statement = (
        select(c.account, subscriptions)
        .select_from(subscriptions.join(customers, c.id == s.customer_id))
        .where(s.entity_id == entity_id)
        .order_by(c.account, s.reference)
    )
    if account is not None:
        statement = statement.where(c.account == account)
    return [(str(row.account), _subscription(row)) for row in conn.execute(statement)]


def all_subscriptions(conn: Connection, entity_id: int) -> list[Subscription]:
    """Every subscription of the entity."""
    s = subscriptions.c
    rows = conn.execute(select(subscriptions).where(s.entity_id == entity_id).order_by(s.id))
    return [_subscription(row) for row in rows]


def billed_intervals(conn: Connection, entity_id: int) -> dict[int, frozenset[date]]:
    """First days of service already billed, per subscription."""
    sc = subscription_charges.c
    found: dict[int, set[date]] = defaultdict(set)
    for sub_id, day in conn.execute(
        select(sc.subscription_id, sc.service_from).where(sc.entity_id == entity_id)
    ):
        found[int(sub_id)].add(day)
    return {k: frozenset(v) for k, v in found.items()}


def add_charges(
    conn: Connection,
    entity_id: int,
    period: str,
    charges: list[RecurringCharge],
    *,
    now: datetime,
    seal: Seal | None = None,
) -> None:
    """Record billed service intervals (``seal`` seals them for the close's audit entry)."""
    if charges:
        rows = [
            {
                "entity_id": entity_id,
                "subscription_id": c.subscription_id,
                "service_from": c.service_from,
                "service_to": c.service_to,
                "days": c.days,
                "interval_days": c.interval_days,
                "amount": c.amount,
                "period": period,
                "posted_at": now,
            }
            for c in charges
        ]
        if seal is not None:
            seal.add_rows("subscription_charges", rows)
        conn.execute(insert(subscription_charges), rows)


def period_charges(conn: Connection, entity_id: int, period: str) -> list[dict[str, Any]]:
    """The intervals billed by the close of ``period``, with their plan, not yet invoiced."""
    sc, s = subscription_charges.c, subscriptions.c
    rows = conn.execute(
        select(
            sc.id,
            s.customer_id,
            s.plan,
            s.category,
            sc.service_from,
            sc.service_to,
            sc.days,
            sc.interval_days,
            sc.amount,
        )
        .select_from(subscription_charges.join(subscriptions, s.id == sc.subscription_id))
        .where(sc.entity_id == entity_id, sc.period == period, sc.invoice_line_id.is_(None))
        .order_by(s.customer_id, sc.service_from, sc.id)
    )
    return [dict(row._mapping) for row in rows]
