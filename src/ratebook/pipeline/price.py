"""Match then rate: the stages that need reference data, shared by imports and quotes, so a
quote is priced by exactly the code that prices a batch."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ratebook.pipeline.match import match_customers
from ratebook.pipeline.rate import rate


@dataclass(frozen=True, slots=True, kw_only=True)
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
) -> Priced:
    """Match canonical records to customers and rate them; ``zone`` dates messages.

    ``enforce_policy=False`` prices records beyond the policy limits (an accepted exception);
    ``place_tiers=False`` leaves tiered records at their first tier (see ``rate.rate``).
    """
    matched, unmatched = match_customers(records, reference.identifiers, zone=zone)
    rated, unrated = rate(
        matched,
        assignments=reference.assignments,
        versions=reference.versions,
        rows=reference.rows,
        zone=zone,
        enforce_policy=enforce_policy,
        place_tiers=place_tiers,
    )
    return Priced(matched=matched, rated=rated, unmatched=unmatched, unrated=unrated)
