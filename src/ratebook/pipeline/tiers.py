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

    The running total is taken in ``ORDER`` within each group, the rows staying where they
    are (all of ``ORDER`` is non-null: records and stored charges alike).

    Args:
        records: with ``GROUP``, ``ORDER`` and ``billed_quantity``.
        before: per ``GROUP``, ``used``: what the group held before these records (default 0).
    """
    # lazy: a plan runs the windowed sum with less copying than an eager frame
    frame = records.lazy()
    if before is not None and not before.is_empty():
        frame = frame.join(
            before.lazy().select(*GROUP, "used"),
            on=list(GROUP),
            how="left",
            nulls_equal=True,
            maintain_order="left",
        )
    else:
        frame = frame.with_columns(pl.lit(0, pl.Int64).alias("used"))
    running = pl.col("billed_quantity").cum_sum().over(list(GROUP), order_by=list(ORDER))
    return (
        frame.with_columns(
            (pl.col("used").fill_null(0) + running - pl.col("billed_quantity")).alias(
                "usage_before"
            )
        )
        .drop("used")
        .collect()
    )


def _ladders(rows: pl.DataFrame, used: pl.Series) -> tuple[pl.DataFrame, int]:
    """The ladders of the tiered rows among ``used`` (rate row ids) side by side, decoded
    once per row, not once per record, and only for rows in use (one for a single event,
    not the deck's tens of thousands): ``rate_row_id``, ``tier_kind``, ``minimum_charge``,
    ``max_cost`` and ``_from{k}``/``_price{k}`` for each tier ``k`` of the longest ladder
    (null past a row's own), and that length."""
    tiered = rows.filter(
        pl.col("tier_kind").is_not_null() & pl.col("rate_row_id").is_in(used.unique().implode())
    ).select("rate_row_id", "tier_kind", "minimum_charge", "max_cost", "tiers")
    if tiered.is_empty():
        return tiered, 0
    # rows share ladders (a deck's prefixes priced alike): each distinct text decoded once
    texts = tiered.select(pl.col("tiers").unique())
    tiered = tiered.join(
        texts.with_columns(pl.col("tiers").str.json_decode(LADDER).alias("_ladder")),
        on="tiers",
        how="left",
        maintain_order="left",
    ).select(
        "rate_row_id",
        "tier_kind",
        "minimum_charge",
        "max_cost",
        pl.col("_ladder").alias("tiers"),
    )
    depth = int(tiered.select(pl.col("tiers").list.len().max()).item() or 0)
    steps = pl.col("tiers")
    return (
        tiered.select(
            "rate_row_id",
            "tier_kind",
            "minimum_charge",
            "max_cost",
            *[
                steps.list.get(k, null_on_oob=True).struct.field(name).alias(f"_{name}{k}")
                for k in range(depth)
                for name in ("from", "price")
            ],
        ),
        depth,
    )


def _part(k: int, depth: int) -> pl.Expr:
    """The billed units of a record (``usage_before`` .. + ``billed_quantity``) that tier
    ``k`` prices: graduated, those inside the tier; volume, all of them in the tier reached."""
    start = pl.col("usage_before")
    end = start + pl.col("billed_quantity")
    low = pl.col(f"_from{k}")
    upto = pl.col(f"_from{k + 1}") if k + 1 < depth else pl.lit(None, pl.Int64)
    graduated = pl.max_horizontal(
        pl.min_horizontal(end, upto.fill_null(end)) - pl.max_horizontal(start, low), pl.lit(0)
    )
    reached = (low < end) & (upto.is_null() | (end <= upto))
    volume = pl.when(reached).then(pl.col("billed_quantity")).otherwise(0)
    part = pl.when(pl.col("tier_kind") == "graduated").then(graduated).otherwise(volume)
    return pl.when(low.is_not_null()).then(part).otherwise(0)


def apply_tiers(records: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """Price the records on tiered rows at their place (``usage_before``); others unchanged.

    Args:
        records: rated records with ``usage_before``, ``rate_row_id``, ``billed_quantity``,
            ``rate_unit``, ``connect_fee``, ``discount_ppm``, ``rounding_places`` and
            ``rounding_mode``, and the columns it sets on a tiered record: ``tier``,
            ``tier_split``, ``unit_price`` and ``charge``.
        rows: the rate rows (``model.tariffs.ROW_SCHEMA``).
    """
    if records.is_empty():
        return records
    ladders, depth = _ladders(rows, records["rate_row_id"])
    if ladders.is_empty():
        return records
    tiered = records["rate_row_id"].is_in(ladders["rate_row_id"].implode()).fill_null(False)
    if tiered.all():
        return _on_ladders(records, ladders, depth)
    # the tiers' arithmetic for the tiered records only, its columns put back in their
    # places (a scatter: sorting the whole frame back into order cost more than the pricing)
    priced = _on_ladders(records.filter(tiered), ladders, depth)
    places = tiered.arg_true()
    return records.with_columns(
        records[name].clone().scatter(places, priced[name]) for name in _TIER_SETS
    )


def tier_parts(records: pl.DataFrame, rows: pl.DataFrame) -> pl.Series:
    """Each record's units in each tier of its row's ladder at its place (``usage_before``),
    as a list (null for a record on no tiered row): what its price depends on besides its
    row's terms, so two places with equal parts price a record alike (``apply_tiers``).

    Args:
        records: with ``usage_before``, ``billed_quantity`` and ``rate_row_id``.
        rows: the rate rows (``model.tariffs.ROW_SCHEMA``).
    """
    ladders, depth = _ladders(rows, records["rate_row_id"])
    if depth == 0:
        return pl.Series("parts", [None] * records.height, dtype=pl.List(pl.Int64))
    return (
        records.lazy()
        .select("usage_before", "billed_quantity", "rate_row_id")
        .join(ladders.lazy(), on="rate_row_id", how="left", maintain_order="left")
        .select(
            pl.when(pl.col("tier_kind").is_not_null())
            .then(pl.concat_list([_part(k, depth) for k in range(depth)]))
            .alias("parts")
        )
        .collect()
        .to_series()
    )


#: The columns ``apply_tiers`` sets on a tiered record.
_TIER_SETS = ("tier", "tier_split", "unit_price", "charge")


def _on_ladders(records: pl.DataFrame, ladders: pl.DataFrame, depth: int) -> pl.DataFrame:
    """``apply_tiers`` for records that are all on the tiered rows of ``ladders``, as one
    lazy plan: the tier parts are used many times over, and only a lazy plan computes a
    repeated expression once."""
    frame = (
        records.lazy()
        .join(ladders.lazy(), on="rate_row_id", how="left", maintain_order="left")
        .with_columns(_part(k, depth).alias(f"_part{k}") for k in range(depth))
    )
    used = [pl.col(f"_part{k}") > 0 for k in range(depth)]
    usage = pl.sum_horizontal(
        pl.col(f"_part{k}").cast(pl.Int128) * pl.col(f"_price{k}").fill_null(0).cast(pl.Int128)
        for k in range(depth)
    )
    first_tier = pl.coalesce([pl.when(used[k]).then(pl.lit(k, pl.Int64)) for k in range(depth)])
    first_price = pl.coalesce([pl.when(used[k]).then(pl.col(f"_price{k}")) for k in range(depth)])
    # the parts as JSON [{"quantity", "price", "tier"}, ...], for lineage and explain
    split = pl.concat_str(
        [
            pl.when(used[k]).then(
                pl.format(
                    '{{"quantity":{},"price":{},"tier":{}}}',
                    pl.col(f"_part{k}"),
                    pl.col(f"_price{k}"),
                    pl.lit(k),
                )
            )
            for k in range(depth)
        ],
        separator=",",
        ignore_nulls=True,
    )
    charge = charge_expr(
        usage,
        rate_unit=pl.col("rate_unit"),
        connect_fee=pl.col("connect_fee"),
        minimum=pl.col("minimum_charge"),
        charged=pl.col("billed_quantity") > 0,
        places=pl.col("rounding_places"),
        mode=pl.col("rounding_mode"),
        discount_ppm=pl.col("discount_ppm"),
        max_cost=pl.col("max_cost"),
        roundings=records.select("rounding_places", "rounding_mode").unique().rows(),
    )
    # every record here is on a tiered row; an uncharged one (nothing billed) stays at tier
    # 0 with a zero charge and its row's first price
    any_used = pl.any_horizontal(used)
    return (
        frame.with_columns(
            first_tier.fill_null(0).alias("tier"),
            pl.when(any_used).then(pl.lit("[") + split + pl.lit("]")).alias("tier_split"),
            pl.when(any_used).then(first_price).otherwise(pl.col("unit_price")).alias("unit_price"),
            charge.alias("charge"),
        )
        .select(records.columns)
        .collect()
    )


def split_text(split: str | None) -> list[tuple[int, int, int]]:
    """``(tier, quantity, price)`` parts of a stored ``tier_split``."""
    if not split:
        return []
    return [(int(p["tier"]), int(p["quantity"]), int(p["price"])) for p in json.loads(split)]
