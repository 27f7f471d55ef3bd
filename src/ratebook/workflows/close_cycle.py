"""``ratebook cycle close``: bill recurring fees, settle volume tiers, and for each customer
either issue an invoice or carry the balance into the next cycle.

One transaction under the entity's close lock: the cycle goes open → closing → closed, and a
crash leaves it open with nothing half-done. Closing a closed cycle changes nothing. Cycles
close in order, and only once they have ended. The rules of each customer's close are pure
(``billing.close.close_customer``); this module loads what they need and writes what they give.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl
from sqlalchemy import Connection, Engine

from ratebook.billing.close import (
    Customer,
    CustomerClose,
    Outcome,
    Policy,
    close_customer,
    closed_before,
    recurring_line,
    usage_lines,
)
from ratebook.billing.compose import Line
from ratebook.errors import ConflictError
from ratebook.model.ledger import Period, Posting, previous_period
from ratebook.model.parties import Entity
from ratebook.money import minor_places
from ratebook.store import audit, billing, invoices, subscriptions, usage
from ratebook.store.entities import get_entity
from ratebook.store.seals import Seal
from ratebook.workflows.bill_recurring import (
    CloseBatch,
    bill_recurring,
    post,
    settle_volume_tiers,
)
from ratebook.workflows.issue_invoices import Invoicing


@dataclass(slots=True, kw_only=True)
class CloseSummary:
    """What a close did. Amounts at AMOUNT_SCALE."""

    period: str
    entity: str
    currency: str
    already_closed: bool = False
    customers: int = 0
    invoiced: int = 0
    carried: int = 0
    invoiced_total: int = 0
    carried_total: int = 0
    recurring: int = 0
    invoice_numbers: list[int] = field(default_factory=list)


def close_cycle(
    engine: Engine,
    period: str,
    *,
    entity_code: str | None = None,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CloseSummary:
    """Close ``period`` for an entity. ``progress(done, total)`` is told of the customers
    closed as it goes (the last step, ``total``, is the writing).

    Raises:
        InputError: ``BAD_PERIOD``.
        ConflictError: ``CYCLE_NOT_ENDED`` (the month is not over), ``CYCLE_OUT_OF_ORDER`` (an
            earlier cycle with postings is still open), ``LEDGER_UNBALANCED``.

    One function: it is the close's transaction, its steps in order.
    """
    month = Period.parse(period)
    period = str(month)
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        billing.lock_entity(conn, entity.id, shared=False)
        # the clock is read with the lock held: whatever was booked before it is in the close
        now = now or datetime.now(UTC)
        summary = CloseSummary(period=period, entity=entity.code, currency=entity.currency)
        state = billing.cycle_row(conn, entity.id, period)
        if state is not None and state[0] == "closed":
            summary.already_closed = True
            return summary
        starts_at, ends_at = month.bounds(entity.timezone)
        _require_closable(conn, entity, period, now, ends_at)
        bounds = {"starts_at": starts_at, "ends_at": ends_at}
        billing.set_cycle_status(conn, entity.id, period, "closing", **bounds)
        # the close's postings, billed intervals and invoice links form a batch of their own,
        # sealed in the close's audit entry
        batch = CloseBatch(
            id=usage.start_batch(
                conn,
                entity_id=entity.id,
                origin="close",
                fmt="close",
                source_kind="close",
                source_name=f"close {period}",
                source_sha256=None,
                size_bytes=None,
                now=now,
            ),
            seal=Seal(),
        )
        summary.recurring = bill_recurring(conn, entity, period, now, batch)
        settle_volume_tiers(conn, entity, period, now, batch)
        _Closing(conn, entity, period, now, ends_at, batch).run(summary, progress)
        usage.finish_batch(
            conn, batch.id, rows_read=0, rated=0, duplicates=0, exceptions_count=0, now=now
        )
        billing.set_cycle_status(conn, entity.id, period, "closed", closed_at=now, **bounds)
        audit.record(
            conn,
            entity_id=entity.id,
            action="cycle.close",
            object_type="cycle",
            object_id=period,
            before={"status": state[0] if state else "open"},
            after={
                "status": "closed",
                "customers": summary.customers,
                "invoiced": summary.invoiced,
                "carried": summary.carried,
                "invoiced_total": summary.invoiced_total,
                "carried_total": summary.carried_total,
                "recurring": summary.recurring,
                "batch": batch.id,
                "sealed": batch.seal.summary(),
            },
            at=now,
        )
    return summary


def _require_closable(
    conn: Connection, entity: Entity, period: str, now: datetime, ends_at: datetime
) -> None:
    if now < ends_at:
        raise ConflictError(
            "CYCLE_NOT_ENDED",
            f"cycle {period} ends {ends_at.astimezone(entity.zone):%Y-%m-%d %H:%M %Z}; "
            "it can be closed after that",
        )
    waiting = billing.unclosed_periods_before(conn, entity.id, period)
    if waiting:
        raise ConflictError(
            "CYCLE_OUT_OF_ORDER", f"close {', '.join(waiting)} first: cycles close in order"
        )


def _by_customer(charges: pl.DataFrame) -> dict[int, pl.DataFrame]:
    return {
        int(cid): part for (cid,), part in charges.partition_by("customer_id", as_dict=True).items()
    }


class _Closing:
    """Closes each customer of one cycle (inside the close's transaction): loads every
    customer's charges, fees and postings at once, closes each, and writes the invoices,
    postings, results and links at the end."""

    def __init__(
        self,
        conn: Connection,
        entity: Entity,
        period: str,
        now: datetime,
        ends_at: datetime,
        batch: CloseBatch,
    ) -> None:
        self.conn, self.entity, self.period, self.now = conn, entity, period, now
        self.ends_at, self.batch = ends_at, batch
        self.policy = Policy(
            floor=entity.invoicing_floor,
            max_carry_cycles=entity.max_carry_cycles,
            fiscal_year_end_month=entity.fiscal_year_end_month,
            minor_places=minor_places(entity.currency),
            mode=entity.rounding_mode,
            rates=billing.load_tax_rates(conn, entity.id),
        )
        self.postings: list[Posting] = []
        self.results: list[dict[str, object]] = []
        self.invoicing = Invoicing(conn, entity, period, now, self.policy)

    def run(self, summary: CloseSummary, progress: Callable[[int, int], None] | None) -> None:
        """Close every customer with postings in the cycle, then write it all.

        One function: every customer is closed from data loaded at once."""
        conn, entity_id, period = self.conn, self.entity.id, self.period
        ledger = billing.period_postings(conn, entity_id, period)
        ids = ledger["customer_id"].unique().to_list()
        facts = billing.customer_facts(conn, entity_id, ids)
        streaks = billing.streaks(conn, entity_id, previous_period(period))
        charges = billing.billable_charges(conn, entity_id, period, ids)
        fees: defaultdict[int, list[Line]] = defaultdict(list)
        for item in subscriptions.period_charges(conn, entity_id, period):
            fees[int(item["customer_id"])].append(
                recurring_line(
                    interval_id=int(item["id"]),
                    plan=item["plan"],
                    category=item["category"],
                    amount=int(item["amount"]),
                    first=item["service_from"],
                    last=item["service_to"],
                    days=item["days"],
                    interval_days=item["interval_days"],
                )
            )
        # charges posted to this cycle are its usage (or late usage of a closed one); those
        # posted to an earlier cycle were carried from it
        here = pl.col("posted_period") == period
        current = charges.filter(here & (pl.col("period") == period))
        late = charges.filter(here & (pl.col("period") < period))
        billed = {
            "usage": _by_customer(current),
            "late_usage": _by_customer(late),
            "brought_forward": _by_customer(charges.filter(~here)),
        }
        lines = {
            kind: usage_lines(frame, kind)
            for kind, frame in (("usage", current), ("late_usage", late))
        }
        posted = ledger.partition_by("customer_id", as_dict=True)
        number = invoices.next_number(conn, entity_id)  # the close's lock keeps the numbering
        total = facts.height + 1  # and the writing
        for done, fact in enumerate(facts.iter_rows(named=True)):
            if progress is not None and done % 200 == 0:
                progress(done, total)
            cid = int(fact["customer_id"])
            closed = close_customer(
                period=period,
                customer=Customer(
                    id=cid,
                    account=fact["account"],
                    closed=closed_before(fact["closed_at"], fact["status"], self.ends_at),
                    floor=fact["invoicing_floor"],
                    streak_before=streaks.get(cid, 0),
                ),
                usage=lines["usage"].get(cid, []) + lines["late_usage"].get(cid, []),
                recurring=fees.get(cid, []),
                ledger=posted[(cid,)],
                policy=self.policy,
                invoice_number=number,
            )
            invoice_id = None
            if closed.decision.outcome is Outcome.INVOICED:
                invoice_id = self.invoicing.issue(
                    fact, closed, number, {k: v.get(cid) for k, v in billed.items()}
                )
                summary.invoiced += 1
                summary.invoiced_total += closed.composed.totals.total
                summary.invoice_numbers.append(number)
                number += 1
            else:
                summary.carried += 1
                summary.carried_total += closed.carried
            summary.customers += 1
            self.postings += closed.postings
            self.results.append(self._result(closed, invoice_id))
        if progress is not None:
            progress(total - 1, total)
        self._write()
        if progress is not None:
            progress(total, total)

    def _result(self, closed: CustomerClose, invoice_id: int | None) -> dict[str, object]:
        totals = closed.composed.totals
        return {
            "entity_id": self.entity.id,
            "customer_id": closed.customer_id,
            "period": self.period,
            "outcome": closed.decision.outcome.value,
            "net": totals.net,
            "tax": totals.tax,
            "payable": totals.exact,
            "carried": closed.carried,
            "streak": closed.streak,
            "reason": closed.decision.reason,
            "invoice_id": invoice_id,
        }

    def _write(self) -> None:
        self.invoicing.write_audit()
        post(self.conn, self.entity, self.postings, self.now, self.batch)
        billing.add_results(self.conn, self.results)
        self.invoicing.write_links(self.batch.seal)
