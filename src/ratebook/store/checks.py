"""The ledger's invariants, checked against the rows the store holds.

Each check reads aggregates (the database sums, the check compares) and names every violation:

* ``USAGE_NOT_POSTED``: the current charges posted to a customer-cycle differ from the
  cycle's usage postings (``usage``, ``reversal``, ``late_usage``);
* ``RECORD_NOT_CHARGED``: a rated record without exactly one current charge, or a current
  charge of a record that is not rated;
* ``USAGE_TOTALS_DRIFT``: a cycle's running total (``usage_totals``) differs from its charges;
* ``CHARGE_PLACE_DRIFT``: a charge's copy of its record's place (service, unit, start, origin,
  id), by which late records are placed, differs from the record;
* ``CARRIED_NOT_BROUGHT_FORWARD``: what a close carried differs from what the next cycle
  brought forward, per customer and category;
* ``CLOSED_CYCLE_UNBALANCED``: a closed customer-cycle's postings do not sum to its invoice's
  total (or to nothing, when its balance was carried);
* ``INVOICE_LINES_DIFFER``: an invoice's net differs from its lines, or its total and
  rounding from its net and tax;
* ``INVOICE_ALTERED``: an invoice's document no longer has the digest frozen at issue;
* ``ROW_IDENTITY_BROKEN``: a batch's rows read differ from rated + duplicates + exceptions, or
  its counts from the exceptions it holds.

``require_posted`` is the check a re-rating runs on the customer-cycles it touched, so that a
re-rating that would break the first invariant rolls back instead of committing (a booking of
new records holds what it wrote to the postings it made: ``intake.book.Ledger.post``).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import (
    ARRAY,
    BindParameter,
    Connection,
    String,
    any_,
    bindparam,
    func,
    literal,
    or_,
    select,
    union_all,
)

from ratebook.errors import ConflictError
from ratebook.model.ledger import next_period
from ratebook.money import AMOUNT_SCALE, format_fixed
from ratebook.store.frames import query_frame
from ratebook.store.review import NO_ROWS, row_identity
from ratebook.store.tables import (
    billing_cycles,
    customers,
    cycle_results,
    exceptions,
    import_batches,
    invoice_lines,
    invoices,
    ledger_postings,
    rated_charges,
    usage_records,
    usage_totals,
)

#: Ledger kinds that carry rated usage (their sum is the sum of the charges they post).
USAGE_KINDS = ("usage", "reversal", "late_usage")

_BATCH = 500  # customers per query
#: From this many customers, ``_posted_usage`` reads their periods whole, in one statement,
#: when they are also at least ``_ONE_PASS_SHARE`` of the periods' customers (numerator,
#: denominator): below it, their own index ranges read less. Measured on the bench's month
#: (20,000 customers, a million charges): a third on PostgreSQL, where 5,000 customers read
#: alike either way and 10,000 in one pass in two thirds of the time; two thirds on SQLite,
#: where 10,000 customers' ranges take two thirds of one pass.
_ONE_PASS_FROM = 2_000
_ONE_PASS_SHARE = {"postgresql": (1, 3), "sqlite": (2, 3)}
_SHOWN = 100  # violations named per check at most


@dataclass(frozen=True, slots=True, kw_only=True)
class Violation:
    """One broken invariant.

    Attributes:
        code: which invariant (see the module's list).
        subject: what breaks it, e.g. ``customer C0082, cycle 2026-11`` or ``invoice 12``.
        detail: what was expected and what was found.
    """

    code: str
    subject: str
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Checked:
    """What ``check_store`` looked at and found.

    Attributes:
        customer_cycles, invoices, batches: how many of each were checked.
        violations: every violation found (at most ``_SHOWN`` of each code).
    """

    customer_cycles: int
    invoices: int
    batches: int
    violations: list[Violation]


def money(value: int) -> str:
    """An amount (``AMOUNT_SCALE``) as violations show it, e.g. ``1.30``."""
    return format_fixed(value, AMOUNT_SCALE, None, min_places=2)


def _chunks(values: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(values), _BATCH):
        yield list(values[start : start + _BATCH])


_SUMS = {"customer_id": pl.Int64(), "period": pl.String(), "amount": pl.Int64()}

#: Per customer and cycle: an amount.
Sums = dict[tuple[int, str], int]


@functools.cache
def _sums_statement(postgres: bool, scope: str) -> Any:
    """``_posted_usage``'s statement, built once: of the entity's every customer-cycle
    (``scope`` ``all``), of ``:periods`` (``periods``), or of ``:customers`` in ``:periods``
    (``customers``); parameter ``entity`` besides."""
    p, c = ledger_postings.c, rated_charges.c
    entity: BindParameter[int] = bindparam("entity")
    posted = (
        select(p.customer_id, p.period, func.sum(p.amount), literal("posted"))
        .where(p.entity_id == entity, p.kind.in_(USAGE_KINDS))
        .group_by(p.customer_id, p.period)
    )
    charged = (
        select(c.customer_id, c.posted_period, func.sum(c.charge), literal("charged"))
        .where(c.entity_id == entity, c.superseded_by.is_(None))
        .group_by(c.customer_id, c.posted_period)
    )
    if scope == "all":
        return union_all(posted, charged)
    periods: BindParameter[list[str]] = bindparam("periods", expanding=True)
    of_customers = (
        () if scope == "periods" else (p.customer_id.in_(bindparam("customers", expanding=True)),)
    )
    # the charges posted to a cycle are of the cycle itself or, as late usage, of the
    # earlier cycles its late-usage postings name: asking for those periods (of these
    # customers' postings) keeps to the indexes
    of_late = (
        p.entity_id == entity,
        *of_customers,
        p.period.in_(periods),
        p.kind == "late_usage",
        p.source_period.is_not(None),
    )
    if postgres:
        # one array of the periods and the late ones (an InitPlan): the charges' index
        # probes a customer's period partitions by it, where an OR with the late periods'
        # subquery would read every charge of the customers in every period
        late_periods = select(func.array_agg(p.source_period)).where(*of_late)
        of_period = c.period == any_(
            func.array_cat(
                bindparam("period_array", type_=ARRAY(String)), late_periods.scalar_subquery()
            )
        )
    else:
        of_period = or_(
            c.period.in_(periods), c.period.in_(select(p.source_period).where(*of_late))
        )
    mine = posted.where(*of_customers, p.period.in_(periods))
    theirs = charged.where(of_period, c.posted_period.in_(periods))
    if scope == "customers":
        theirs = theirs.where(c.customer_id.in_(bindparam("customers", expanding=True)))
    return union_all(mine, theirs)


def _posted_usage(
    conn: Connection, entity_id: int, customer_ids: list[int] | None, periods: list[str] | None
) -> tuple[Sums, Sums]:
    """Usage postings and current charges summed per customer and cycle posted to, of
    ``customer_ids`` and ``periods`` (None: all; more than ``_ONE_PASS_FROM`` customers who
    are ``_ONE_PASS_SHARE`` of the periods' or more: every customer of the periods, the caller
    keeping those it asked about).

    Both sums come from one statement, so from one snapshot of the store: at PostgreSQL's
    read committed, two statements could see a writer beside this one commit in between
    (its postings missed by the first, its charges counted by the second) and report a
    difference that never was."""
    postgres = conn.dialect.name == "postgresql"
    runs: list[tuple[Any, dict[str, Any]]] = []
    if periods is None or customer_ids is None:
        runs.append((_sums_statement(postgres, "all"), {"entity": entity_id}))
    else:
        # many customers (an import's) are read in one pass over the periods, a few by
        # their own index ranges: a statement per 500 of an import's 20,000 customers had
        # PostgreSQL scan the period's charges forty times
        many = len(customer_ids) > _ONE_PASS_FROM and _most_of(
            conn, entity_id, periods, len(customer_ids)
        )
        for some in [None] if many else _chunks(customer_ids):
            runs.append(
                (
                    _sums_statement(postgres, "periods" if some is None else "customers"),
                    {
                        "entity": entity_id,
                        "periods": periods,
                        "period_array": periods,
                        "customers": some,
                    },
                )
            )
    sums: dict[str, Sums] = {"posted": {}, "charged": {}}
    for statement, parameters in runs:
        for customer_id, period, amount, side in conn.execute(statement, parameters):
            sums[side][(int(customer_id), str(period))] = int(amount)
    return sums["posted"], sums["charged"]


def _most_of(conn: Connection, entity_id: int, periods: list[str], customers: int) -> bool:
    """Whether ``customers`` customers are at least ``_ONE_PASS_SHARE`` of those with usage
    in ``periods`` (their running totals, counted)."""
    t = usage_totals.c
    held = conn.execute(
        select(func.count(t.customer_id.distinct())).where(
            t.entity_id == entity_id, t.period.in_(periods)
        )
    ).scalar_one()
    numerator, denominator = _ONE_PASS_SHARE.get(conn.dialect.name, (1, 3))
    return customers * denominator >= int(held) * numerator


def unposted_usage(
    conn: Connection, entity_id: int, touched: pl.DataFrame | None = None
) -> tuple[int, list[Violation]]:
    """Customer-cycles whose current charges differ from their usage postings: of
    ``touched`` (``customer_id``, ``posted_period``), or of the whole entity.

    Returns:
        how many customer-cycles were compared, and the violations.
    """
    if touched is not None:
        keys = set(
            zip(touched["customer_id"].to_list(), touched["posted_period"].to_list(), strict=True)
        )
        if not keys:
            return 0, []
        posted, charged = _posted_usage(
            conn,
            entity_id,
            sorted({customer_id for customer_id, _ in keys}),
            sorted({period for _, period in keys}),
        )
        compared = {key for key in keys if key in posted or key in charged}
    else:
        posted, charged = _posted_usage(conn, entity_id, None, None)
        compared = posted.keys() | charged.keys()
    wrong = sorted(key for key in compared if posted.get(key, 0) != charged.get(key, 0))
    names = account_names(conn, entity_id, [customer_id for customer_id, _ in wrong])
    return len(compared), [
        Violation(
            code="USAGE_NOT_POSTED",
            subject=f"customer {names.get(cid, cid)}, cycle {period}",
            detail=(
                f"charges {money(charged.get((cid, period), 0))}"
                f" != usage postings {money(posted.get((cid, period), 0))}"
            ),
        )
        for cid, period in wrong[:_SHOWN]
    ]


def require_posted(conn: Connection, entity_id: int, touched: pl.DataFrame) -> None:
    """Refuse to commit a transaction that leaves a customer-cycle it touched with charges
    that differ from its usage postings.

    Args:
        touched: ``customer_id`` and ``posted_period`` of what the transaction booked.

    Raises:
        ConflictError: ``LEDGER_UNBALANCED``, naming the first customer-cycles that differ.
    """
    _, wrong = unposted_usage(conn, entity_id, touched)
    if wrong:
        shown = "; ".join(f"{v.subject}: {v.detail}" for v in wrong[:3])
        raise ConflictError(
            "LEDGER_UNBALANCED",
            f"{len(wrong)} customer-cycle(s) would not balance, nothing was stored: {shown}",
        )


def account_names(conn: Connection, entity_id: int, ids: list[int]) -> dict[int, str]:
    """The accounts of the customers ``ids``, by id."""
    found: dict[int, str] = {}
    for some in _chunks(sorted(set(ids))):
        rows = conn.execute(
            select(customers.c.id, customers.c.account).where(
                customers.c.entity_id == entity_id, customers.c.id.in_(some)
            )
        )
        found.update({int(i): str(a) for i, a in rows})
    return found


def _records_charged(conn: Connection, entity_id: int) -> list[Violation]:
    r, c = usage_records.c, rated_charges.c
    current = (
        select(c.record_pk, func.count().label("n"))
        .where(c.entity_id == entity_id, c.superseded_by.is_(None))
        .group_by(c.record_pk)
        .subquery()
    )
    rows = conn.execute(
        select(r.origin, r.record_id, r.status, func.coalesce(current.c.n, 0))
        .select_from(usage_records.outerjoin(current, current.c.record_pk == r.id))
        .where(
            r.entity_id == entity_id,
            ((r.status == "rated") & (func.coalesce(current.c.n, 0) != 1))
            | ((r.status != "rated") & (func.coalesce(current.c.n, 0) != 0)),
        )
        .order_by(r.id)
        .limit(_SHOWN)
    )
    return [
        Violation(
            code="RECORD_NOT_CHARGED",
            subject=f"record {origin}/{record_id}",
            detail=f"status {status} with {n} current charge(s)",
        )
        for origin, record_id, status, n in rows
    ]


def _usage_totals(conn: Connection, entity_id: int) -> list[Violation]:
    t, c, r = usage_totals.c, rated_charges.c, usage_records.c
    keys = {"customer_id": pl.Int64(), "period": pl.String(), "service": pl.String()}
    schema = {**keys, "unit": pl.String(), "used": pl.Int64()}
    held = query_frame(
        conn,
        select(t.customer_id, t.period, t.service, t.unit, t.used).where(t.entity_id == entity_id),
        schema,
    )
    charged = query_frame(
        conn,
        select(c.customer_id, c.period, r.service, r.unit, func.sum(c.billed_quantity))
        .select_from(rated_charges.join(usage_records, r.id == c.record_pk))
        .where(c.entity_id == entity_id, c.superseded_by.is_(None))
        .group_by(c.customer_id, c.period, r.service, r.unit),
        schema,
    )
    on = [*keys, "unit"]
    wrong = (
        held.join(charged, on=on, how="full", coalesce=True, suffix="_charged")
        .with_columns(pl.col("used", "used_charged").fill_null(0))
        .filter(pl.col("used") != pl.col("used_charged"))
        .sort(on)
    )
    names = account_names(conn, entity_id, wrong["customer_id"].to_list())
    return [
        Violation(
            code="USAGE_TOTALS_DRIFT",
            subject=f"customer {names.get(cid, cid)}, cycle {period}, {service} ({unit})",
            detail=f"running total {used} != charges' billed quantity {charged_used}",
        )
        for cid, period, service, unit, used, charged_used in wrong.head(_SHOWN).iter_rows()
    ]


def _charge_places(conn: Connection, entity_id: int) -> list[Violation]:
    c, r = rated_charges.c, usage_records.c
    copied = ("service", "unit", "start_time", "origin", "record_id")
    rows = conn.execute(
        select(c.id, r.origin, r.record_id)
        .select_from(rated_charges.join(usage_records, r.id == c.record_pk))
        .where(c.entity_id == entity_id, or_(*(c[name] != r[name] for name in copied)))
        .order_by(c.id)
        .limit(_SHOWN)
    )
    return [
        Violation(
            code="CHARGE_PLACE_DRIFT",
            subject=f"charge {charge_id}",
            detail=f"its place differs from its record {origin}/{record_id}'s",
        )
        for charge_id, origin, record_id in rows
    ]


def _carried(conn: Connection, entity_id: int) -> list[Violation]:
    p = ledger_postings.c
    schema = {
        "customer_id": pl.Int64(),
        "period": pl.String(),
        "category": pl.String(),
        "amount": pl.Int64(),
    }
    carried = query_frame(
        conn,
        select(p.customer_id, p.period, p.category, -func.sum(p.amount))
        .where(p.entity_id == entity_id, p.kind == "carried")
        .group_by(p.customer_id, p.period, p.category),
        schema,
    )
    forward = query_frame(
        conn,
        select(p.customer_id, p.source_period, p.category, func.sum(p.amount))
        .where(p.entity_id == entity_id, p.kind == "brought_forward")
        .group_by(p.customer_id, p.source_period, p.category),
        schema,
    )
    on = ["customer_id", "period", "category"]
    wrong = (
        carried.join(forward, on=on, how="full", coalesce=True, suffix="_forward")
        .with_columns(pl.col("amount", "amount_forward").fill_null(0))
        .filter(pl.col("amount") != pl.col("amount_forward"))
        .sort(on)
    )
    names = account_names(conn, entity_id, wrong["customer_id"].to_list())
    return [
        Violation(
            code="CARRIED_NOT_BROUGHT_FORWARD",
            subject=f"customer {names.get(cid, cid)}, cycle {period}, {category}",
            detail=f"carried {money(amount)}, brought forward into {next_period(period)}"
            f" {money(forward_amount)}",
        )
        for cid, period, category, amount, forward_amount in wrong.head(_SHOWN).iter_rows()
    ]


def _closed_cycles(conn: Connection, entity_id: int) -> list[Violation]:
    p, b, res, i = ledger_postings.c, billing_cycles.c, cycle_results.c, invoices.c
    closed = select(b.period).where(b.entity_id == entity_id, b.status == "closed")
    sums = query_frame(
        conn,
        select(p.customer_id, p.period, func.sum(p.amount))
        .where(p.entity_id == entity_id, p.period.in_(closed))
        .group_by(p.customer_id, p.period),
        _SUMS,
    )
    due = query_frame(
        conn,
        select(res.customer_id, res.period, func.coalesce(i.total, 0))
        .select_from(cycle_results.outerjoin(invoices, i.id == res.invoice_id))
        .where(res.entity_id == entity_id),
        _SUMS,
    )
    wrong = (
        sums.join(due, on=["customer_id", "period"], how="full", coalesce=True, suffix="_due")
        .with_columns(pl.col("amount", "amount_due").fill_null(0))
        .filter(pl.col("amount") != pl.col("amount_due"))
        .sort("customer_id", "period")
    )
    names = account_names(conn, entity_id, wrong["customer_id"].to_list())
    return [
        Violation(
            code="CLOSED_CYCLE_UNBALANCED",
            subject=f"customer {names.get(cid, cid)}, cycle {period}",
            detail=f"postings {money(amount)} != invoiced {money(due)}",
        )
        for cid, period, amount, due in wrong.head(_SHOWN).iter_rows()
    ]


def _invoices(conn: Connection, entity_id: int) -> tuple[int, list[Violation]]:
    i, line = invoices.c, invoice_lines.c
    lines = (
        select(line.invoice_id, func.sum(line.amount).label("lines"))
        .where(line.entity_id == entity_id)
        .group_by(line.invoice_id)
        .subquery()
    )
    found: list[Violation] = []
    count = 0
    rows = conn.execution_options(yield_per=1_000).execute(
        select(
            i.number,
            i.net,
            i.tax,
            i.total,
            i.rounding,
            func.coalesce(lines.c.lines, 0),
            i.document,
            i.document_sha256,
        )
        .select_from(invoices.outerjoin(lines, lines.c.invoice_id == i.id))
        .where(i.entity_id == entity_id)
        .order_by(i.number)
    )
    for number, net, tax, total, rounding, line_sum, document, digest in rows:
        count += 1
        if len(found) >= _SHOWN:
            continue
        subject = f"invoice {number}"
        if net != line_sum:
            found.append(
                Violation(
                    code="INVOICE_LINES_DIFFER",
                    subject=subject,
                    detail=f"net {money(net)} != lines {money(line_sum)}",
                )
            )
        if net + tax != total + rounding:
            found.append(
                Violation(
                    code="INVOICE_LINES_DIFFER",
                    subject=subject,
                    detail=f"net {money(net)} + tax {money(tax)} != total {money(total)}"
                    f" + rounding {money(rounding)}",
                )
            )
        if hashlib.sha256(document.encode()).hexdigest() != digest:
            found.append(
                Violation(
                    code="INVOICE_ALTERED",
                    subject=subject,
                    detail="its document no longer has the SHA-256 frozen when it was issued",
                )
            )
    return count, found


def _row_identity(conn: Connection, entity_id: int) -> tuple[int, list[Violation]]:
    b, e = import_batches.c, exceptions.c
    held = (
        select(e.batch_id, func.count().label("n"))
        .where(e.entity_id == entity_id)
        .group_by(e.batch_id)
        .subquery()
    )
    rows = conn.execute(
        select(
            b.id,
            b.source_kind,
            b.source_name,
            b.rows_read,
            b.rated,
            b.duplicates,
            b.exceptions,
            func.coalesce(held.c.n, 0),
        )
        .select_from(import_batches.outerjoin(held, held.c.batch_id == b.id))
        .where(b.entity_id == entity_id)
        .order_by(b.id)
    ).all()
    found = []
    for batch_id, kind, name, read, rated, duplicates, counted, stored in rows:
        subject = f"batch {batch_id} ({name})"
        if kind in NO_ROWS:
            continue  # it read no rows: a re-rating, a review, a close or a credit
        if read != rated + duplicates + counted:
            found.append(
                Violation(
                    code="ROW_IDENTITY_BROKEN",
                    subject=subject,
                    detail=f"read {read} != rated {rated} + duplicates {duplicates}"
                    f" + exceptions {counted}",
                )
            )
        elif stored != counted:
            found.append(
                Violation(
                    code="ROW_IDENTITY_BROKEN",
                    subject=subject,
                    detail=f"counted {counted} exceptions, the queue holds {stored}",
                )
            )
    # and where every row read is now: a rated record, a duplicate, or an exception pending
    # or written off
    for row in row_identity(conn, entity_id):
        now = row["rated"] + row["duplicates"] + row["pending"] + row["written_off"]
        if row["read"] != now:
            found.append(
                Violation(
                    code="ROW_IDENTITY_BROKEN",
                    subject=f"batch {row['batch_id']} ({row['source_name']})",
                    detail=f"read {row['read']}, now {row['rated']} rated + {row['duplicates']}"
                    f" duplicates + {row['pending']} pending + {row['written_off']} written off",
                )
            )
    return len(rows), found[:_SHOWN]


def check_store(conn: Connection, entity_id: int) -> Checked:
    """Every invariant of the entity's ledger, over everything the store holds."""
    cycles, violations = unposted_usage(conn, entity_id)
    violations += _records_charged(conn, entity_id)
    violations += _usage_totals(conn, entity_id)
    violations += _charge_places(conn, entity_id)
    violations += _carried(conn, entity_id)
    violations += _closed_cycles(conn, entity_id)
    invoice_count, wrong_invoices = _invoices(conn, entity_id)
    batch_count, wrong_batches = _row_identity(conn, entity_id)
    return Checked(
        customer_cycles=cycles,
        invoices=invoice_count,
        batches=batch_count,
        violations=violations + wrong_invoices + wrong_batches,
    )
