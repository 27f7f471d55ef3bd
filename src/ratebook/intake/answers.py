"""What became of each pushed event, for the reply: its charge as booked, its exception, or,
for a repeat, its record's outcome (of this batch, or stored before)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import Connection

from ratebook.intake.chunk import ReadChunk
from ratebook.model.parties import Entity
from ratebook.model.tariffs import prefix_text
from ratebook.money import (
    AMOUNT_SCALE,
    PRICE_SCALE,
    QUANTITY_SCALE,
    format_fixed,
    format_fixed_expr,
)
from ratebook.pipeline.tiers import split_text
from ratebook.sources.events import EventRow
from ratebook.store import event_outcomes


@dataclass(frozen=True, slots=True)
class TierPart:
    """The part of a record in one tier of a graduated row (exact decimal text); tier 0 is
    the row's own price, then its steps in order."""

    tier: int
    quantity: str
    price: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EventResult:
    """What became of one event.

    Attributes:
        index: the event's place in the request, from 0.
        record_id: its id as given (None when it had none).
        origin: the feed it belongs to.
        status: ``rated``, ``exception`` (in the review queue) or ``written_off``.
        duplicate: the event repeats one already received; the outcome is the original's.
        charge: the rated charge in the entity's currency (text), when rated.
        currency: the entity's currency.
        billed_quantity: the quantity after increments, in the event's unit.
        unit: the event's unit.
        unit_price: the price per rate unit that applied.
        band: the time band, when the rate has bands.
        prefix: the destination prefix that matched, when the rate has prefixes.
        period: the billing cycle, ``YYYY-MM``.
        tiers: on a graduated row, the parts of the event in each tier it spans, in order
            (None otherwise).
        exception_id: the exception in the review queue, when not rated.
        code: the exception's stable code.
        reason: a sentence saying what to fix.
        field: the event field at fault, when one is.
    """

    index: int
    record_id: str | None
    origin: str
    status: str
    duplicate: bool = False
    charge: str | None = None
    currency: str = ""
    billed_quantity: str | None = None
    unit: str | None = None
    unit_price: str | None = None
    band: str | None = None
    prefix: str | None = None
    period: str | None = None
    tiers: tuple[TierPart, ...] | None = None
    exception_id: int | None = None
    code: str | None = None
    reason: str | None = None
    field: str | None = None


def answer_batch(
    conn: Connection,
    entity: Entity,
    origin: str,
    fresh: list[EventRow],
    read: ReadChunk,
    *,
    refused: dict[int, dict[str, Any]],
    rerated: bool,
) -> dict[int, EventResult]:
    """The answers of a batch's fresh events, by event index: its exception (``refused``,
    by row), its rated charge as booked, or, for a repeat, its record's outcome: one of this
    batch's, or one stored before. With ``rerated`` (nothing of the batch stored), a stored
    record is answered as the batch's placing re-rates it; else it is read as it stands."""
    rated = rated_answers(read.assessed.placed.rated, entity.charge_places)
    record_rows = dict(zip(read.new["record_id"], read.new["row_idx"], strict=True))
    stored = event_outcomes.record_outcomes(
        conn, entity.id, origin, sorted(set(read.duplicates["record_id"]) - set(record_rows))
    )
    if rerated:
        changed = {
            row["record_pk"]: row
            for row in read.assessed.placed.replacements.select(
                "record_pk", *(c for c in ANSWER_COLUMNS if c != "unit")
            ).iter_rows(named=True)
        }
        stored = {
            record_id: {**found, **changed.get(found["record_pk"], {})}
            for record_id, found in stored.items()
        }
    results: dict[int, EventResult] = {}
    for row_idx, m in enumerate(fresh):
        if row_idx in refused:
            results[m.index] = exception_result(m, entity, refused[row_idx], duplicate=False)
        elif row_idx in rated:
            results[m.index] = rated_result(m, entity, rated[row_idx], duplicate=False)
        elif m.record_id in record_rows:
            first = record_rows[m.record_id]
            results[m.index] = (
                rated_result(m, entity, rated[first], duplicate=True)
                if first in rated
                else exception_result(m, entity, refused[first], duplicate=True)
            )
        elif m.record_id in stored:
            results[m.index] = stored_result(m, entity, stored[m.record_id])
        else:
            raise RuntimeError(f"event {m.position} has no outcome")
    return results


#: The columns of a rated record that its answer shows (as ``event_outcomes`` reads them).
ANSWER_COLUMNS = (
    "charge",
    "billed_quantity",
    "unit",
    "unit_price",
    "band",
    "prefix",
    "period",
    "tier_split",
)


#: Up to this many rated records are formatted one by one rather than as one frame.
_FEW_ROWS = 64


def rated_answers(rated: pl.DataFrame, places: int) -> dict[int, dict[str, Any]]:
    """Rated records' ``ANSWER_COLUMNS`` by ``row_idx``, for ``rated_result``, with their
    amounts already as text (``places``: the entity's charge places), formatted for the whole
    frame at once. A few records are answered as they are, ``rated_result`` formatting each
    amount alone (the same text, and the same refusal of a charge finer than ``places``)."""
    if rated.height <= _FEW_ROWS:
        return {
            row["row_idx"]: {name: row[name] for name in ("row_idx", *ANSWER_COLUMNS)}
            for row in rated.to_dicts()
        }
    texts = rated.select(
        "row_idx",
        *ANSWER_COLUMNS,
        format_fixed_expr(pl.col("charge"), AMOUNT_SCALE, places).alias("charge_text"),
        format_fixed_expr(pl.col("billed_quantity"), QUANTITY_SCALE).alias("billed_text"),
        format_fixed_expr(pl.col("unit_price"), PRICE_SCALE, min_places=places).alias("price_text"),
    )
    if texts["charge_text"].null_count() > texts["charge"].null_count():
        raise ValueError(f"a charge has more than the entity's {places} places")
    return {row["row_idx"]: row for row in texts.iter_rows(named=True)}


def rated_result(
    row: EventRow, entity: Entity, found: dict[str, Any], *, duplicate: bool
) -> EventResult:
    """The answer for a rated record, from its charge's columns: as stored
    (``event_outcomes``) or as just booked (``rated_answers``, amounts already as text)."""
    if found["charge"] is None:
        # a stored record whose exception was written off (rejected in review)
        return EventResult(
            index=row.position,
            record_id=row.record_id,
            origin=row.origin,
            status="written_off",
            duplicate=duplicate,
            currency=entity.currency,
            unit=found["unit"],
        )
    return EventResult(
        index=row.position,
        record_id=row.record_id,
        origin=row.origin,
        status="rated",
        duplicate=duplicate,
        charge=found.get("charge_text")
        or format_fixed(found["charge"], AMOUNT_SCALE, entity.charge_places),
        currency=entity.currency,
        billed_quantity=found.get("billed_text")
        or format_fixed(found["billed_quantity"], QUANTITY_SCALE),
        unit=found["unit"],
        unit_price=found.get("price_text")
        or format_fixed(found["unit_price"], PRICE_SCALE, min_places=entity.charge_places),
        band=found["band"],
        prefix=None if found["prefix"] is None else prefix_text(found["prefix"]),
        period=found["period"],
        tiers=tier_parts(found.get("tier_split"), entity.charge_places),
    )


def tier_parts(split: str | None, places: int) -> tuple[TierPart, ...] | None:
    """A stored ``tier_split`` as exact text parts (None for a record not split in tiers)."""
    parts = split_text(split)
    if not parts:
        return None
    return tuple(
        TierPart(
            tier,
            format_fixed(quantity, QUANTITY_SCALE),
            format_fixed(price, PRICE_SCALE, min_places=places),
        )
        for tier, quantity, price in parts
    )


def stored_result(row: EventRow, entity: Entity, found: dict[str, Any]) -> EventResult:
    """A repeat of a stored record (``event_outcomes.record_outcomes``): its current charge,
    or its pending exception."""
    if found["charge"] is not None or found["exception_id"] is None:
        return rated_result(row, entity, found, duplicate=True)
    return exception_result(
        row,
        entity,
        {
            "id": found["exception_id"],
            "code": found["code"],
            "reason": found["reason"],
            "field": found["field"],
        },
        duplicate=True,
    )


def exception_result(
    row: EventRow, entity: Entity, found: dict[str, Any], *, duplicate: bool
) -> EventResult:
    """The answer for an exception: ``found`` has its ``id``, ``code``, ``reason``, ``field``."""
    return EventResult(
        index=row.position,
        record_id=row.record_id,
        origin=row.origin,
        status="exception",
        duplicate=duplicate,
        currency=entity.currency,
        exception_id=found["id"],
        code=found["code"],
        reason=found["reason"],
        field=found["field"],
    )
