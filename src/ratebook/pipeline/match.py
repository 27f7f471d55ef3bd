"""Stage 4: find the customer each record belongs to.

A record with an ``account`` matches the customer with that account identifier; one without
matches by caller number: the customer's exact number, or failing that its longest number
prefix, among the identifiers in force at the record's start time (``valid_from <= t <
valid_to``). No match is an ``UNMATCHED_CUSTOMER`` rejection.
"""

from __future__ import annotations

import polars as pl

from ratebook.model.rejections import Code, reject_where


def _in_force(at: str = "start_time") -> pl.Expr:
    return (pl.col("valid_from").is_null() | (pl.col("valid_from") <= pl.col(at))) & (
        pl.col("valid_to").is_null() | (pl.col(at) < pl.col("valid_to"))
    )


def match_customers(
    records: pl.DataFrame, identifiers: pl.DataFrame, *, zone: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Attach ``customer_id`` and ``customer_account`` to records; ``zone`` dates messages.

    Returns:
        ``(matched, rejections)``.

    One function: the account, number and prefix matches are one lazy plan.
    """
    keys = records.select("row_idx", "start_time", "account", "caller")
    candidates: list[pl.DataFrame] = []

    by_account = keys.filter(pl.col("account").is_not_null()).join(
        identifiers.filter(pl.col("kind") == "account"),
        left_on="account",
        right_on="value",
        how="inner",
    )
    candidates.append(
        by_account.filter(_in_force()).select(
            "row_idx",
            "customer_id",
            pl.col("account_right").alias("customer_account"),
            pl.lit(1_000).alias("_score"),
        )
    )

    by_number = keys.filter(pl.col("account").is_null() & pl.col("caller").is_not_null())
    exact = by_number.join(
        identifiers.filter(pl.col("kind") == "number"),
        left_on="caller",
        right_on="value",
        how="inner",
    )
    candidates.append(
        exact.filter(_in_force()).select(
            "row_idx",
            "customer_id",
            pl.col("account_right").alias("customer_account"),
            (pl.col("caller").str.len_chars() * 2 + 1).alias("_score"),
        )
    )
    prefixes = identifiers.filter(pl.col("kind") == "prefix").with_columns(
        pl.col("value").str.len_chars().alias("_len")
    )
    for length in prefixes["_len"].unique().to_list():
        of_length = prefixes.filter(pl.col("_len") == length)
        hit = by_number.with_columns(pl.col("caller").str.slice(0, length).alias("_key")).join(
            of_length, left_on="_key", right_on="value", how="inner"
        )
        candidates.append(
            hit.filter(_in_force()).select(
                "row_idx",
                "customer_id",
                pl.col("account_right").alias("customer_account"),
                pl.lit(length * 2).alias("_score"),
            )
        )

    best = (
        pl.concat(
            [c.with_columns(pl.col("_score").cast(pl.Int64)) for c in candidates],
            how="vertical_relaxed",
        )
        .sort(["row_idx", "_score", "customer_id"], descending=[False, True, False])
        .unique("row_idx", keep="first")
        .drop("_score")
    )
    joined = records.join(best, on="row_idx", how="left", maintain_order="left")
    reason = (
        pl.when(pl.col("account").is_not_null())
        .then(pl.lit("account '") + pl.col("account") + pl.lit("' is not a customer account"))
        .when(pl.col("caller").is_not_null())
        .then(
            pl.lit("caller ")
            + pl.col("caller")
            + pl.lit(" is not a number of any customer on ")
            + pl.col("start_time").dt.convert_time_zone(zone).dt.strftime("%Y-%m-%d")
        )
        .otherwise(pl.lit("the record has neither an account nor a caller number"))
    )
    return reject_where(
        joined,
        pl.col("customer_id").is_null(),
        code=Code.UNMATCHED_CUSTOMER,
        reason=reason,
        field=None,
    )
