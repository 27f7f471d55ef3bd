"""A quote answered from the compiled rating state alone, without frames.

The usual quote (events without ids of their own, read by ``pipeline.event_record``, in open
cycles) needs nothing of the store but what a tiered row asks: where the event would stand in
its customer-cycle. That is the group's running total when the event starts after every charge
of it, else the charges ahead of it: one indexed read either way (``store.cycles.usage_before``).
Any other quote gives None, and ``workflows.quote_in_cycle`` answers it with the staged intake,
which gives the same answers (the differential tests of the two paths hold them equal).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from ratebook.intake.answers import EventResult, exception_result, rated_result
from ratebook.intake.events import batch_columns, canonical_records
from ratebook.model.parties import Entity
from ratebook.pipeline import scalar
from ratebook.pipeline.compiled import rating_state
from ratebook.pipeline.price import Reference
from ratebook.pipeline.tiers import GROUP, ORDER
from ratebook.settings import Settings
from ratebook.sources.events import EventRow
from ratebook.store import cycles


def _refused(member: EventRow, entity: Entity, refusal: scalar.Refusal) -> EventResult:
    found = {"id": None, "code": refusal.code, "reason": refusal.reason, "field": refusal.field}
    return exception_result(member, entity, found, duplicate=False)


def _place(conn: Connection, entity: Entity, rated: list[dict[str, Any]]) -> None:
    """Price the tiered records at their places: after the stored charges ahead of each,
    then the quote's own records ahead of it."""
    groups: dict[Any, list[dict[str, Any]]] = {}
    for record in rated:
        groups.setdefault(tuple(record[c] for c in GROUP), []).append(record)
    for group, members in groups.items():
        if not any(scalar.tiered(r) for r in members):
            continue
        ahead = 0
        for record in sorted(members, key=lambda r: tuple(r[c] for c in ORDER)):
            if scalar.tiered(record):
                stored = cycles.usage_before(
                    conn, entity.id, group, tuple(record[c] for c in ORDER)
                )
                scalar.apply_ladder(record, stored + ahead)
            ahead += record["billed_quantity"]


def quick_answers(
    conn: Connection,
    entity: Entity,
    members: list[EventRow],
    *,
    reference: Reference,
    settings: Settings,
    window: tuple[datetime, datetime],
    closed: frozenset[str],
) -> dict[int, EventResult] | None:
    """Each event's answer by its index, or None for a quote this path does not take.

    ``members`` are one batch (one origin and attribute set) whose ids were made up for the
    quote, so none can repeat a stored record or a pending exception. ``window``: the times
    an event may start at (``intake.events.event_window``). ``closed``: the entity's closed
    cycles."""
    records = canonical_records(
        entity, members, batch_columns(members), settings=settings, window=window
    )
    if records is None or len({r["record_id"] for r in records}) < len(records):
        return None
    if closed & {r["period"] for r in records}:
        return None  # usage of a closed cycle goes where the entity's late-usage rule says
    state = rating_state(reference)
    zone = entity.timezone
    results: dict[int, EventResult] = {}
    rated: list[tuple[EventRow, dict[str, Any]]] = []
    for member, record in zip(members, records, strict=True):
        found = scalar.match(state, record, zone)
        if isinstance(found, scalar.Refusal):
            results[member.index] = _refused(member, entity, found)
            continue
        record.update(customer_id=found[0], customer_account=found[1])
        rating = scalar.rate(state, record, found[0], zone)
        refusal = (
            rating if isinstance(rating, scalar.Refusal) else scalar.breach(state, record, rating)
        )
        if refusal is not None:
            results[member.index] = _refused(member, entity, refusal)
            continue
        assert not isinstance(rating, scalar.Refusal)
        record.update(rating)
        record["origin"] = member.origin
        rated.append((member, record))
    _place(conn, entity, [record for _, record in rated])
    for member, record in rated:
        results[member.index] = rated_result(member, entity, record, duplicate=False)
    return results
