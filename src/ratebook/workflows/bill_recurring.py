"""What a cycle close posts before it closes each customer: the subscription intervals due
(``billing.recurring``) and the volume-tier settlements (``billing.volume``), in the close's
batch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from ratebook.billing import recurring
from ratebook.billing.volume import settle_volume
from ratebook.model.ledger import Posting, PostingKind
from ratebook.model.parties import Entity
from ratebook.store import subscriptions, usage
from ratebook.store.cycles import period_charges
from ratebook.store.reference import load_reference
from ratebook.store.seals import Seal


@dataclass(frozen=True, slots=True)
class CloseBatch:
    """A close's batch, and the seal of what it writes."""

    id: int
    seal: Seal


def bill_recurring(
    conn: Connection, entity: Entity, period: str, now: datetime, batch: CloseBatch
) -> int:
    """Bill every subscription interval due at the close of ``period``; how many."""
    billed = subscriptions.billed_intervals(conn, entity.id)
    postings: list[Posting] = []
    count = 0
    for sub in subscriptions.all_subscriptions(conn, entity.id):
        charges = recurring.due(
            sub,
            period,
            billed=billed.get(sub.id, frozenset()),
            places=entity.charge_places,
            mode=entity.rounding_mode,
        )
        subscriptions.add_charges(conn, entity.id, period, charges, seal=batch.seal, now=now)
        count += len(charges)
        postings += [
            Posting(
                customer_id=sub.customer_id,
                period=period,
                kind=PostingKind.RECURRING,
                amount=c.amount,
                memo=f"{sub.plan} {c.service_from}..{c.service_to}",
                category=sub.category,
            )
            for c in charges
        ]
    post(conn, entity, postings, now, batch)
    return count


def settle_volume_tiers(
    conn: Connection, entity: Entity, period: str, now: datetime, batch: CloseBatch
) -> None:
    """Post each customer's volume-tier settlement of ``period``."""
    charges = period_charges(conn, entity.id, period)
    if charges.is_empty():
        return
    adjustments = settle_volume(charges, load_reference(conn, entity.id).rows)
    postings = [
        Posting(
            customer_id=row["customer_id"],
            period=period,
            kind=PostingKind.VOLUME_SETTLEMENT,
            amount=row["amount"],
            quantity=row["used"],
            records=row["records"],
            memo=f"volume tier settlement: {row['service']} ({row['unit']})",
            category=row["service"],
        )
        for row in adjustments.iter_rows(named=True)
    ]
    post(conn, entity, postings, now, batch)


def post(
    conn: Connection, entity: Entity, postings: list[Posting], now: datetime, batch: CloseBatch
) -> None:
    """Write ``postings`` in the close's batch."""
    usage.add_postings(
        conn, postings, entity_id=entity.id, batch_id=batch.id, posted_at=now, seal=batch.seal
    )
