"""Settling volume tiers at cycle close.

During the cycle a record on a volume-tiered row carries the provisional price of the tier
its customer's usage had reached by then (``pipeline.tiers``). At close the tier the whole
cycle reached prices every unit: each such record is priced again as if it ended the cycle,
with its own connect fee, minimum, discount and rounding, and the difference is one
adjustment per customer, cycle, service and unit.
"""

from __future__ import annotations

import polars as pl

from ratebook.pipeline.tiers import GROUP, apply_tiers

ADJUSTMENT_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.Int64(),
    "period": pl.String(),
    "service": pl.String(),
    "unit": pl.String(),
    "records": pl.Int64(),  # records on volume-tiered rows
    "used": pl.Int64(),  # the cycle's billed quantity of the service
    "provisional": pl.Int64(),  # what those records carry now, AMOUNT_SCALE
    "final": pl.Int64(),  # what they cost at the tier the cycle reached
    "amount": pl.Int64(),  # final - provisional: the adjustment line
}


def settle_volume(charges: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """The adjustments (``ADJUSTMENT_SCHEMA``, non-zero only) for a cycle's current charges.

    Args:
        charges: every current charge of the cycles to settle, with ``GROUP`` columns,
            ``rate_row_id``, ``billed_quantity``, ``charge`` and the charge's terms
            (``rate_unit``, ``connect_fee``, ``discount_ppm``, ``rounding_places``,
            ``rounding_mode``, ``unit_price``, ``usage_before``, ``tier``, ``tier_split``).
        rows: the rate rows (``rate.ROW_SCHEMA``).
    """
    volume_rows = rows.filter(pl.col("tier_kind") == "volume")["rate_row_id"]
    used = charges.group_by(GROUP).agg(pl.col("billed_quantity").sum().alias("used"))
    on_volume = charges.filter(pl.col("rate_row_id").is_in(volume_rows.implode()))
    if on_volume.is_empty():
        return pl.DataFrame(schema=ADJUSTMENT_SCHEMA)
    # each record placed so that it ends where the cycle ended: the tier reached prices it
    at_close = (
        on_volume.join(used, on=list(GROUP), how="left")
        .with_columns(
            (pl.col("used") - pl.col("billed_quantity")).alias("usage_before"),
            pl.col("charge").alias("provisional"),
        )
        .drop("used")
    )
    final = apply_tiers(at_close, rows)
    return (
        final.group_by(GROUP)
        .agg(
            pl.len().cast(pl.Int64).alias("records"),
            pl.col("provisional").sum(),
            pl.col("charge").sum().alias("final"),
        )
        .join(used, on=list(GROUP), how="left")
        .with_columns((pl.col("final") - pl.col("provisional")).alias("amount"))
        .filter(pl.col("amount") != 0)
        .sort(list(GROUP))
        .select(list(ADJUSTMENT_SCHEMA))
    )
