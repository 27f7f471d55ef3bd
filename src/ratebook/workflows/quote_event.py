"""Price hypothetical events against reference data alone: pure, no store.

The events go through the same normalise, validate, match and rate stages as imported
records, so a quote is the charge the batch path would give each as the first of its
customer's cycle. A quote against the usage the store holds (what ``ratebook quote`` and
``POST /v1/rate`` answer) is ``workflows.quote_in_cycle``.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ratebook.model.tariffs import prefix_text
from ratebook.model.usage import RAW_COLUMNS
from ratebook.money import AMOUNT_SCALE, PRICE_SCALE, QUANTITY_SCALE, format_fixed
from ratebook.pipeline.normalise import normalise
from ratebook.pipeline.numbers import number_plan
from ratebook.pipeline.price import Reference, price
from ratebook.pipeline.tiers import split_text
from ratebook.pipeline.validate import validate


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """A usage event as text, as a feed or an API would give it.

    Attributes:
        start_time: ISO 8601, with an offset or local to the entity's zone.
        quantity: decimal text in ``unit``.
    """

    start_time: str
    quantity: str
    unit: str = "s"
    service: str = "voice"
    account: str | None = None
    caller: str | None = None
    destination: str | None = None
    disposition: str | None = None
    record_id: str = "quote"


@dataclass(frozen=True, slots=True, kw_only=True)
class Quote:
    """A price, or why there is none.

    Attributes:
        charge: exact decimal text in ``currency`` (None when not priced).
        tiers: on a tiered row, ``(tier, quantity, price)`` text of each part; the quote takes
            the event as the first of its customer's cycle.
        code, reason: the exception the event would become (None when priced).
    """

    charge: str | None
    currency: str
    billed_quantity: str | None = None
    unit_price: str | None = None
    band: str | None = None
    prefix: str | None = None
    tiers: tuple[tuple[int, str, str], ...] = ()
    code: str | None = None
    reason: str | None = None


def events_frame(events: list[Event]) -> pl.DataFrame:
    """Events as the text columns a feed format produces (``RAW_COLUMNS``)."""
    return pl.DataFrame(
        [
            {
                "row_idx": i,
                "line": i + 1,
                "record_id": e.record_id,
                "start_time": e.start_time,
                "quantity": e.quantity,
                "unit": e.unit,
                "service": e.service.lower(),
                "account": e.account,
                "caller": e.caller,
                "destination": e.destination,
                "disposition": e.disposition,
                "direction": None,
                "attributes": None,
            }
            for i, e in enumerate(events)
        ],
        schema=RAW_COLUMNS,
    )


def quote_events(
    events: list[Event],
    reference: Reference,
    *,
    zone: str,
    region: str,
    currency: str,
    places: int,
) -> list[Quote]:
    """Price events against reference data (pure: no store)."""
    normal = normalise(
        events_frame(events), time_layout="iso8601", feed_zone=zone, plan=number_plan(region)
    )
    records, invalid = validate(normal, entity_zone=zone)
    priced = price(records, reference, zone=zone)
    quotes: dict[int, Quote] = {}
    for row in priced.rated.iter_rows(named=True):
        quotes[row["row_idx"]] = Quote(
            charge=format_fixed(row["charge"], AMOUNT_SCALE, places),
            currency=currency,
            billed_quantity=format_fixed(row["billed_quantity"], QUANTITY_SCALE),
            unit_price=format_fixed(row["unit_price"], PRICE_SCALE, min_places=places),
            band=row["band"],
            prefix=None if row["prefix"] is None else prefix_text(row["prefix"]),
            tiers=tuple(
                (
                    tier,
                    format_fixed(quantity, QUANTITY_SCALE),
                    format_fixed(tier_price, PRICE_SCALE, min_places=places),
                )
                for tier, quantity, tier_price in split_text(row["tier_split"])
            ),
        )
    for rejected in (invalid, priced.unmatched, priced.unrated):
        for row in rejected.iter_rows(named=True):
            quotes[row["row_idx"]] = Quote(
                charge=None, currency=currency, code=row["code"], reason=row["reason"]
            )
    return [quotes[i] for i in range(len(events))]
