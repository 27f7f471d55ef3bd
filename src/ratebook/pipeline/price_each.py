"""Price a small frame of records one by one (``pipeline.scalar``), handing back exactly the
frames the vectorized stages give (``price.Priced``): the same columns, types, order and
rejections, so everything after pricing cannot tell which path ran."""

from __future__ import annotations

from typing import Any

import polars as pl

from ratebook.model.frames import rows_frame
from ratebook.model.rejections import REJECTION_SCHEMA
from ratebook.pipeline import scalar
from ratebook.pipeline.compiled import RatingState
from ratebook.pipeline.tiers import GROUP, ORDER

#: The types of the columns matching and rating add.
MATCH_TYPES: dict[str, pl.DataType] = {"customer_id": pl.Int64(), "customer_account": pl.String()}
RATING_TYPES: dict[str, pl.DataType] = {
    "rate_table_id": pl.Int64(),
    "version_id": pl.Int64(),
    "rate_row_id": pl.Int64(),
    "prefix": pl.String(),
    "band": pl.String(),
    "destination_name": pl.String(),
    "billed_quantity": pl.Int64(),
    "unit_price": pl.Int64(),
    "rate_unit": pl.Int64(),
    "connect_fee": pl.Int64(),
    "discount_ppm": pl.Int64(),
    "charge": pl.Int64(),
    "rounding_mode": pl.String(),
    "rounding_places": pl.Int64(),
    "usage_before": pl.Int64(),
    "tier": pl.Int64(),
    "tier_split": pl.String(),
}


def _rejection(row_idx: int, refusal: scalar.Refusal) -> dict[str, Any]:
    return {
        "row_idx": row_idx,
        "code": refusal.code,
        "sub_code": None,
        "field": refusal.field,
        "reason": refusal.reason,
    }


def _place(rated: list[dict[str, Any]]) -> None:
    """Price the tiered records at their places among ``rated`` (``tiers.place``: the
    group's billed quantity ahead of each, in ``ORDER``, from nothing)."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for record in rated:
        groups.setdefault(tuple(record[c] for c in GROUP), []).append(record)
    for members in groups.values():
        if not any(scalar.tiered(r) for r in members):
            continue
        used = 0
        # ORDER; records without an origin are of the empty origin (``rate.rate``)
        for record in sorted(members, key=lambda r: tuple(r.get(c) or "" for c in ORDER)):
            if scalar.tiered(record):
                scalar.apply_ladder(record, used)
            used += record["billed_quantity"]


def price_each(
    records: pl.DataFrame,
    state: RatingState,
    *,
    zone: str,
    enforce_policy: bool = True,
    place_tiers: bool = True,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """``(matched, rated, unmatched, unrated)`` as ``price.price`` gives them."""
    matched: list[dict[str, Any]] = []
    rated: list[dict[str, Any]] = []
    unmatched: list[dict[str, Any]] = []
    no_rate: list[dict[str, Any]] = []
    breaches: dict[str, list[dict[str, Any]]] = {"quantity": [], "charge": [], "price": []}
    for record in records.iter_rows(named=True):
        found = scalar.match(state, record, zone)
        if isinstance(found, scalar.Refusal):
            unmatched.append(_rejection(record["row_idx"], found))
            continue
        record = {**record, "customer_id": found[0], "customer_account": found[1]}
        matched.append(record)
        rating = scalar.rate(state, record, found[0], zone)
        if isinstance(rating, scalar.Refusal):
            no_rate.append(_rejection(record["row_idx"], rating))
            continue
        if enforce_policy:
            beyond = scalar.breach(state, record, rating)
            if beyond is not None:
                assert beyond.field is not None
                breaches[beyond.field].append(_rejection(record["row_idx"], beyond))
                continue
        rated.append({**record, **rating})
    if place_tiers:
        _place(rated)
    matched_schema = {**records.schema, **MATCH_TYPES}
    rated_schema = {**matched_schema, **RATING_TYPES}
    return (
        rows_frame(matched, matched_schema),
        rows_frame([{c: r[c] for c in rated_schema} for r in rated], rated_schema),
        rows_frame(unmatched, REJECTION_SCHEMA),
        rows_frame(
            [*no_rate, *breaches["quantity"], *breaches["charge"], *breaches["price"]],
            REJECTION_SCHEMA,
        ),
    )
