"""A quote answered from the compiled rating state alone, without frames.

The usual quote (events without ids of their own, read by ``pipeline.event_record``, in open
cycles) needs nothing of the store but what a tiered row asks: where the event would stand in
its customer-cycle. That is the group's running total when the event starts after every charge
of it, else the charges ahead of it: one indexed read either way (``store.cycles.usage_before``).
Any other quote gives None, and ``workflows.quote_in_cycle`` answers it with the staged intake,
which gives the same answers (the differential tests of the two paths hold them equal).
"""

from __future__ import annotations

from dataclasses import dataclass
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


#: A customer-cycle (``pipeline.tiers.GROUP``) and a place in it (``pipeline.tiers.ORDER``).
Place = tuple[tuple[Any, ...], tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class PricedQuote:
    """A quote's events priced from the rating state, before the store says where its
    tiered ones stand in their customer-cycles.

    Attributes:
        refused: the answers of the events refused (unmatched, unrated, out of policy), by
            index.
        rated: the others, each with its record as priced (a tiered one at its row's first
            tier, until ``answers`` places it).
        periods: the cycles the events fall in.
    """

    refused: dict[int, EventResult]
    rated: list[tuple[EventRow, dict[str, Any]]]
    periods: frozenset[str]

    def places(self) -> list[Place]:
        """Where each tiered record stands, in the order ``answers`` takes the store's usage
        ahead of them."""
        return [place for place, _, _ in _tiered([record for _, record in self.rated])]


def _tiered(rated: list[dict[str, Any]]) -> list[tuple[Place, dict[str, Any], int]]:
    """Each tiered record: its place, itself, and the billed quantity of the quote's own
    records of its group ahead of it."""
    groups: dict[Any, list[dict[str, Any]]] = {}
    for record in rated:
        groups.setdefault(tuple(record[c] for c in GROUP), []).append(record)
    found: list[tuple[Place, dict[str, Any], int]] = []
    for group, members in groups.items():
        if not any(scalar.tiered(r) for r in members):
            continue
        ahead = 0
        for record in sorted(members, key=lambda r: tuple(r[c] for c in ORDER)):
            if scalar.tiered(record):
                found.append(((group, tuple(record[c] for c in ORDER)), record, ahead))
            ahead += record["billed_quantity"]
    return found


def price_quote(
    entity: Entity,
    members: list[EventRow],
    *,
    reference: Reference,
    settings: Settings,
    window: tuple[datetime, datetime],
) -> PricedQuote | None:
    """A quote's events priced from the compiled rating state, or None for a quote this
    path does not take (see ``quick_answers``)."""
    records = canonical_records(
        entity, members, batch_columns(members), settings=settings, window=window
    )
    if records is None or len({r["record_id"] for r in records}) < len(records):
        return None
    state = rating_state(reference)
    zone = entity.timezone
    refused: dict[int, EventResult] = {}
    rated: list[tuple[EventRow, dict[str, Any]]] = []
    for member, record in zip(members, records, strict=True):
        found = scalar.match(state, record, zone)
        if isinstance(found, scalar.Refusal):
            refused[member.index] = _refused(member, entity, found)
            continue
        record.update(customer_id=found[0], customer_account=found[1])
        rating = scalar.rate(state, record, found[0], zone)
        refusal = (
            rating if isinstance(rating, scalar.Refusal) else scalar.breach(state, record, rating)
        )
        if refusal is not None:
            refused[member.index] = _refused(member, entity, refusal)
            continue
        assert not isinstance(rating, scalar.Refusal)
        record.update(rating)
        record["origin"] = member.origin
        rated.append((member, record))
    return PricedQuote(
        refused=refused, rated=rated, periods=frozenset(r["period"] for r in records)
    )


def answers(priced: PricedQuote, entity: Entity, stored: list[int]) -> dict[int, EventResult]:
    """Each event's answer by its index: every tiered record priced at its place, after
    ``stored`` (the store's usage ahead of each of ``priced.places()``, in that order) and
    the quote's own records ahead of it."""
    for (_, record, ahead), usage in zip(
        _tiered([record for _, record in priced.rated]), stored, strict=True
    ):
        scalar.apply_ladder(record, usage + ahead)
    results = dict(priced.refused)
    for member, record in priced.rated:
        results[member.index] = rated_result(member, entity, record, duplicate=False)
    return results


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
    cycles (usage of a closed cycle goes where the entity's late-usage rule says: not this
    path's to answer)."""
    priced = price_quote(entity, members, reference=reference, settings=settings, window=window)
    if priced is None or closed & priced.periods:
        return None
    stored = [cycles.usage_before(conn, entity.id, group, key) for group, key in priced.places()]
    return answers(priced, entity, stored)
