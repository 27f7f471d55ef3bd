"""Match then rate: the stages that need reference data, shared by imports and quotes, so a
quote is priced by exactly the code that prices a batch."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ratebook.model.usage import SCALAR_BEFORE
from ratebook.pipeline.compiled import is_compiled, rating_state
from ratebook.pipeline.match import match_customers
from ratebook.pipeline.price_each import price_each
from ratebook.pipeline.rate import rate

#: Up to this many records are priced one by one (``pipeline.scalar``), beyond it as frames:
#: the vectorized stages cost tens of milliseconds of set-up and then little per record, the
#: scalar path a few tens of microseconds a record (``make bench`` measures the cut-over).
SCALAR_ROWS = 500
#: Reference data up to this many identifiers and rate rows is compiled for the scalar path
#: whenever it is wanted; larger data only where a process keeps it between requests (the
#: API's ``ReferenceCache`` compiles it), as compiling a large deck costs more than a
#: vectorized pass.
COMPILE_ROWS = 20_000


def scalar_path(records: pl.DataFrame, reference: Reference) -> bool:
    """Whether ``price`` takes the scalar path for ``records``."""
    return (
        records.height <= SCALAR_ROWS
        and (
            is_compiled(reference)
            or reference.rows.height + reference.identifiers.height <= COMPILE_ROWS
        )
        and (records.is_empty() or records["start_time"].max() < SCALAR_BEFORE)  # type: ignore[operator]
    )


@dataclass(frozen=True, kw_only=True, eq=False)
class Reference:
    """The reference data rating reads, as frames (see the stages' schemas).

    Attributes:
        identifiers: customer identifiers (``model.parties.IDENTIFIER_SCHEMA``).
        assignments: rate-table assignments (``model.parties.ASSIGNMENT_SCHEMA``).
        versions: rate-table versions (``model.tariffs.VERSION_SCHEMA``).
        rows: rate rows (``model.tariffs.ROW_SCHEMA``).
    """

    identifiers: pl.DataFrame
    assignments: pl.DataFrame
    versions: pl.DataFrame
    rows: pl.DataFrame


@dataclass(frozen=True, slots=True, kw_only=True)
class Priced:
    """What pricing canonical records gave.

    Attributes:
        matched: records with a customer (``customer_id``), rated or not.
        rated: records priced (``rate.RATING_COLUMNS`` added).
        unmatched: ``UNMATCHED_CUSTOMER`` rejections.
        unrated: ``NO_RATE`` and ``OUT_OF_POLICY`` rejections.
    """

    matched: pl.DataFrame
    rated: pl.DataFrame
    unmatched: pl.DataFrame
    unrated: pl.DataFrame


def price(
    records: pl.DataFrame,
    reference: Reference,
    *,
    zone: str,
    enforce_policy: bool = True,
    place_tiers: bool = True,
    scalar: bool | None = None,
) -> Priced:
    """Match canonical records to customers and rate them; ``zone`` dates messages.

    ``enforce_policy=False`` prices records beyond the policy limits (an accepted exception);
    ``place_tiers=False`` leaves tiered records at their first tier (see ``rate.rate``).
    ``scalar`` forces one path (default: ``scalar_path``).
    """
    if scalar if scalar is not None else scalar_path(records, reference):
        matched, rated, unmatched, unrated = price_each(
            records,
            rating_state(reference),
            zone=zone,
            enforce_policy=enforce_policy,
            place_tiers=place_tiers,
        )
        return Priced(matched=matched, rated=rated, unmatched=unmatched, unrated=unrated)
    matched, unmatched = match_customers(records, reference.identifiers, zone=zone)
    rated, unrated = rate(
        matched,
        assignments=reference.assignments,
        versions=reference.versions,
        rows=reference.rows,
        zone=zone,
        enforce_policy=enforce_policy,
        place_tiers=place_tiers,
        state=lambda: rating_state(reference),
    )
    return Priced(matched=matched, rated=rated, unmatched=unmatched, unrated=unrated)
