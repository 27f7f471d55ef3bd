"""Stage 5: price each matched record with the rate table in force, exactly.

For each record: the customer's rate-table assignment in force at the start time; the table's
version in force then (the latest ``effective_from`` at or before it); the rate row of the
record's service whose destination prefix is the longest match (``*`` matches any). Then:

* **billed quantity**: zero for a record that is not charged (zero quantity, or a disposition
  other than answered); otherwise the ``initial`` increment for the first part and whole
  ``subsequent`` increments after it (60/60 bills 61 s as 120 s; 30/6 bills 31 s as 36 s);
* **charge** = connect fee + billed quantity x price / rate unit, raised to the minimum charge,
  rounded once to the version's places with its named mode. A record that is not charged costs
  exactly zero (no connect fee, no minimum).

A chargeable record with no table, version or row is a ``NO_RATE`` rejection.
All arithmetic is integer (Int128 for the products): see ``ratebook.money`` for the scales.
"""

from __future__ import annotations

import polars as pl

from ratebook.model.rejections import Code, reject_where
from ratebook.model.usage import CHARGED_DISPOSITIONS
from ratebook.money import AMOUNT_SCALE, PRICE_SCALE, QUANTITY_SCALE, RoundingMode, round_div_expr

ASSIGNMENT_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.Int64(),
    "rate_table_id": pl.Int64(),
    "valid_from": pl.Datetime("us", "UTC"),
    "valid_to": pl.Datetime("us", "UTC"),
}

VERSION_SCHEMA: dict[str, pl.DataType] = {
    "version_id": pl.Int64(),
    "rate_table_id": pl.Int64(),
    "effective_from": pl.Datetime("us", "UTC"),
    "rounding_mode": pl.String(),
    "rounding_places": pl.Int64(),
}

ROW_SCHEMA: dict[str, pl.DataType] = {
    "rate_row_id": pl.Int64(),
    "version_id": pl.Int64(),
    "service": pl.String(),
    "prefix": pl.String(),
    "destination_name": pl.String(),
    "band": pl.String(),
    "price": pl.Int64(),
    "rate_unit": pl.Int64(),
    "connect_fee": pl.Int64(),
    "increment_initial": pl.Int64(),
    "increment_subsequent": pl.Int64(),
    "minimum_charge": pl.Int64(),
}

#: Columns a rated record gains.
RATING_COLUMNS = (
    "rate_table_id",
    "version_id",
    "rate_row_id",
    "prefix",
    "band",
    "destination_name",
    "billed_quantity",
    "unit_price",
    "rate_unit",
    "connect_fee",
    "charge",
    "rounding_mode",
    "rounding_places",
)

# precise charge, as a fraction of AMOUNT_SCALE units: numerator / (rate_unit * _PRICE_TO_AMOUNT)
_PRICE_TO_AMOUNT = 10 ** (PRICE_SCALE - AMOUNT_SCALE)
_MAX_PLACES = AMOUNT_SCALE


def billed_quantity_expr(
    quantity: pl.Expr, initial: pl.Expr, subsequent: pl.Expr, charged: pl.Expr
) -> pl.Expr:
    """Quantity after billing increments (all at QUANTITY_SCALE)."""
    beyond = quantity - initial
    steps = (beyond + subsequent - 1) // subsequent
    return (
        pl.when(~charged)
        .then(pl.lit(0, pl.Int64))
        .when(quantity <= initial)
        .then(initial)
        .otherwise(initial + steps * subsequent)
    )


def charge_expr(
    billed: pl.Expr,
    price: pl.Expr,
    rate_unit: pl.Expr,
    connect_fee: pl.Expr,
    minimum: pl.Expr,
    charged: pl.Expr,
    places: pl.Expr,
    mode: pl.Expr,
) -> pl.Expr:
    """The rounded charge at AMOUNT_SCALE; see the module docstring for the formula."""
    wide = pl.Int128
    denominator = rate_unit.cast(wide) * _PRICE_TO_AMOUNT
    numerator = connect_fee.cast(wide) * denominator + billed.cast(wide) * price.cast(wide)
    floor = minimum.cast(wide) * denominator
    numerator = pl.when(numerator < floor).then(floor).otherwise(numerator)
    result: pl.Expr = pl.lit(None, wide)
    for digits in range(_MAX_PLACES + 1):
        step = 10 ** (_MAX_PLACES - digits)
        for rounding in RoundingMode:
            rounded = round_div_expr(numerator, denominator * step, rounding) * step
            result = (
                pl.when((places == digits) & (mode == rounding.value))
                .then(rounded)
                .otherwise(result)
            )
    return pl.when(charged).then(result).otherwise(pl.lit(0, wide)).cast(pl.Int64)


def _longest_prefix(records: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """For each record (with ``version_id``), the rate row whose prefix matches longest."""
    digits = (
        pl.when(pl.col("destination").str.starts_with("+"))
        .then(pl.col("destination").str.slice(1))
        .otherwise(pl.lit(None, pl.String))
    )
    keys = records.select("row_idx", "version_id", "service", digits.alias("_digits"))
    candidates: list[pl.DataFrame] = []
    with_len = rows.with_columns(
        pl.when(pl.col("prefix") == "*")
        .then(pl.lit(0))
        .otherwise(pl.col("prefix").str.len_chars())
        .alias("_len")
    )
    for length in sorted(with_len["_len"].unique().to_list(), reverse=True):
        of_length = with_len.filter(pl.col("_len") == length)
        key = pl.lit("*") if length == 0 else pl.col("_digits").str.slice(0, length)
        probe = keys if length == 0 else keys.filter(pl.col("_digits").str.len_chars() >= length)
        hit = probe.with_columns(key.alias("_key")).join(
            of_length,
            left_on=["version_id", "service", "_key"],
            right_on=["version_id", "service", "prefix"],
            how="inner",
        )
        candidates.append(
            hit.select(
                "row_idx",
                "rate_row_id",
                pl.col("_key").alias("prefix"),
                "_len",
            )
        )
    if not candidates:
        return pl.DataFrame(
            schema={"row_idx": pl.Int64, "rate_row_id": pl.Int64, "prefix": pl.String}
        )
    return (
        pl.concat(candidates)
        .sort(["row_idx", "_len"], descending=[False, True])
        .unique("row_idx", keep="first")
        .drop("_len")
    )


def rate(
    records: pl.DataFrame,
    *,
    assignments: pl.DataFrame,
    versions: pl.DataFrame,
    rows: pl.DataFrame,
    zone: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Price matched records (``customer_id`` set); ``zone`` dates the rejection messages.

    Returns:
        ``(rated, rejections)``: ``rated`` is ``records`` plus ``RATING_COLUMNS``.
    """
    charged = (pl.col("quantity") > 0) & (
        pl.col("disposition").is_null() | pl.col("disposition").is_in(sorted(CHARGED_DISPOSITIONS))
    )
    base = records.with_columns(charged.alias("_charged"))

    assigned = (
        base.select("row_idx", "customer_id", "start_time")
        .join(assignments, on="customer_id", how="inner")
        .filter(
            (pl.col("valid_from").is_null() | (pl.col("valid_from") <= pl.col("start_time")))
            & (pl.col("valid_to").is_null() | (pl.col("start_time") < pl.col("valid_to")))
        )
        .sort(["row_idx", "valid_from"], descending=[False, True], nulls_last=True)
        .unique("row_idx", keep="first")
        .select("row_idx", "rate_table_id")
    )
    with_table = base.join(assigned, on="row_idx", how="left", maintain_order="left")

    in_force = (
        with_table.filter(pl.col("rate_table_id").is_not_null())
        .select("row_idx", "rate_table_id", "start_time")
        .sort("start_time")
        .join_asof(
            versions.sort("effective_from"),
            left_on="start_time",
            right_on="effective_from",
            by="rate_table_id",
            strategy="backward",
            check_sortedness=False,  # sorted just above; Polars cannot check within groups
        )
        .select("row_idx", "version_id", "rounding_mode", "rounding_places")
    )
    with_version = with_table.join(in_force, on="row_idx", how="left", maintain_order="left")
    best = _longest_prefix(with_version.filter(pl.col("version_id").is_not_null()), rows)
    priced = with_version.join(best, on="row_idx", how="left", maintain_order="left").join(
        rows.drop("version_id", "service", "prefix"),
        on="rate_row_id",
        how="left",
        maintain_order="left",
    )

    day = pl.col("start_time").dt.convert_time_zone(zone).dt.strftime("%Y-%m-%d")
    no_rate_reason = (
        pl.when(pl.col("rate_table_id").is_null())
        .then(
            pl.lit("customer ")
            + pl.col("customer_account")
            + pl.lit(" has no rate table on ")
            + day
        )
        .when(pl.col("version_id").is_null())
        .then(pl.lit("the customer's rate table has no version in force on ") + day)
        .otherwise(
            pl.lit("no ")
            + pl.col("service")
            + pl.lit(" rate for destination ")
            + pl.col("destination").fill_null("(none)")
            + pl.lit(" on ")
            + day
        )
    )
    kept, rejected = reject_where(
        priced,
        pl.col("_charged") & pl.col("rate_row_id").is_null(),
        code=Code.NO_RATE,
        reason=no_rate_reason,
        field="destination",
    )
    on_row = pl.col("rate_row_id").is_not_null()
    rated = kept.with_columns(
        pl.when(on_row).then(pl.col("band")).otherwise(None).alias("band"),
        billed_quantity_expr(
            pl.col("quantity"),
            pl.col("increment_initial"),
            pl.col("increment_subsequent"),
            pl.col("_charged"),
        ).alias("billed_quantity"),
    ).with_columns(
        charge_expr(
            pl.col("billed_quantity"),
            pl.col("price"),
            pl.col("rate_unit"),
            pl.col("connect_fee"),
            pl.col("minimum_charge"),
            pl.col("_charged"),
            pl.col("rounding_places"),
            pl.col("rounding_mode"),
        ).alias("charge"),
        pl.col("price").fill_null(0).alias("unit_price"),
        pl.col("rate_unit").fill_null(60 * 10**QUANTITY_SCALE),
        pl.col("connect_fee").fill_null(0),
        pl.col("rounding_mode").fill_null(RoundingMode.HALF_UP.value),
        pl.col("rounding_places").fill_null(0),
    )
    return rated.select([*records.columns, *RATING_COLUMNS]), rejected
