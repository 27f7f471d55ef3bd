"""Stage 5b: tiers. Where a record falls in its customer's cycle, and what its tiered row
charges there.

A tiered row's price depends on the customer's **cycle-cumulative usage of the service**: the
billed quantity of every rated record of the same customer, billing cycle, service and unit
(``GROUP``) that comes before it in ``ORDER`` (start time, then origin, then record id). That
order is a property of the records alone, so a record's position, and so its charge, is a
deterministic function of the customer-cycle's records, whatever order they arrive in.

A ladder is ``[{"from": 0, "price": p0}, {"from": q1, "price": p1}, ...]``: tier *i* holds the
units after ``from_i`` up to ``from_{i+1}`` (QUANTITY_SCALE, the row's base unit).

* **graduated**: each billed unit costs the price of the tier it falls in; a record that
  straddles a boundary is split between the tiers (``tier_split`` lists the parts).
* **volume**: the tier the cycle reaches prices all of its units. Until the cycle closes a
  record carries the *provisional* price: that of the tier reached by the usage up to and
  including it. ``billing.volume.settle_volume`` works out the adjustment at close.

The rest of the charge (connect fee, minimum, discount, one rounding) is as for any row.
"""

from __future__ import annotations

import json

import polars as pl

from ratebook.pipeline.charges import charge_expr

#: What a cycle-cumulative counter is kept per.
GROUP = ("customer_id", "period", "service", "unit")
#: The order records take in their group.
ORDER = ("start_time", "origin", "record_id")

LADDER = pl.List(pl.Struct({"from": pl.Int64, "price": pl.Int64}))


def on_tiers(records: pl.DataFrame, rows: pl.DataFrame) -> pl.Series:
    """Whether each record is priced by a tiered row."""
    tiered = rows.filter(pl.col("tier_kind").is_not_null())["rate_row_id"]
    return records["rate_row_id"].is_in(tiered.implode())


def price_in_cycle(
    records: pl.DataFrame, rows: pl.DataFrame, before: pl.DataFrame | None = None
) -> pl.DataFrame:
    """``place`` then ``apply_tiers``: records on no tiered row are returned as they are."""
    if not on_tiers(records, rows).any():
        return records
    placed = apply_tiers(place(records, before), rows)
    # a place is kept only where it priced something
    return placed.with_columns(
        pl.when(pl.col("tier").is_not_null()).then(pl.col("usage_before")).alias("usage_before")
    )


def place(records: pl.DataFrame, before: pl.DataFrame | None = None) -> pl.DataFrame:
    """Add ``usage_before``: the group's billed quantity ahead of each record.

    Args:
        records: with ``GROUP``, ``ORDER`` and ``billed_quantity``.
        before: per ``GROUP``, ``used``: what the group held before these records (default 0).
    """
    frame = records.with_row_index("_at")
    if before is not None and not before.is_empty():
        frame = frame.join(
            before.select(*GROUP, "used"), on=list(GROUP), how="left", nulls_equal=True
        )
    else:
        frame = frame.with_columns(pl.lit(0, pl.Int64).alias("used"))
    return (
        frame.sort([*GROUP, *ORDER], nulls_last=True)
        .with_columns(
            (
                pl.col("used").fill_null(0)
                + pl.col("billed_quantity").cum_sum().over(GROUP)
                - pl.col("billed_quantity")
            ).alias("usage_before")
        )
        .sort("_at")
        .drop("_at", "used")
    )


def apply_tiers(records: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """Price the records on tiered rows at their place (``usage_before``); others unchanged.

    Args:
        records: rated records with ``usage_before``, ``rate_row_id``, ``billed_quantity``,
            ``rate_unit``, ``connect_fee``, ``discount_ppm``, ``rounding_places`` and
            ``rounding_mode``, and the columns it sets on a tiered record: ``tier``,
            ``tier_split``, ``unit_price`` and ``charge``.
        rows: the rate rows (``rate.ROW_SCHEMA``).
    """
    # each row's ladder is decoded once, not once per record it prices
    tiered_rows = rows.filter(pl.col("tier_kind").is_not_null()).select(
        "rate_row_id", "tier_kind", pl.col("tiers").str.json_decode(LADDER), "minimum_charge"
    )
    if tiered_rows.is_empty() or records.is_empty():
        return records
    frame = records.with_row_index("_at")
    tiered = frame.select("_at", "rate_row_id", "usage_before", "billed_quantity").join(
        tiered_rows, on="rate_row_id", how="inner"
    )
    if tiered.is_empty():
        return records
    steps = (
        tiered.explode("tiers")
        .unnest("tiers")
        .with_columns(pl.col("from").cum_count().over("_at").sub(1).cast(pl.Int64).alias("tier"))
        .with_columns(pl.col("from").shift(-1).over("_at").alias("_upto"))
    )
    start = pl.col("usage_before")
    end = pl.col("usage_before") + pl.col("billed_quantity")
    upto = pl.col("_upto")
    graduated = pl.max_horizontal(
        pl.min_horizontal(end, upto.fill_null(end)) - pl.max_horizontal(start, pl.col("from")),
        pl.lit(0),
    )
    reached = (pl.col("from") < end) & (upto.is_null() | (end <= upto))
    volume = pl.when(reached).then(pl.col("billed_quantity")).otherwise(0)
    steps = steps.with_columns(
        pl.when(pl.col("tier_kind") == "graduated").then(graduated).otherwise(volume).alias("part")
    )
    used = steps.filter(pl.col("part") > 0)
    summary = (
        used.group_by("_at")
        .agg(
            (pl.col("part").cast(pl.Int128) * pl.col("price").cast(pl.Int128))
            .sum()
            .alias("_usage"),
            pl.col("tier").first().alias("_tier"),
            pl.col("price").first().alias("_price"),
            pl.struct(quantity="part", price="price", tier="tier")
            .struct.json_encode()
            .str.join(",")
            .alias("_split"),
        )
        .with_columns(("[" + pl.col("_split") + "]").alias("_split"))
    )
    # an uncharged record (nothing billed) stays at tier 0 with a zero charge
    placed = tiered.select("_at", pl.col("minimum_charge").alias("_minimum")).join(
        summary, on="_at", how="left"
    )
    charge = charge_expr(
        pl.col("_usage").fill_null(0),
        rate_unit=pl.col("rate_unit"),
        connect_fee=pl.col("connect_fee"),
        minimum=pl.col("_minimum"),
        charged=pl.col("billed_quantity") > 0,
        places=pl.col("rounding_places"),
        mode=pl.col("rounding_mode"),
        discount_ppm=pl.col("discount_ppm"),
        roundings=records.select("rounding_places", "rounding_mode").unique().rows(),
    )
    hit = pl.col("_minimum").is_not_null()
    return (
        frame.join(placed, on="_at", how="left")
        .with_columns(
            pl.when(hit).then(pl.col("_tier").fill_null(0)).otherwise(pl.col("tier")).alias("tier"),
            pl.when(hit).then(pl.col("_split")).otherwise(pl.col("tier_split")).alias("tier_split"),
            pl.when(hit & pl.col("_price").is_not_null())
            .then(pl.col("_price"))
            .otherwise(pl.col("unit_price"))
            .alias("unit_price"),
            pl.when(hit).then(charge).otherwise(pl.col("charge")).alias("charge"),
        )
        .sort("_at")
        .select(records.columns)
    )


def split_text(split: str | None) -> list[tuple[int, int, int]]:
    """``(tier, quantity, price)`` parts of a stored ``tier_split``."""
    if not split:
        return []
    return [(int(p["tier"]), int(p["quantity"]), int(p["price"])) for p in json.loads(split)]
