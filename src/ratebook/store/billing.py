"""What a cycle close reads and writes: the cycle's state and lock, its ledger postings, the
charges an invoice bills, each customer's result, and the entity's tax rates."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import polars as pl
from sqlalchemy import Connection, bindparam, func, insert, literal, select, text, update

from ratebook.billing.tax import TaxRate, Treatment
from ratebook.model.ledger import next_period
from ratebook.store import driver
from ratebook.store.frames import query_frame
from ratebook.store.tables import (
    billing_cycles,
    customers,
    cycle_results,
    ledger_postings,
    rate_rows,
    rated_charges,
    subscription_charges,
    tax_rates,
    usage_records,
)

#: The first key of the PostgreSQL advisory lock a cycle close holds per entity: the hash of
#: the schema and this name, for advisory locks are the database's and two deployments in
#: one database (a schema each) must not wait for each other.
LOCK_CLASS_SQL = "hashtext(current_schema() || '/ratebook-close')"

POSTING_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.Int64(),
    "kind": pl.String(),
    "category": pl.String(),
    "source_period": pl.String(),
    "memo": pl.String(),
    "amount": pl.Int64(),
}

#: A current, not yet invoiced charge, with the cycle it belongs to and the cycle its usage
#: was posted to.
BILLABLE_SCHEMA: dict[str, pl.DataType] = {
    "charge_id": pl.Int64(),
    "customer_id": pl.Int64(),
    "period": pl.String(),
    "posted_period": pl.String(),
    "service": pl.String(),
    "unit": pl.String(),
    "destination": pl.String(),
    "band": pl.String(),
    "unit_price": pl.Int64(),
    "rate_unit": pl.Int64(),
    "billed_quantity": pl.Int64(),
    "charge": pl.Int64(),
}

CUSTOMER_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.Int64(),
    "account": pl.String(),
    "name": pl.String(),
    "status": pl.String(),
    "closed_at": pl.Datetime("us", "UTC"),
    "invoicing_floor": pl.Int64(),
}


#: The entity's close lock, shared (True) or exclusive, built once.
_LOCKS = {
    shared: text(f"SELECT {name}({LOCK_CLASS_SQL}, :k2)")
    for shared, name in ((True, "pg_advisory_xact_lock_shared"), (False, "pg_advisory_xact_lock"))
}


def lock_entity(conn: Connection, entity_id: int, *, shared: bool) -> None:
    """Hold the entity's close lock until the transaction ends: exclusive for a cycle close,
    shared for work that posts to a cycle (imports, re-rating). SQLite has one writer at a
    time, so it needs nothing more."""
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCKS[shared], {"k2": entity_id})


def cycle_row(conn: Connection, entity_id: int, period: str) -> tuple[str, datetime | None] | None:
    """``(status, closed_at)`` of the cycle, or None if it has no row."""
    c = billing_cycles.c
    row = conn.execute(
        select(c.status, c.closed_at).where(c.entity_id == entity_id, c.period == period)
    ).first()
    return None if row is None else (str(row.status), row.closed_at)


def set_cycle_status(
    conn: Connection,
    entity_id: int,
    period: str,
    status: str,
    *,
    starts_at: datetime,
    ends_at: datetime,
    closed_at: datetime | None = None,
) -> None:
    """Create the cycle's row or move it to ``status``."""
    c = billing_cycles.c
    exists = conn.execute(
        select(c.id).where(c.entity_id == entity_id, c.period == period)
    ).scalar_one_or_none()
    if exists is None:
        conn.execute(
            insert(billing_cycles).values(
                entity_id=entity_id,
                period=period,
                starts_at=starts_at,
                ends_at=ends_at,
                status=status,
                closed_at=closed_at,
            )
        )
    else:
        conn.execute(
            update(billing_cycles).where(c.id == exists).values(status=status, closed_at=closed_at)
        )


def closed_periods(conn: Connection, entity_id: int) -> set[str]:
    """Every closed cycle of the entity."""
    found = driver.rows(
        conn,
        "SELECT period FROM billing_cycles WHERE entity_id = ? AND status = 'closed'",
        (entity_id,),
    )
    return {str(period) for (period,) in found}


def unclosed_periods_before(conn: Connection, entity_id: int, period: str) -> list[str]:
    """Earlier cycles that hold postings and are not closed (a close must wait for them)."""
    p, c = ledger_postings.c, billing_cycles.c
    closed = select(c.period).where(c.entity_id == entity_id, c.status == "closed")
    rows = conn.execute(
        select(p.period)
        .where(p.entity_id == entity_id, p.period < period, p.period.not_in(closed))
        .distinct()
        .order_by(p.period)
    ).scalars()
    return [str(r) for r in rows]


def period_postings(
    conn: Connection, entity_id: int, period: str, customer_id: int | None = None
) -> pl.DataFrame:
    """The ledger postings of the period (of one customer, or all; ``POSTING_SCHEMA``), in
    posting order."""
    p = ledger_postings.c
    statement = (
        select(p.customer_id, p.kind, p.category, p.source_period, p.memo, p.amount)
        .where(p.entity_id == entity_id, p.period == period)
        .order_by(p.id)
    )
    if customer_id is not None:
        statement = statement.where(p.customer_id == customer_id)
    return query_frame(conn, statement, POSTING_SCHEMA)


#: The destination of an invoice line grouping records that no rate row priced (unanswered
#: and zero-length records, billed at zero).
NOT_CHARGED = "not charged"


def billable_charges(
    conn: Connection, entity_id: int, period: str, customer_ids: Iterable[int]
) -> pl.DataFrame:
    """Current charges posted to cycles up to ``period`` that no invoice has billed yet."""
    c, r = rated_charges.c, usage_records.c
    statement = (
        select(
            c.id,
            c.customer_id,
            c.period,
            c.posted_period,
            r.service,
            r.unit,
            # the rate row's name, or its prefix; never the number called (an invoice line
            # is not masked), and a record rated by no row (unanswered, zero) groups apart
            func.coalesce(rate_rows.c.destination_name, c.prefix, literal(NOT_CHARGED)),
            c.band,
            c.unit_price,
            c.rate_unit,
            c.billed_quantity,
            c.charge,
        )
        .select_from(
            rated_charges.join(usage_records, r.id == c.record_pk).outerjoin(
                rate_rows, rate_rows.c.id == c.rate_row_id
            )
        )
        .where(
            c.entity_id == entity_id,
            c.period <= period,
            c.posted_period <= period,
            c.superseded_by.is_(None),
            c.invoice_line_id.is_(None),
            c.customer_id.in_(bindparam("customers", expanding=True)),
        )
        .order_by(c.id)
    )
    found = []
    ids = sorted(set(customer_ids))
    for start in range(0, len(ids), 500):
        rows = conn.execute(statement, {"customers": ids[start : start + 500]}).all()
        found.append(pl.DataFrame([tuple(x) for x in rows], schema=BILLABLE_SCHEMA, orient="row"))
    return pl.concat(found) if found else pl.DataFrame(schema=BILLABLE_SCHEMA)


def customer_facts(conn: Connection, entity_id: int, customer_ids: Iterable[int]) -> pl.DataFrame:
    """Account, name, status and floor override of the customers (``CUSTOMER_SCHEMA``)."""
    c = customers.c
    ids = sorted(set(customer_ids))
    statement = (
        select(c.id, c.account, c.name, c.status, c.closed_at, c.invoicing_floor)
        .where(c.entity_id == entity_id, c.id.in_(bindparam("ids", expanding=True)))
        .order_by(c.account)
    )
    frames = []
    for start in range(0, len(ids), 500):
        rows = conn.execute(statement, {"ids": ids[start : start + 500]}).all()
        frames.append(pl.DataFrame([tuple(x) for x in rows], schema=CUSTOMER_SCHEMA, orient="row"))
    return pl.concat(frames).sort("account") if frames else pl.DataFrame(schema=CUSTOMER_SCHEMA)


def streaks(conn: Connection, entity_id: int, period: str) -> dict[int, int]:
    """Each customer's run of consecutive carried cycles ending with ``period``."""
    r = cycle_results.c
    rows = conn.execute(
        select(r.customer_id, r.streak).where(
            r.entity_id == entity_id, r.period == period, r.outcome == "carried"
        )
    )
    return {int(c): int(s) for c, s in rows}


def add_results(conn: Connection, results: list[dict[str, object]]) -> None:
    """Record each customer's close outcome."""
    if results:
        conn.execute(insert(cycle_results), results)


def link_charges(conn: Connection, links: list[dict[str, int]]) -> None:
    """Set ``invoice_line_id`` on charges (``{"charge_id", "line_id"}``); set once."""
    if links:
        c = rated_charges.c
        conn.execute(
            update(rated_charges)
            .where(c.id == bindparam("charge_id"), c.invoice_line_id.is_(None))
            .values(invoice_line_id=bindparam("line_id")),
            links,
        )


def link_subscription_charges(conn: Connection, links: list[dict[str, int]]) -> None:
    """Set ``invoice_line_id`` on billed subscription intervals (``{"sc_id", "line_id"}``)."""
    if links:
        s = subscription_charges.c
        conn.execute(
            update(subscription_charges)
            .where(s.id == bindparam("sc_id"), s.invoice_line_id.is_(None))
            .values(invoice_line_id=bindparam("line_id")),
            links,
        )


# ----------------------------------------------------------------------------- tax rates


def load_tax_rates(conn: Connection, entity_id: int) -> dict[str, TaxRate]:
    """The entity's tax rates by category."""
    t = tax_rates.c
    return {
        str(row.category): TaxRate(
            category=row.category,
            treatment=Treatment(row.treatment),
            rate_ppm=row.rate_ppm,
            label=row.label,
        )
        for row in conn.execute(select(tax_rates).where(t.entity_id == entity_id))
    }


def set_tax_rate(conn: Connection, entity_id: int, rate: TaxRate, *, now: datetime) -> None:
    """Create or replace the rate of a category."""
    t = tax_rates.c
    conn.execute(tax_rates.delete().where(t.entity_id == entity_id, t.category == rate.category))
    conn.execute(
        insert(tax_rates).values(
            entity_id=entity_id,
            category=rate.category,
            treatment=rate.treatment.value,
            rate_ppm=rate.rate_ppm,
            label=rate.label,
            created_at=now,
        )
    )


def cycle_result(
    conn: Connection, entity_id: int, customer_id: int, period: str
) -> dict[str, object] | None:
    """The customer's close outcome of ``period``, or None (not closed, or no activity)."""
    r = cycle_results.c
    row = conn.execute(
        select(cycle_results).where(
            r.entity_id == entity_id, r.customer_id == customer_id, r.period == period
        )
    ).first()
    return None if row is None else dict(row._mapping)


def next_open_period(conn: Connection, entity_id: int, today: str) -> str:
    """The cycle the next close bills: the one after the last closed cycle; with none closed,
    the earliest cycle holding postings, or ``today``'s (YYYY-MM) when there are none."""
    closed = closed_periods(conn, entity_id)
    if closed:
        return next_period(max(closed))
    p = ledger_postings.c
    earliest = conn.execute(
        select(func.min(p.period)).where(p.entity_id == entity_id)
    ).scalar_one_or_none()
    return min(str(earliest), today) if earliest else today
