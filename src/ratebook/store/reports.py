"""What a regulatory report reads (a period's current charges with their records, its credits
and adjustments, its pending exceptions, the ledger's own sums to reconcile with) and the
append-only filings it is recorded by."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import (
    Connection,
    Select,
    and_,
    case,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
)

from ratebook.store.frames import streamed_frames
from ratebook.store.tables import (
    customer_identifiers,
    customers,
    disputes,
    exceptions,
    invoice_lines,
    invoices,
    ledger_postings,
    rated_charges,
    regulatory_filings,
    usage_records,
)

#: Credits and adjustments of the period. Those of a record (an upheld dispute on it) carry
#: the record's service, unit, direction, numbers and attributes; the others only
#: ``service`` (the posting's category) and ``segment``. ``credit`` is positive for money
#: given back.
CREDIT_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),  # dispute | posting | invoice_line
    "reference": pl.String(),  # the dispute number, posting or invoice line id
    "customer_id": pl.Int64(),
    "segment": pl.String(),
    "service": pl.String(),
    "unit": pl.String(),
    "direction": pl.String(),
    "caller": pl.String(),
    "destination": pl.String(),
    "attributes": pl.String(),
    "credit": pl.Int64(),
}

#: Exceptions of the period still waiting for review, by code and unit.
PENDING_SCHEMA: dict[str, pl.DataType] = {
    "code": pl.String(),
    "unit": pl.String(),
    "records": pl.Int64(),
    "quantity": pl.Int64(),
}

#: The posting kinds a report counts as credits and adjustments (negated: a credit posts
#: a negative amount).
CREDIT_KINDS = ("credit", "adjustment", "volume_settlement")


def _invoices_issued(entity_id: int, start: datetime, end: datetime) -> Select[Any]:
    """Ids of the entity's invoices issued in ``[start, end)``."""
    i = invoices.c
    return select(i.id).where(i.entity_id == entity_id, i.issued_at >= start, i.issued_at < end)


def _usage_where(
    statement: Select[Any],
    entity_id: int,
    period: str,
    basis: str,
    bounds: tuple[datetime, datetime],
) -> Select[Any]:
    c = rated_charges.c
    if basis == "usage":
        return statement.where(
            c.entity_id == entity_id, c.period == period, c.superseded_by.is_(None)
        )
    lines = select(invoice_lines.c.id).where(
        invoice_lines.c.invoice_id.in_(_invoices_issued(entity_id, *bounds))
    )
    return statement.where(c.entity_id == entity_id, c.invoice_line_id.in_(lines))


#: A period's charges, grouped in the database (``grouped_usage``): the group's key, then
#: its sums. ``destination`` and ``caller`` hold only as many leading
#: characters as the profile's prefixes need (null when it needs none); ``on_net`` is 1
#: where the destination is a number one of the entity's customers holds; ``ids`` is the sum
#: of the group's charge ids.
GROUPED_SCHEMA: dict[str, pl.DataType] = {
    "segment": pl.String(),
    "service": pl.String(),
    "unit": pl.String(),
    "direction": pl.String(),
    "region": pl.String(),
    "number_type": pl.String(),
    "attributes": pl.String(),
    "on_net": pl.Int64(),
    "destination": pl.String(),
    "caller": pl.String(),
    "records": pl.Int64(),
    "answered": pl.Int64(),
    "quantity": pl.Int64(),
    "billed_quantity": pl.Int64(),
    "gross": pl.Int64(),
    "ids": pl.Int64(),
}


def grouped_usage(
    conn: Connection,
    entity_id: int,
    *,
    period: str,
    basis: str,
    bounds: tuple[datetime, datetime],
    attribute: str | None,
    on_net: bool,
    destination_chars: int,
    caller_chars: int,
) -> Iterator[pl.DataFrame]:
    """The report's charges, summed in the database per ``GROUPED_SCHEMA``'s key. A record
    stored without its destination's region and type (before they were kept) is grouped by
    its whole destination, for the report to classify.
    ``attribute``: the attributes are kept (in the key) for records that name it;
    ``on_net``: whether to tell calls to the entity's own customers apart;
    ``destination_chars``, ``caller_chars``: the leading characters kept of each (0: none).
    """
    c, r, k = rated_charges.c, usage_records.c, customers.c
    naming = f'%"{attribute}"%' if attribute else None
    ci = customer_identifiers.c
    held = select(ci.value).where(ci.entity_id == entity_id, ci.kind == "number")
    answered = case(
        (
            and_(
                r.quantity > 0,
                or_(r.disposition.is_(None), func.upper(r.disposition) == "ANSWERED"),
            ),
            1,
        ),
        else_=0,
    )
    keys = [
        k.segment,
        r.service,
        r.unit,
        r.direction,
        r.destination_region,
        r.destination_type,
        case((r.attributes.like(naming), r.attributes), else_=null()) if naming else null(),
        case((r.destination.in_(held), 1), else_=0) if on_net else literal(0),
        # a record stored without its destination's kind keeps its whole number, to be
        # classified as the report reads it
        case(
            (r.destination_type.is_(None), r.destination),
            else_=func.substr(r.destination, 1, destination_chars) if destination_chars else null(),
        ),
        func.substr(r.caller, 1, caller_chars) if caller_chars else null(),
    ]
    labelled = [key.label(name) for key, name in zip(keys, GROUPED_SCHEMA, strict=False)]
    statement = (
        select(
            *labelled,
            func.count(),
            func.sum(answered),
            func.sum(r.quantity),
            func.sum(c.billed_quantity),
            func.sum(c.charge),
            func.sum(c.id),
        )
        .select_from(
            rated_charges.join(usage_records, r.id == c.record_pk).join(
                customers, k.id == c.customer_id
            )
        )
        # by position: a key's name could be read as a column of the tables, and its
        # expression repeated would carry parameters of its own
        .group_by(*[literal_column(str(n)) for n in range(1, len(labelled) + 1)])
    )
    statement = _usage_where(statement, entity_id, period, basis, bounds)
    yield from streamed_frames(conn, statement, GROUPED_SCHEMA)


def credit_rows(
    conn: Connection,
    entity_id: int,
    *,
    period: str,
    basis: str,
    bounds: tuple[datetime, datetime],
) -> pl.DataFrame:
    """The period's credits and adjustments (``CREDIT_SCHEMA``).

    ``usage``: the postings of kinds ``CREDIT_KINDS`` to ``period``; an upheld dispute's
    credit on a record carries that record. ``invoice``: the credit, adjustment and volume
    settlement lines of the invoices issued in ``bounds``."""
    k = customers.c
    if basis == "invoice":
        li = invoice_lines.c
        i = invoices.c
        rows = conn.execute(
            select(
                literal("invoice_line"),
                li.id,
                i.customer_id,
                k.segment,
                func.coalesce(li.service, li.category),
                li.amount,
            )
            .select_from(
                invoice_lines.join(invoices, i.id == li.invoice_id).join(
                    customers, k.id == i.customer_id
                )
            )
            .where(
                li.invoice_id.in_(_invoices_issued(entity_id, *bounds)),
                li.kind.in_(CREDIT_KINDS),
            )
            .order_by(li.id)
        ).all()
        return pl.DataFrame(
            [
                (str(s), str(ref), cust, seg, svc, None, None, None, None, None, -int(amount))
                for s, ref, cust, seg, svc, amount in rows
            ],
            schema=CREDIT_SCHEMA,
            orient="row",
        )
    p, d, r = ledger_postings.c, disputes.c, usage_records.c
    postings = conn.execute(
        select(p.id, p.customer_id, k.segment, p.category, p.memo, p.amount)
        .select_from(ledger_postings.join(customers, k.id == p.customer_id))
        .where(p.entity_id == entity_id, p.period == period, p.kind.in_(CREDIT_KINDS))
        .order_by(p.id)
    ).all()
    # an upheld dispute on a record, credited to this period: the record it was about
    on_records = {
        (int(row.customer_id), int(row.credit), str(row.number)): row
        for row in conn.execute(
            select(
                d.number,
                d.customer_id,
                d.credit,
                r.service,
                r.unit,
                r.direction,
                r.caller,
                r.destination,
                r.attributes,
            )
            .select_from(disputes.join(usage_records, r.id == d.record_pk))
            .where(
                d.entity_id == entity_id,
                d.credit_period == period,
                d.outcome == "upheld",
                d.credit > 0,
            )
        )
    }
    out = []
    for posting_id, customer_id, segment, category, memo, amount in postings:
        found = None
        for number_key in on_records:
            customer, credit, number = number_key
            if (
                customer == customer_id
                and credit == -amount
                and (memo or "").startswith(f"Credit for dispute {number}:")
            ):
                found = on_records.pop(number_key)
                break
        if found is not None:
            out.append(
                (
                    "dispute",
                    str(found.number),
                    customer_id,
                    segment,
                    found.service,
                    found.unit,
                    found.direction,
                    found.caller,
                    found.destination,
                    found.attributes,
                    -int(amount),
                )
            )
        else:
            out.append(
                (
                    "posting",
                    str(posting_id),
                    customer_id,
                    segment,
                    category,
                    None,
                    None,
                    None,
                    None,
                    None,
                    -int(amount),
                )
            )
    return pl.DataFrame(out, schema=CREDIT_SCHEMA, orient="row")


def pending_rows(conn: Connection, entity_id: int, period: str) -> pl.DataFrame:
    """Exceptions of ``period`` still open or in review (``PENDING_SCHEMA``): per code and
    unit (null where the exception holds no record), their count and quantity."""
    e, r = exceptions.c, usage_records.c
    rows = conn.execute(
        select(e.code, r.unit, func.count(), func.coalesce(func.sum(r.quantity), 0))
        .select_from(exceptions.outerjoin(usage_records, r.id == e.record_pk))
        .where(
            e.entity_id == entity_id,
            e.period == period,
            e.status.in_(("open", "in_review")),
        )
        .group_by(e.code, r.unit)
        .order_by(e.code, r.unit)
    ).all()
    return pl.DataFrame([tuple(row) for row in rows], schema=PENDING_SCHEMA, orient="row")


def ledger_sums(
    conn: Connection,
    entity_id: int,
    *,
    period: str,
    basis: str,
    bounds: tuple[datetime, datetime],
) -> dict[str, int]:
    """The ledger's own sums a report reconciles with, each by one aggregate statement:
    ``invoiced`` and ``open`` usage (current charges of the period on an invoice line or not
    yet; on the invoice basis, the usage lines of the invoices issued in ``bounds``, all
    invoiced) and ``credits`` (the credit and adjustment postings or lines, as a positive
    amount given back); and ``charges``, how many charges the report sums."""
    if basis == "invoice":
        li = invoice_lines.c
        issued = li.invoice_id.in_(_invoices_issued(entity_id, *bounds))
        usage, credits = conn.execute(
            select(
                func.coalesce(
                    func.sum(case((li.kind.in_(("usage", "late_usage")), li.amount), else_=0)), 0
                ),
                func.coalesce(func.sum(case((li.kind.in_(CREDIT_KINDS), li.amount), else_=0)), 0),
            ).where(issued)
        ).one()
        counted = select(func.count()).select_from(rated_charges)
        charges = conn.execute(_usage_where(counted, entity_id, period, basis, bounds))
        return {
            "invoiced": int(usage),
            "open": 0,
            "credits": -int(credits),
            "charges": int(charges.scalar_one()),
        }
    c, p = rated_charges.c, ledger_postings.c
    invoiced, open_, charges = conn.execute(
        select(
            func.coalesce(func.sum(case((c.invoice_line_id.is_not(None), c.charge), else_=0)), 0),
            func.coalesce(func.sum(case((c.invoice_line_id.is_(None), c.charge), else_=0)), 0),
            func.count(),
        ).where(c.entity_id == entity_id, c.period == period, c.superseded_by.is_(None))
    ).one()
    credits = conn.execute(
        select(func.coalesce(func.sum(p.amount), 0)).where(
            and_(p.entity_id == entity_id, p.period == period, p.kind.in_(CREDIT_KINDS))
        )
    ).scalar_one()
    return {
        "invoiced": int(invoiced),
        "open": int(open_),
        "credits": -int(credits),
        "charges": int(charges),
    }


def on_net_numbers(conn: Connection, entity_id: int) -> list[str]:
    """The numbers (E.164) the entity's customers hold, now or once: a call to one of them
    stays on the operator's own network."""
    ci = customer_identifiers.c
    return sorted(
        {
            str(v)
            for (v,) in conn.execute(
                select(ci.value).where(ci.entity_id == entity_id, ci.kind == "number")
            )
        }
    )


def filings(
    conn: Connection, entity_id: int, *, period: str | None = None, profile: str | None = None
) -> list[dict[str, Any]]:
    """The entity's filings, oldest first (of one period and profile, if given)."""
    f = regulatory_filings.c
    statement = select(regulatory_filings).where(f.entity_id == entity_id)
    if period is not None:
        statement = statement.where(f.period == period)
    if profile is not None:
        statement = statement.where(f.profile == profile)
    return [dict(row._mapping) for row in conn.execute(statement.order_by(f.id))]


def filing(conn: Connection, entity_id: int, filing_id: int) -> dict[str, Any] | None:
    """One filing of the entity, or None."""
    f = regulatory_filings.c
    row = conn.execute(
        select(regulatory_filings).where(f.entity_id == entity_id, f.id == filing_id)
    ).first()
    return None if row is None else dict(row._mapping)


def add_filing(conn: Connection, values: dict[str, Any]) -> int:
    """Append a filing; returns its id."""
    return int(
        conn.execute(
            insert(regulatory_filings).returning(regulatory_filings.c.id), [values]
        ).scalar_one()
    )


def purged_records(conn: Connection, entity_id: int, period: str) -> int:
    """Records with charges in ``period`` whose raw content a retention purge removed."""
    c, r = rated_charges.c, usage_records.c
    return int(
        conn.execute(
            select(func.count(func.distinct(r.id)))
            .select_from(usage_records.join(rated_charges, c.record_pk == r.id))
            .where(c.entity_id == entity_id, c.period == period, r.purged_at.is_not(None))
        ).scalar_one()
    )
