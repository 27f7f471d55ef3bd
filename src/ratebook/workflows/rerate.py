"""Re-rate a billing period after a rate correction: reversal plus re-post.

Every current charge of the period (of one customer, or all) is priced again from its record
with the reference data in force now (the newest revision of each version, today's
assignments, overrides and discounts), each customer-cycle as a whole, so tier places are
worked out afresh. A charge whose amount or what its statement line shows (prefix, band,
quantity, price, tier) changes is superseded by a new one (the old stays
readable, ``ratebook explain`` shows both) and the ledger gets a reversal of the old charges
and a posting of the new, per customer and unit. Nothing else changes: running it again
changes nothing.

A record stays with the customer it was matched to; records in the exception queue are not
touched (their review re-processes them). A closed cycle is never re-rated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl
from sqlalchemy import Connection, Engine

from ratebook.billing.post import reposting
from ratebook.errors import ConflictError, NotFoundError
from ratebook.intake.place import usage_change
from ratebook.model.ledger import Period
from ratebook.model.parties import Entity
from ratebook.pipeline.price import Reference
from ratebook.pipeline.rate import RATING_COLUMNS, rate
from ratebook.store import audit, billing, checks, cycles, parties, usage, work_queue
from ratebook.store.cycles import CHARGE_SCHEMA
from ratebook.store.engine import open_store
from ratebook.store.entities import get_entity
from ratebook.store.reference import load_reference
from ratebook.store.seals import Seal
from ratebook.workflows.workers import run_workers

#: What a new rating carries (a rated record's columns, less the row's destination name).
_PRICING = tuple(c for c in RATING_COLUMNS if c != "destination_name")
#: What, if it changes, makes a new rating: what the customer is charged and is shown. A
#: charge priced the same by a corrected revision keeps its rating (and its lineage).
_COMPARED = tuple(c for c in _PRICING if c not in ("rate_table_id", "version_id", "rate_row_id"))

#: Record columns a replacement carries over from the record it re-rates.
_ORDER_KEYS = (
    "customer_id",
    "period",
    "posted_period",
    "service",
    "unit",
    "start_time",
    "origin",
    "record_id",
)


@dataclass(slots=True, kw_only=True)
class RerateSummary:
    """What a re-rating did.

    Attributes:
        period: the billing period.
        examined: current charges priced again.
        rerated: of those, charges superseded by a new rating.
        before, after: total of the re-rated charges before and after, AMOUNT_SCALE.
        by_account: per account: (re-rated, before, after).
        batch_id: the run's batch (None when nothing changed).
    """

    period: str
    examined: int = 0
    rerated: int = 0
    before: int = 0
    after: int = 0
    by_account: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    batch_id: int | None = None
    currency: str = ""
    charge_places: int = 4

    def add(self, part: RerateSummary) -> None:
        """Count in what a part of a parallel re-rating did (its customers are its own);
        the batch is the newest of the parts'."""
        self.examined += part.examined
        self.rerated += part.rerated
        self.before += part.before
        self.after += part.after
        self.by_account.update(part.by_account)
        if part.batch_id is not None:
            self.batch_id = max(part.batch_id, self.batch_id or 0)


def rerate(
    engine: Engine,
    period: str,
    *,
    account: str | None = None,
    entity_code: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
) -> RerateSummary:
    """Re-rate ``period`` (YYYY-MM), for one customer or all, in one transaction.
    ``progress(done, total)`` is told of its three steps: read, priced, booked.

    With ``workers`` above 1 (all customers, PostgreSQL), that many processes share the
    customers: each claims a few at a time and re-rates them in a transaction of their own
    (``rerate_part``), and ``progress`` is told of customers done. Each customer-cycle is
    priced from its own records alone, so the charges and balances are those one transaction
    gives; an error stops the run with the customers done so far re-rated, and running it
    again does the rest. SQLite has one writer at a time: there it is one transaction.

    Raises:
        InputError: ``BAD_PERIOD``.
        NotFoundError: ``UNKNOWN_CUSTOMER``.
        ConflictError: ``CYCLE_CLOSED``; ``RERATE_WOULD_UNRATE`` when the rates in force now
            would leave records without a charge (nothing is changed then, of those
            customers).
    """
    now = datetime.now(UTC)
    Period.parse(period)
    # SQLite has one writer at a time: its workers would only queue for the write lock
    if workers > 1 and account is None and engine.dialect.name == "postgresql":
        return _rerate_in_parallel(engine, period, entity_code, workers, progress)
    tell = progress or (lambda done, total: None)
    with engine.begin() as conn:
        entity = _open_cycle(conn, entity_code, period)
        customer_ids = None
        if account is not None:
            found = parties.customer_by_account(conn, entity.id, account)
            if found is None:
                raise NotFoundError("UNKNOWN_CUSTOMER", f"no customer with account {account!r}")
            customer_ids = [found[0]]
        return _rerate_customers(conn, entity, period, customer_ids, account, now, tell)


def _open_cycle(conn: Connection, entity_code: str | None, period: str) -> Entity:
    """The entity, under its shared close lock, once ``period`` is known not to be closed.

    Raises:
        ConflictError: ``CYCLE_CLOSED``.
    """
    entity = get_entity(conn, entity_code)
    billing.lock_entity(conn, entity.id, shared=True)
    if cycles.cycle_status(conn, entity.id, period) == "closed":
        raise ConflictError(
            "CYCLE_CLOSED",
            f"{period} is closed; a correction goes on the next invoice, not into it",
        )
    return entity


def _rerate_customers(
    conn: Connection,
    entity: Entity,
    period: str,
    customer_ids: list[int] | None,
    account: str | None,
    now: datetime,
    tell: Callable[[int, int], None],
) -> RerateSummary:
    """Re-rate the current charges of ``customer_ids`` (None: every customer) in ``period``
    in the caller's transaction."""
    summary = RerateSummary(
        period=period, currency=entity.currency, charge_places=entity.charge_places
    )
    # writers placing records in these cycles take turns with this one (``placing_locks``)
    cycles.placing_locks(
        conn,
        entity.id,
        set(
            cycles.period_customers(conn, entity.id, period)
            if customer_ids is None
            else customer_ids
        ),
    )
    current = cycles.period_charges(conn, entity.id, period, customer_ids)
    summary.examined = current.height
    tell(1, 3)
    if current.is_empty():
        return summary
    replacements = _priced_again(current, load_reference(conn, entity.id), entity, period)
    tell(2, 3)
    if replacements.is_empty():
        return summary
    replaced = current.join(replacements.select("charge_id"), on="charge_id", how="semi")
    summary.batch_id = _book(conn, entity, summary, account, replaced, replacements, now)
    summary.rerated = replacements.height
    summary.before = int(replaced["charge"].sum())
    summary.after = int(replacements["charge"].sum())
    summary.by_account.update(_by_account(current, replaced, replacements))
    tell(3, 3)
    return summary


#: Customers a worker claims at a time: each claim is one transaction and one batch.
_CUSTOMERS_A_CLAIM = 64


def _rerate_in_parallel(
    engine: Engine,
    period: str,
    entity_code: str | None,
    workers: int,
    progress: Callable[[int, int], None] | None,
) -> RerateSummary:
    with engine.begin() as conn:
        entity = _open_cycle(conn, entity_code, period)
        customer_ids = cycles.period_customers(conn, entity.id, period)
        run_id = work_queue.new_run()
        work_queue.enqueue(conn, entity.id, run_id, customer_ids)
    summary = RerateSummary(
        period=period, currency=entity.currency, charge_places=entity.charge_places
    )

    def poll() -> None:
        if progress is not None:
            with engine.connect() as conn:
                left = work_queue.remaining(conn, run_id)
            progress(len(customer_ids) - left, len(customer_ids))

    url = engine.url.render_as_string(hide_password=False)
    try:
        parts = run_workers(workers, rerate_part, (url, entity.code, period, run_id), poll=poll)
    finally:
        with engine.begin() as conn:
            work_queue.drop(conn, run_id)
    for part in parts:
        summary.add(part)
    poll()
    return summary


def rerate_part(url: str, entity_code: str, period: str, run_id: str) -> RerateSummary:
    """One worker of a parallel re-rating: claim customers of the run and re-rate them, a
    claim a transaction, until none is left; what it did, summed."""
    engine = open_store(url)
    done = RerateSummary(period=period)
    try:
        while True:
            now = datetime.now(UTC)
            with engine.begin() as conn:
                entity = _open_cycle(conn, entity_code, period)
                claimed = work_queue.claim(conn, run_id, _CUSTOMERS_A_CLAIM)
                if not claimed:
                    return done
                part = _rerate_customers(
                    conn, entity, period, claimed, None, now, lambda done, total: None
                )
            done.add(part)
    finally:
        engine.dispose()


def _priced_again(
    current: pl.DataFrame, reference: Reference, entity: Entity, period: str
) -> pl.DataFrame:
    """The new ratings (``CHARGE_SCHEMA``, ``charge_id`` of the charge each replaces) of the
    ``current`` charges that the rates in force now price differently.

    Raises:
        ConflictError: ``RERATE_WOULD_UNRATE``.
    """
    records = current.with_row_index("row_idx").with_columns(pl.col("row_idx").cast(pl.Int64))
    inputs = records.select(
        "row_idx",
        "customer_id",
        "customer_account",
        "start_time",
        "service",
        "destination",
        "disposition",
        "unit",
        "quantity",
        "period",
        "origin",
        "record_id",
    )
    rated, rejected = rate(
        inputs,
        assignments=reference.assignments,
        versions=reference.versions,
        rows=reference.rows,
        zone=entity.timezone,
    )
    if not rejected.is_empty():
        named = rejected.join(inputs.select("row_idx", "record_id"), on="row_idx")
        shown = ", ".join(
            f"{rid} ({code}: {reason})"
            for rid, code, reason in named.select("record_id", "code", "reason").head(5).rows()
        )
        raise ConflictError(
            "RERATE_WOULD_UNRATE",
            f"the rates in force now leave {rejected.height} record(s) of {period} without"
            f" a charge, e.g. {shown}; nothing was re-rated",
        )
    again = records.select("row_idx", "charge_id", "record_pk", *_ORDER_KEYS).join(
        rated.select("row_idx", *_PRICING), on="row_idx", how="left"
    )
    was = records.select("row_idx", *_PRICING)
    changed_rows = (
        again.join(was, on="row_idx", suffix="_was")
        .filter(pl.any_horizontal(pl.col(c).ne_missing(pl.col(f"{c}_was")) for c in _COMPARED))
        .select("row_idx")
    )
    return again.join(changed_rows, on="row_idx", how="semi").select(list(CHARGE_SCHEMA))


def _book(
    conn: Connection,
    entity: Entity,
    summary: RerateSummary,
    account: str | None,
    replaced: pl.DataFrame,
    replacements: pl.DataFrame,
    now: datetime,
) -> int:
    """Write the re-rating as a batch: the new charges superseding the old, the cycle's
    totals, the reversal and re-post, and the sealed audit entry. Its batch id."""
    period = summary.period
    batch_id = usage.start_batch(
        conn,
        entity_id=entity.id,
        origin="rerate",
        fmt="rerate",
        source_kind="rerate",
        source_name=f"rerate {period}" + (f" {account}" if account else ""),
        source_sha256=None,
        size_bytes=None,
        now=now,
    )
    seal = Seal()
    cycles.replace_charges(
        conn, replacements, entity_id=entity.id, batch_id=batch_id, rated_at=now, seal=seal
    )
    # a corrected increment changes the billed quantities the cycle holds; the audit chain is
    # taken first, in the order an import takes the two (``audit.lock_chain``)
    audit.lock_chain(conn)
    cycles.add_usage(conn, entity.id, usage_change(replacements, replaced))
    usage.add_postings(
        conn,
        reposting(replaced, replacements, memo=f"re-rated {period} after a rate correction"),
        entity_id=entity.id,
        batch_id=batch_id,
        posted_at=now,
        seal=seal,
    )
    checks.require_posted(conn, entity.id, replacements.select("customer_id", "posted_period"))
    usage.finish_batch(
        conn,
        batch_id,
        rows_read=summary.examined,
        rated=replacements.height,
        duplicates=0,
        exceptions_count=0,
        now=now,
    )
    audit.record(
        conn,
        entity_id=entity.id,
        action="rerate",
        object_type="batch",
        object_id=batch_id,
        after={
            "period": period,
            "account": account,
            "examined": summary.examined,
            "rerated": replacements.height,
            "before": int(replaced["charge"].sum()),
            "after": int(replacements["charge"].sum()),
            "batch": batch_id,
            "sealed": seal.summary(),
        },
        at=now,
    )
    return batch_id


def _by_account(
    current: pl.DataFrame, replaced: pl.DataFrame, replacements: pl.DataFrame
) -> dict[str, tuple[int, int, int]]:
    """Per account: charges re-rated, their total before and after."""
    old = replaced.group_by("customer_account").agg(
        pl.len().alias("n"), pl.col("charge").sum().alias("before")
    )
    new = (
        replacements.join(
            current.select("charge_id", "customer_account"), on="charge_id", how="left"
        )
        .group_by("customer_account")
        .agg(pl.col("charge").sum().alias("after"))
    )
    return {
        str(name): (int(n), int(before), int(after))
        for name, n, before, after in old.join(new, on="customer_account")
        .sort("customer_account")
        .iter_rows()
    }
