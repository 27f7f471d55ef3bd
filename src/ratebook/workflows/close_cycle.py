"""``ratebook cycle close``: bill recurring fees, settle volume tiers, and for each customer
either issue an invoice or carry the balance into the next cycle.

One transaction under the entity's close lock: the cycle goes open → closing → closed, and a
crash leaves it open with nothing half-done. Closing a closed cycle changes nothing. Cycles
close in order, and only once they have ended.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from sqlalchemy import Connection, Engine

from ratebook.billing import recurring
from ratebook.billing.close import Decision, Outcome, decide, forced_reason
from ratebook.billing.compose import Composed, Line, canonical_json, compose, document
from ratebook.billing.recurring import next_period, previous_period
from ratebook.billing.tax import TaxRate, rate_for
from ratebook.billing.volume import settle_volume
from ratebook.errors import ConflictError
from ratebook.model.parties import Entity
from ratebook.money import AMOUNT_SCALE, format_fixed, minor_places
from ratebook.store import audit, billing, invoices, subscriptions, usage
from ratebook.store.checks import USAGE_KINDS
from ratebook.store.cycles import period_charges
from ratebook.store.entities import get_entity
from ratebook.store.reference import load_reference
from ratebook.store.seals import Seal
from ratebook.store.usage import add_postings
from ratebook.workflows.report_usage import check_period


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


def cycle_bounds(period: str, zone: str) -> tuple[datetime, datetime]:
    """The cycle's half-open ``[start, end)`` as UTC instants: local midnights in ``zone``."""
    tz = ZoneInfo(zone)
    year, month = int(period[:4]), int(period[5:7])
    start = datetime(year, month, 1, tzinfo=tz)
    after = next_period(period)
    end = datetime(int(after[:4]), int(after[5:7]), 1, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def invoice_id_text(entity_code: str, number: int) -> str:
    """The printed invoice number: entity code and a zero-padded sequence."""
    return f"{entity_code}-{number:06d}"


def close_cycle(
    engine: Engine,
    period: str,
    *,
    entity_code: str | None = None,
    now: datetime | None = None,
) -> CloseSummary:
    """Close ``period`` for an entity.

    Raises:
        ConflictError: ``CYCLE_NOT_ENDED`` (the month is not over), ``CYCLE_OUT_OF_ORDER`` (an
            earlier cycle with postings is still open).
    """
    check_period(period)
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
        starts_at, ends_at = cycle_bounds(period, entity.timezone)
        if now < ends_at:
            raise ConflictError(
                "CYCLE_NOT_ENDED",
                f"cycle {period} ends {ends_at.astimezone(entity.zone):%Y-%m-%d %H:%M %Z}; "
                "it can be closed after that",
            )
        waiting = billing.unclosed_periods_before(conn, entity.id, period)
        if waiting:
            raise ConflictError(
                "CYCLE_OUT_OF_ORDER",
                f"close {', '.join(waiting)} first: cycles close in order",
            )
        bounds = {"starts_at": starts_at, "ends_at": ends_at}
        billing.set_cycle_status(conn, entity.id, period, "closing", **bounds)
        # the close's postings, billed intervals and invoice links form a batch of their own,
        # sealed in the close's audit entry
        batch = _Batch(
            id=usage.start_batch(
                conn,
                entity_id=entity.id,
                origin="close",
                fmt="close",
                source_kind="close",
                source_name=f"close {period}",
                source_sha256=None,
                size_bytes=None,
            ),
            seal=Seal(),
        )
        summary.recurring = _bill_recurring(conn, entity, period, now, batch)
        _settle_volume(conn, entity, period, now, batch)
        closer = _Closer(conn, entity, period, now, ends_at, batch)
        closer.run(summary)
        usage.finish_batch(conn, batch.id, rows_read=0, rated=0, duplicates=0, exceptions_count=0)
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
        )
    return summary


@dataclass(frozen=True, slots=True)
class _Batch:
    """The close's batch and the seal of what it writes."""

    id: int
    seal: Seal


def _bill_recurring(
    conn: Connection, entity: Entity, period: str, now: datetime, batch: _Batch
) -> int:
    billed = subscriptions.billed_intervals(conn, entity.id)
    postings: list[dict[str, object]] = []
    count = 0
    for sub in subscriptions.all_subscriptions(conn, entity.id):
        charges = recurring.due(
            sub,
            period,
            billed=billed.get(sub.id, frozenset()),
            places=entity.charge_places,
            mode=entity.rounding_mode,
        )
        subscriptions.add_charges(conn, entity.id, period, charges, seal=batch.seal)
        count += len(charges)
        postings += [
            {
                "entity_id": entity.id,
                "customer_id": sub.customer_id,
                "period": period,
                "kind": "recurring",
                "amount": c.amount,
                "records": 0,
                "memo": f"{sub.plan} {c.service_from}..{c.service_to}",
                "category": sub.category,
                "batch_id": batch.id,
                "posted_at": now,
            }
            for c in charges
        ]
    add_postings(conn, postings, seal=batch.seal)
    return count


def _settle_volume(
    conn: Connection, entity: Entity, period: str, now: datetime, batch: _Batch
) -> None:
    charges = period_charges(conn, entity.id, period)
    if charges.is_empty():
        return
    adjustments = settle_volume(charges, load_reference(conn, entity.id).rows)
    add_postings(
        conn,
        [
            {
                "entity_id": entity.id,
                "customer_id": row["customer_id"],
                "period": period,
                "kind": "volume_settlement",
                "amount": row["amount"],
                "quantity": row["used"],
                "records": row["records"],
                "memo": f"volume tier settlement: {row['service']} ({row['unit']})",
                "category": row["service"],
                "batch_id": batch.id,
                "posted_at": now,
            }
            for row in adjustments.iter_rows(named=True)
        ],
        seal=batch.seal,
    )


def _label(service: str, destination: str | None, band: str | None) -> str:
    parts = [service.capitalize()]
    if destination:
        parts.append(destination)
    text = ": ".join(parts)
    return f"{text} ({band})" if band and band != "*" else text


_USAGE_KEY = ("service", "unit", "destination", "band", "unit_price", "rate_unit")


def _usage_keys(kind: str) -> list[str]:
    """What a usage line groups its charges by (late usage: per period too)."""
    return ["period", *_USAGE_KEY] if kind == "late_usage" else list(_USAGE_KEY)


def _usage_lines(charges: pl.DataFrame, kind: str) -> dict[int, list[Line]]:
    """Each customer's usage lines (``kind`` ``usage`` or ``late_usage``), sums of its
    ``charges``, in line order: every customer's grouped at once."""
    keys = _usage_keys(kind)
    grouped = (
        charges.group_by("customer_id", *keys)
        .agg(
            pl.len().alias("records"),
            pl.col("billed_quantity").sum(),
            pl.col("charge").sum(),
        )
        .sort(["customer_id", *keys], nulls_last=True)
    )
    lines: defaultdict[int, list[Line]] = defaultdict(list)
    for row in grouped.iter_rows(named=True):
        label = _label(row["service"], row["destination"], row["band"])
        late = kind == "late_usage"
        lines[int(row["customer_id"])].append(
            Line(
                kind=kind,
                category=row["service"],
                description=f"Late usage of {row['period']}: {label}" if late else label,
                amount=int(row["charge"]),
                service=row["service"],
                destination=row["destination"],
                band=row["band"],
                unit=row["unit"],
                quantity=int(row["billed_quantity"]),
                unit_price=row["unit_price"],
                rate_unit=row["rate_unit"],
                records=int(row["records"]),
                source_period=row["period"] if late else None,
                key=(kind, *(row[k] for k in keys)),
            )
        )
    return dict(lines)


def _by_customer(charges: pl.DataFrame) -> dict[int, pl.DataFrame]:
    return {
        int(cid): part for (cid,), part in charges.partition_by("customer_id", as_dict=True).items()
    }


@dataclass(frozen=True, slots=True)
class _Charges:
    """A customer's billable charges: of the cycle, late usage of a closed one, and those
    of an earlier cycle carried here; and the usage lines of the first two."""

    current: pl.DataFrame
    late: pl.DataFrame
    carried: pl.DataFrame
    lines: list[Line]


class _Closer:
    """Closes each customer of one cycle (inside the close's transaction)."""

    def __init__(
        self,
        conn: Connection,
        entity: Entity,
        period: str,
        now: datetime,
        ends_at: datetime,
        batch: _Batch,
    ) -> None:
        self.conn = conn
        self.batch = batch
        self.entity = entity
        self.period = period
        self.now = now
        self.ends_at = ends_at
        self.minor = minor_places(entity.currency)
        self.rates: dict[str, TaxRate] = billing.load_tax_rates(conn, entity.id)
        self.streaks = billing.streaks(conn, entity.id, previous_period(period))
        self.postings: list[dict[str, object]] = []
        self.results: list[dict[str, object]] = []
        self.charge_links: list[dict[str, int]] = []
        self.sub_links: list[dict[str, int]] = []
        self.number: int | None = None  # the next invoice number, once read
        self.issued: list[audit.Change] = []  # the audit log's entries, in issue order

    def run(self, summary: CloseSummary) -> None:
        ledger = billing.period_postings(self.conn, self.entity.id, self.period)
        ids = ledger["customer_id"].unique().to_list()
        facts = billing.customer_facts(self.conn, self.entity.id, ids)
        charges = billing.billable_charges(self.conn, self.entity.id, self.period, ids)
        subs: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for item in subscriptions.period_charges(self.conn, self.entity.id, self.period):
            subs[int(item["customer_id"])].append(item)
        # every customer's charges split and grouped at once, not customer by customer: those
        # posted to this cycle are its usage (or late usage of a closed one); those posted to
        # an earlier cycle were carried from it
        posted_here = pl.col("posted_period") == self.period
        current = charges.filter(posted_here & (pl.col("period") == self.period))
        late = charges.filter(posted_here & (pl.col("period") < self.period))
        currents, lates = _by_customer(current), _by_customer(late)
        carried = _by_customer(charges.filter(~posted_here))
        usage, late_usage = _usage_lines(current, "usage"), _usage_lines(late, "late_usage")
        posted = ledger.partition_by("customer_id", as_dict=True)
        none = charges.clear()
        for customer in facts.iter_rows(named=True):
            cid = int(customer["customer_id"])
            mine = _Charges(
                current=currents.get(cid, none),
                late=lates.get(cid, none),
                carried=carried.get(cid, none),
                lines=usage.get(cid, []) + late_usage.get(cid, []),
            )
            self._close_one(customer, mine, posted[(cid,)], subs.get(cid, []), summary)
        audit.record_all(self.conn, self.issued)
        add_postings(self.conn, self.postings, seal=self.batch.seal)
        billing.add_results(self.conn, self.results)
        self.charge_links.sort(key=lambda link: link["charge_id"])
        self.batch.seal.add_rows(
            "links",
            [
                {"charge_id": x["charge_id"], "invoice_line_id": x["line_id"]}
                for x in self.charge_links
            ],
        )
        billing.link_charges(self.conn, self.charge_links)
        billing.link_subscription_charges(self.conn, self.sub_links)

    def _close_one(
        self,
        customer: dict[str, Any],
        charges: _Charges,
        ledger: pl.DataFrame,
        subs: list[dict[str, Any]],
        summary: CloseSummary,
    ) -> None:
        cid = int(customer["customer_id"])
        current, late, carried = charges.current, charges.late, charges.carried
        lines = list(charges.lines)
        rated = sum(line.amount for line in lines)
        posted_usage = int(ledger.filter(pl.col("kind").is_in(USAGE_KINDS))["amount"].sum())
        if rated != posted_usage:
            raise ConflictError(
                "LEDGER_UNBALANCED",
                f"customer {customer['account']}, cycle {self.period}: the charges it bills"
                f" ({format_fixed(rated, AMOUNT_SCALE, None, min_places=2)}) differ from its"
                f" usage postings ({format_fixed(posted_usage, AMOUNT_SCALE, None, min_places=2)});"
                " nothing was closed: run `ratebook check` to see every difference",
            )
        lines += [
            Line(
                kind="recurring",
                category=str(s["category"]),
                description=_recurring_text(s),
                amount=int(s["amount"]),
                records=0,
                key=("recurring", int(s["id"])),
            )
            for s in subs
        ]
        lines += self._ledger_lines(ledger)
        if sum(line.amount for line in lines) != int(ledger["amount"].sum()):
            raise ConflictError(
                "LEDGER_UNBALANCED",
                f"customer {customer['account']}, cycle {self.period}: the invoice lines differ"
                " from the cycle's postings; nothing was closed: run `ratebook check`",
            )
        composed = compose(
            lines, self.rates, minor_places=self.minor, mode=self.entity.rounding_mode
        )
        closed_at = customer["closed_at"]
        floor = customer["invoicing_floor"]
        streak_before = self.streaks.get(cid, 0)
        decision = decide(
            composed.totals.exact,
            self.entity.invoicing_floor if floor is None else int(floor),
            forced_reason(
                period=self.period,
                account_closed=customer["status"] == "closed"
                and (closed_at is None or closed_at < self.ends_at),
                streak_before=streak_before,
                max_carry_cycles=self.entity.max_carry_cycles,
                fiscal_year_end_month=self.entity.fiscal_year_end_month,
            ),
        )
        summary.customers += 1
        if decision.outcome is Outcome.INVOICED:
            self._invoice(customer, composed, decision, current, late, carried, summary)
        else:
            self._carry(cid, composed, streak_before, summary)

    def _ledger_lines(self, ledger: pl.DataFrame) -> list[Line]:
        lines = []
        forward = (
            ledger.filter(pl.col("kind") == "brought_forward")
            .group_by("category", "source_period", maintain_order=True)
            .agg(pl.col("amount").sum())
        )
        for row in forward.iter_rows(named=True):
            category = str(row["category"])
            what = "rounding" if category == "rounding" else category
            lines.append(
                Line(
                    kind="brought_forward",
                    category=category,
                    description=f"Brought forward from {row['source_period']} ({what})",
                    amount=int(row["amount"]),
                    source_period=row["source_period"],
                    key=("brought_forward", category),
                )
            )
        for row in (
            ledger.filter(~pl.col("kind").is_in([*USAGE_KINDS, "recurring"]))
            .filter(pl.col("kind") != "brought_forward")
            .iter_rows(named=True)
        ):
            lines.append(
                Line(
                    kind=str(row["kind"]),
                    category=str(row["category"] or row["kind"]),
                    description=str(row["memo"] or row["kind"]),
                    amount=int(row["amount"]),
                    key=(str(row["kind"]),),
                )
            )
        return lines

    def _invoice(
        self,
        customer: dict[str, Any],
        composed: Composed,
        decision: Decision,
        current: pl.DataFrame,
        late: pl.DataFrame,
        carried: pl.DataFrame,
        summary: CloseSummary,
    ) -> None:
        cid = int(customer["customer_id"])
        if self.number is None:  # read once: the close's lock keeps the numbering to itself
            self.number = invoices.next_number(self.conn, self.entity.id)
        number, self.number = self.number, self.number + 1
        reason = decision.reason or "floor"
        doc = document(
            number=number,
            display_number=invoice_id_text(self.entity.code, number),
            period=self.period,
            issued_at=self.now,
            reason=reason,
            seller={"entity": self.entity.code, "name": self.entity.name},
            customer={"account": customer["account"], "name": customer["name"]},
            currency=self.entity.currency,
            minor_places=self.minor,
            composed=composed,
            rates=self.rates,
        )
        text = canonical_json(doc)
        digest = hashlib.sha256(text.encode()).hexdigest()
        totals = composed.totals
        line_rows = []
        for n, line in enumerate(composed.lines, start=1):
            rate = rate_for(line.category, self.rates)
            line_rows.append(
                {
                    "line_no": n,
                    "kind": line.kind,
                    "category": line.category,
                    "description": line.description[:500],
                    "service": line.service,
                    "destination": line.destination,
                    "band": line.band,
                    "unit": line.unit,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "rate_unit": line.rate_unit,
                    "records": line.records,
                    "source_period": line.source_period,
                    "amount": line.amount,
                    "tax_treatment": rate.treatment.value,
                    "tax_rate_ppm": rate.rate_ppm,
                }
            )
        values = {
            "entity_id": self.entity.id,
            "number": number,
            "customer_id": cid,
            "period": self.period,
            "issued_at": self.now,
            "currency": self.entity.currency,
            "net": totals.net,
            "tax": totals.tax,
            "total": totals.total,
            "rounding": totals.rounding,
            "reason": reason,
            "document": text,
            "document_sha256": digest,
        }
        sealed = Seal()
        sealed.add_rows("invoice", [values])
        sealed.add_rows("invoice_lines", line_rows)
        invoice_id, line_ids = invoices.add_invoice(self.conn, values, line_rows)
        self.issued.append(
            audit.Change(
                entity_id=self.entity.id,
                action="invoice.issue",
                object_type="invoice",
                object_id=number,
                after={
                    "period": self.period,
                    "customer_id": cid,
                    "total": totals.total,
                    "reason": reason,
                    "document_sha256": digest,
                    "sealed": sealed.summary(),
                },
            )
        )
        by_key = {line.key: line_id for line, line_id in zip(composed.lines, line_ids, strict=True)}
        self._link(current, "usage", list(_USAGE_KEY), by_key)
        self._link(late, "late_usage", ["period", *_USAGE_KEY], by_key)
        for row in carried.select("charge_id", "service").iter_rows():
            line_id = by_key.get(("brought_forward", row[1]))
            if line_id is not None:
                self.charge_links.append({"charge_id": int(row[0]), "line_id": line_id})
        for key, line_id in by_key.items():
            if key and key[0] == "recurring":
                self.sub_links.append({"sc_id": int(key[1]), "line_id": line_id})
        if totals.tax:
            self._post(cid, self.period, "tax", totals.tax, "tax", None, f"tax, invoice {number}")
        self._forward(cid, "rounding", totals.rounding, f"invoice {number} rounding")
        self.results.append(
            self._result(cid, Outcome.INVOICED, composed, totals.rounding, 0, reason, invoice_id)
        )
        summary.invoiced += 1
        summary.invoiced_total += totals.total
        summary.invoice_numbers.append(number)

    def _link(
        self, charges: pl.DataFrame, kind: str, keys: list[str], by_key: dict[Any, int]
    ) -> None:
        if charges.is_empty():
            return
        for row in charges.select("charge_id", *keys).iter_rows():
            line_id = by_key[(kind, *row[1:])]
            self.charge_links.append({"charge_id": int(row[0]), "line_id": line_id})

    def _carry(
        self, cid: int, composed: Composed, streak_before: int, summary: CloseSummary
    ) -> None:
        by_category: dict[str, int] = {}
        for line in composed.lines:
            by_category[line.category] = by_category.get(line.category, 0) + line.amount
        for category, amount in by_category.items():
            self._forward(cid, category, amount, "carried: under the invoicing floor")
        net = composed.totals.net
        streak = streak_before + 1 if net != 0 else 0
        self.results.append(self._result(cid, Outcome.CARRIED, composed, net, streak, None, None))
        summary.carried += 1
        summary.carried_total += net

    def _forward(self, cid: int, category: str, amount: int, memo: str) -> None:
        if amount == 0:
            return
        self._post(cid, self.period, "carried", -amount, category, None, memo)
        self._post(
            cid,
            next_period(self.period),
            "brought_forward",
            amount,
            category,
            self.period,
            f"brought forward from {self.period}",
        )

    def _post(
        self,
        cid: int,
        period: str,
        kind: str,
        amount: int,
        category: str,
        source_period: str | None,
        memo: str,
    ) -> None:
        self.postings.append(
            {
                "entity_id": self.entity.id,
                "customer_id": cid,
                "period": period,
                "kind": kind,
                "amount": amount,
                "records": 0,
                "memo": memo,
                "category": category,
                "source_period": source_period,
                "batch_id": self.batch.id,
                "posted_at": self.now,
            }
        )

    def _result(
        self,
        cid: int,
        outcome: Outcome,
        composed: Composed,
        carried: int,
        streak: int,
        reason: str | None,
        invoice_id: int | None,
    ) -> dict[str, object]:
        totals = composed.totals
        return {
            "entity_id": self.entity.id,
            "customer_id": cid,
            "period": self.period,
            "outcome": outcome.value,
            "net": totals.net,
            "tax": totals.tax,
            "payable": totals.exact,
            "carried": carried,
            "streak": streak,
            "reason": reason,
            "invoice_id": invoice_id,
        }


def _recurring_text(item: dict[str, Any]) -> str:
    first, last = item["service_from"], item["service_to"]
    text = f"{item['plan']}, {first:%d %b %Y} to {last:%d %b %Y}"
    if item["days"] != item["interval_days"]:
        text += f" ({item['days']} of {item['interval_days']} days)"
    return text
