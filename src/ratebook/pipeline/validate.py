"""Stage 2: refuse rows that cannot become a canonical record, each with one located reason.

A row gets the first problem in this order: record id, start time, quantity, unit, field
lengths. Rows that pass get their ``content_sha256`` and billing ``period`` (calendar month of
the start time in the entity's zone).
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from ratebook.model.rejections import Code, SubCode, no_rejections
from ratebook.model.usage import EARLIEST, LATEST, RECORD_COLUMNS, UNITS
from ratebook.pipeline.normalise import content_digests

#: Longest text kept in each canonical column (the store's column widths).
MAX_LENGTHS: dict[str, int] = {
    "record_id": 255,
    "account": 64,
    "caller": 64,
    "destination": 64,
    "disposition": 32,
    "direction": 16,
    "service": 32,
}

_SUB_REASONS = {
    SubCode.MISSING_VALUE.value: "is empty",
    SubCode.BAD_TIMESTAMP.value: "is not a date and time",
    SubCode.NONEXISTENT_LOCAL_TIME.value: "does not exist in the feed's zone (clocks went forward)",
    SubCode.NOT_A_NUMBER.value: "is not a number",
    SubCode.NEGATIVE.value: "is negative",
    SubCode.TOO_PRECISE.value: "has more than 3 decimal places of its base unit",
    SubCode.TOO_LARGE.value: "is too large",
}


def _problem(field: str, problem: pl.Expr, text: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    reason = pl.concat_str(
        [
            pl.lit(f"{field} "),
            pl.when(text.is_not_null())
            .then(pl.lit("'") + text.str.slice(0, 40) + pl.lit("' "))
            .otherwise(pl.lit("")),
            problem.replace_strict(_SUB_REASONS, default="is invalid", return_dtype=pl.String),
        ]
    )
    return problem.is_not_null(), problem, reason


def validate(
    frame: pl.DataFrame, *, entity_zone: str, window: tuple[datetime, datetime] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a normalised frame into canonical records and rejections.

    ``window`` (``[from, to)``, UTC), for pushed events: a start outside it is refused
    (``OUTSIDE_EVENT_WINDOW``), such as a device clock's year 10000.

    Returns:
        ``(records, rejections)``; records have exactly ``RECORD_COLUMNS``.

    One function: the checks are one ordered list, the first hit winning.
    """
    checks: list[tuple[pl.Expr, pl.Expr, pl.Expr, str]] = []
    checks.append(
        (
            pl.col("record_id").is_null(),
            pl.lit(SubCode.MISSING_VALUE.value),
            pl.lit("record_id is empty"),
            "record_id",
        )
    )
    hit, sub, reason = _problem(
        "start_time", pl.col("start_time_problem"), pl.col("start_time_text")
    )
    checks.append((hit, sub, reason, "start_time"))
    checks.append(
        (
            (pl.col("start_time") < EARLIEST) | (pl.col("start_time") >= LATEST),
            pl.lit(SubCode.TIME_OUT_OF_RANGE.value),
            pl.lit("start_time '")
            + pl.col("start_time_text").str.slice(0, 40)
            + pl.lit(
                f"' is outside {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d} (UTC), the time window"
                " Ratebook bills; a switch's clock was wrong, or the field is not the start"
            ),
            "start_time",
        )
    )
    if window is not None:
        low, high = window
        checks.append(
            (
                (pl.col("start_time") < low) | (pl.col("start_time") >= high),
                pl.lit(SubCode.OUTSIDE_EVENT_WINDOW.value),
                pl.lit("start_time '")
                + pl.col("start_time_text").str.slice(0, 40)
                + pl.lit(
                    f"' is outside {low:%Y-%m-%d %H:%M} to {high:%Y-%m-%d %H:%M} (UTC), the"
                    " window of times an event may start in around when it is received; a"
                    " device's clock was wrong, or the event is too old to push (import it"
                    " as a file)"
                ),
                "start_time",
            )
        )
    hit, sub, reason = _problem("quantity", pl.col("quantity_problem"), pl.col("quantity_text"))
    checks.append((hit, sub, reason, "quantity"))
    checks.append(
        (
            ~pl.col("unit").is_in(sorted(UNITS)),
            pl.lit(SubCode.UNKNOWN_UNIT.value),
            pl.lit("unit '")
            + pl.col("unit").str.slice(0, 20)
            + pl.lit(f"' is not one of {', '.join(sorted(UNITS))}"),
            "unit",
        )
    )
    for column, limit in MAX_LENGTHS.items():
        checks.append(
            (
                pl.col(column).str.len_chars() > limit,
                pl.lit(SubCode.FIELD_TOO_LONG.value),
                pl.lit(f"{column} is longer than {limit} characters"),
                column,
            )
        )

    # the first check that hits wins: coalesce of per-check values, in order
    def first(pick: int) -> pl.Expr:
        return pl.coalesce(
            [
                pl.when(check[0].fill_null(False)).then(
                    pl.lit(check[3]) if pick == 3 else check[pick]
                )
                for check in checks
            ]
        )

    flagged = frame.with_columns(first(1).cast(pl.String).alias("_sub"))
    bad = flagged.filter(pl.col("_sub").is_not_null())
    rejected = (
        # the reasons are worked out for the rejected rows only
        bad.select(
            pl.col("row_idx"),
            pl.lit(Code.INVALID_RECORD.value).alias("code"),
            pl.col("_sub").alias("sub_code"),
            first(3).cast(pl.String).alias("field"),
            first(2).cast(pl.String).alias("reason"),
        )
        if not bad.is_empty()
        else no_rejections()
    )
    good = flagged.filter(pl.col("_sub").is_null())
    good = good.with_columns(
        content_digests(good),
        pl.col("start_time").dt.convert_time_zone(entity_zone).dt.strftime("%Y-%m").alias("period"),
    )
    return good.select(list(RECORD_COLUMNS)), rejected
