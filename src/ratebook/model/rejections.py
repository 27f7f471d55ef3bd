"""Exception codes, and the frame in which pipeline stages hand back what they could not take.

Codes are stable: never renamed, never reused. ``INVALID_RECORD`` always has a sub-code and,
where one field is at fault, the field.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import polars as pl

from ratebook.model.frames import empty_frame


class Code(StrEnum):
    """Why a row was not billed."""

    INVALID_RECORD = "INVALID_RECORD"
    UNMATCHED_CUSTOMER = "UNMATCHED_CUSTOMER"
    NO_RATE = "NO_RATE"
    OUT_OF_POLICY = "OUT_OF_POLICY"
    ID_CONFLICT = "ID_CONFLICT"
    LATE_FOR_CLOSED_CYCLE = "LATE_FOR_CLOSED_CYCLE"


class SubCode(StrEnum):
    """What exactly was wrong with an ``INVALID_RECORD``."""

    FIELD_COUNT = "FIELD_COUNT"
    MISSING_VALUE = "MISSING_VALUE"
    NOT_A_NUMBER = "NOT_A_NUMBER"
    NEGATIVE = "NEGATIVE"
    TOO_PRECISE = "TOO_PRECISE"
    TOO_LARGE = "TOO_LARGE"
    BAD_TIMESTAMP = "BAD_TIMESTAMP"
    NONEXISTENT_LOCAL_TIME = "NONEXISTENT_LOCAL_TIME"
    INVALID_UTF8 = "INVALID_UTF8"
    FIELD_TOO_LONG = "FIELD_TOO_LONG"
    UNKNOWN_UNIT = "UNKNOWN_UNIT"
    BAD_MESSAGE = "BAD_MESSAGE"
    TIME_OUT_OF_RANGE = "TIME_OUT_OF_RANGE"
    OUTSIDE_EVENT_WINDOW = "OUTSIDE_EVENT_WINDOW"


#: One row per rejected input row. ``row_idx`` points into the chunk the stage was given.
REJECTION_SCHEMA: dict[str, pl.DataType] = {
    "row_idx": pl.Int64(),
    "code": pl.String(),
    "sub_code": pl.String(),
    "field": pl.String(),
    "reason": pl.String(),
}


def rejections(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """A rejection frame from dicts with the keys of :data:`REJECTION_SCHEMA`."""
    return pl.DataFrame(rows, schema=REJECTION_SCHEMA)


def no_rejections() -> pl.DataFrame:
    """An empty rejection frame."""
    return _NONE


_NONE = empty_frame(REJECTION_SCHEMA)


def reject_where(
    frame: pl.DataFrame,
    condition: pl.Expr,
    *,
    code: Code,
    reason: pl.Expr,
    sub_code: SubCode | None = None,
    field: str | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split ``frame`` into the rows that pass and rejections for the rows where ``condition``.

    Returns:
        ``(kept, rejected)``; ``frame`` must have a ``row_idx`` column.
    """
    hit = frame.filter(condition)
    if hit.is_empty():
        return frame, no_rejections()
    rejected = hit.select(
        pl.col("row_idx").cast(pl.Int64),
        pl.lit(code.value, pl.String).alias("code"),
        pl.lit(sub_code.value if sub_code else None, pl.String).alias("sub_code"),
        pl.lit(field, pl.String).alias("field"),
        reason.cast(pl.String).alias("reason"),
    )
    return frame.filter(~condition.fill_null(False)), rejected
