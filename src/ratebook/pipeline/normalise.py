"""Stage 1: feed text to canonical typed columns (UTC instants, fixed-scale quantities, E.164).

Nothing is rejected here: what cannot be parsed is left null with a ``*_problem`` column that
``validate`` turns into a located rejection.

Time rule: a start time with an offset (``Z``, ``+08:00``) is that instant. A time without one
is local to the feed's zone; in a daylight-saving overlap the earlier instant is taken, and a
time in a daylight-saving gap does not exist and is rejected (``NONEXISTENT_LOCAL_TIME``).
"""

from __future__ import annotations

from fractions import Fraction

import polars as pl
import polars_hash as plh

from ratebook.model.rejections import SubCode
from ratebook.model.tariffs import UNIT_ALIASES
from ratebook.money import QUANTITY_SCALE, parse_fixed_expr, whole_number_text
from ratebook.pipeline.numbers import NumberPlan, e164

_ISO_NAIVE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?$"
_ISO_AWARE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$"


#: Whole-chunk shapes with a cheaper exact parse: to the second, with an offset (``+08:00``)
#: or local. Polars parses a fixed-width layout without ``%z`` several times faster.
_ISO_OFFSET_SECONDS = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$"
_ISO_LOCAL_SECONDS = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}$"


def _start_shape(raw: pl.DataFrame, layout: str) -> str:
    """``offset`` or ``local`` when every start time of the chunk has that shape (or is
    missing), else ``any``."""
    if layout != "iso8601":
        return "any"
    for shape, pattern in (("offset", _ISO_OFFSET_SECONDS), ("local", _ISO_LOCAL_SECONDS)):
        if raw.select(pl.col("start_time").str.contains(pattern).fill_null(True).all()).item():
            return shape
    return "any"


def _localise(naive: pl.Expr, feed_zone: str) -> pl.Expr:
    return naive.dt.replace_time_zone(
        feed_zone, ambiguous="earliest", non_existent="null"
    ).dt.convert_time_zone("UTC")


def _offset_seconds(text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """The ``offset`` shape: the wall time (a fixed-width parse) less its offset."""
    wall = text.str.slice(0, 19).str.to_datetime("%Y-%m-%dT%H:%M:%S", strict=False, time_unit="us")
    hours = text.str.slice(20, 2).cast(pl.Int64)
    minutes = text.str.slice(23, 2).cast(pl.Int64)
    east = pl.when(text.str.slice(19, 1) == "-").then(-1).otherwise(1) * (hours * 60 + minutes)
    value = (
        pl.when((hours < 24) & (minutes < 60))
        .then(wall - pl.duration(minutes=east))
        .dt.replace_time_zone("UTC")
    )
    problem = (
        pl.when(text.is_null())
        .then(pl.lit(SubCode.MISSING_VALUE.value))
        .when(value.is_null())
        .then(pl.lit(SubCode.BAD_TIMESTAMP.value))
        .otherwise(pl.lit(None, pl.String))
    )
    return value, problem


def _local_seconds(text: pl.Expr, feed_zone: str) -> tuple[pl.Expr, pl.Expr]:
    """The ``local`` shape: a fixed-width parse, localised in the feed's zone."""
    wall = text.str.replace(" ", "T", literal=True).str.to_datetime(
        "%Y-%m-%dT%H:%M:%S", strict=False, time_unit="us"
    )
    value = _localise(wall, feed_zone)
    problem = (
        pl.when(text.is_null())
        .then(pl.lit(SubCode.MISSING_VALUE.value))
        .when(wall.is_null())
        .then(pl.lit(SubCode.BAD_TIMESTAMP.value))
        .when(value.is_null())
        .then(pl.lit(SubCode.NONEXISTENT_LOCAL_TIME.value))
        .otherwise(pl.lit(None, pl.String))
    )
    return value, problem


#: Epoch seconds with up to six places (``1790989200``, ``1790989200.123456``), or whole
#: milliseconds: the two epoch layouts.
_EPOCH_TEXT = {"epoch": r"^(\d{1,11})(?:\.(\d{1,6}))?$", "epoch_ms": r"^(\d{1,14})()$"}


def _epoch(text: pl.Expr, layout: str) -> tuple[pl.Expr, pl.Expr]:
    """The ``epoch`` and ``epoch_ms`` layouts: an instant counted from 1970-01-01 UTC, read
    as integers (never through a float)."""
    pattern = _EPOCH_TEXT[layout]
    trimmed = text.str.strip_chars()
    whole = trimmed.str.extract(pattern, 1).cast(pl.Int64)
    fraction = trimmed.str.extract(pattern, 2).fill_null("").str.pad_end(6, "0").cast(pl.Int64)
    micros = whole * 1_000 if layout == "epoch_ms" else whole * 1_000_000 + fraction
    value = pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC")
    problem = (
        pl.when(text.is_null())
        .then(pl.lit(SubCode.MISSING_VALUE.value))
        .when(whole.is_null())
        .then(pl.lit(SubCode.BAD_TIMESTAMP.value))
        .otherwise(pl.lit(None, pl.String))
    )
    return value, problem


def _parse_start(
    text: pl.Expr, layout: str, feed_zone: str, shape: str = "any"
) -> tuple[pl.Expr, pl.Expr]:
    """(UTC instant, problem sub-code) expressions for start-time text; ``shape`` (from
    :func:`_start_shape`) picks a faster parse giving the same values for such a chunk."""
    if layout in ("epoch", "epoch_ms"):
        return _epoch(text, layout)
    if shape == "offset":
        return _offset_seconds(text)
    if shape == "local":
        return _local_seconds(text, feed_zone)
    if layout == "iso8601":
        t = text.str.replace(" ", "T", literal=True)
        aware = text.str.contains(_ISO_AWARE)
        naive = text.str.contains(_ISO_NAIVE)
        offset_text = t.str.replace(r"Z$", "+00:00")
        aware_value = offset_text.str.to_datetime(
            "%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_unit="us", time_zone="UTC"
        )
        naive_value = t.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us")
        local_ok = naive_value.is_not_null()
    else:
        aware = pl.lit(False)
        naive = pl.lit(True)
        aware_value = pl.lit(None, pl.Datetime("us", "UTC"))
        naive_value = text.str.strip_chars().str.to_datetime(layout, strict=False, time_unit="us")
        local_ok = naive_value.is_not_null()
    localised = _localise(naive_value, feed_zone)
    value = pl.when(aware).then(aware_value).when(naive).then(localised)
    problem = (
        pl.when(text.is_null())
        .then(pl.lit(SubCode.MISSING_VALUE.value))
        .when(aware & aware_value.is_null())
        .then(pl.lit(SubCode.BAD_TIMESTAMP.value))
        .when(aware)
        .then(pl.lit(None, pl.String))
        .when(~naive | ~local_ok)
        .then(pl.lit(SubCode.BAD_TIMESTAMP.value))
        .when(localised.is_null())
        .then(pl.lit(SubCode.NONEXISTENT_LOCAL_TIME.value))
        .otherwise(pl.lit(None, pl.String))
    )
    return value, problem


def content_digests(frame: pl.DataFrame) -> pl.Series:
    """SHA-256 (hex) of each record's canonical content, for telling repeats from conflicts.

    The content is every canonical field but the lineage, joined by U+001F with null as
    U+0000, the instant as epoch microseconds and the quantity as its fixed-scale integer,
    encoded as UTF-8. The digests are kept in the store for ever, so they are the standard
    SHA-256 of that text (``polars-hash`` works it out column-wise), never a hash that could
    change with a library version.
    """
    if frame.height < _PARALLEL_ROWS:
        return frame.select(_digest()).to_series()
    # the hash runs on one thread per expression: slices of the frame, hashed side by side
    # in one lazy plan, use every core
    step = -(-frame.height // _SLICES)
    slices = [
        frame.slice(start, step).lazy().select(_digest()) for start in range(0, frame.height, step)
    ]
    return pl.concat(slices).collect().to_series()


#: Rows from which ``content_digests`` hashes slices in parallel, and how many.
_PARALLEL_ROWS = 20_000
_SLICES = 4


def _digest() -> pl.Expr:
    return _content().chash.sha2_256().alias("content_sha256")


def _content() -> plh.HExpr:
    return plh.concat_str(
        [
            pl.col("record_id"),
            pl.col("start_time").dt.epoch("us").cast(pl.String),
            pl.col("quantity").cast(pl.String),
            *[
                pl.col(c).fill_null("\x00")
                for c in (
                    "unit",
                    "service",
                    "account",
                    "caller",
                    "destination",
                    "disposition",
                    "direction",
                    "attributes",
                )
            ],
        ],
        separator="\x1f",
    )


def normalise(
    raw: pl.DataFrame, *, time_layout: str, feed_zone: str, plan: NumberPlan
) -> pl.DataFrame:
    """Parse a frame of ``RAW_COLUMNS`` text.

    Returns:
        The frame with ``start_time`` (UTC), ``quantity`` (Int64 at QUANTITY_SCALE) typed,
        ``caller``/``destination`` in E.164 where they can be, and the helper columns
        ``start_time_text``, ``start_time_problem``, ``quantity_text``, ``quantity_problem``.
    """
    start, start_problem = _parse_start(
        pl.col("start_time"), time_layout, feed_zone, _start_shape(raw, time_layout)
    )
    all_whole = bool(
        raw.select(
            pl.col("quantity").str.contains(whole_number_text(QUANTITY_SCALE)).fill_null(True).all()
        ).item()
    )
    quantity, quantity_problem = parse_fixed_expr(
        pl.col("quantity"), QUANTITY_SCALE, all_whole=all_whole
    )
    # lazy: the start-time parse uses its text many times over, and only a lazy plan takes
    # each repeated part once
    parsed = (
        raw.lazy()
        .with_columns(
            pl.col("start_time").alias("start_time_text"),
            start_problem.alias("start_time_problem"),
            pl.col("quantity").alias("quantity_text"),
            pl.when(pl.col("quantity").is_null())
            .then(pl.lit(SubCode.MISSING_VALUE.value))
            .otherwise(quantity_problem)
            .alias("quantity_problem"),
        )
        .with_columns(start.alias("start_time"), quantity.alias("quantity"))
        .collect()
    )
    return _in_base_units(parsed).with_columns(
        e164(raw["caller"], plan).alias("caller"),
        e164(raw["destination"], plan).alias("destination"),
    )


#: Each written unit that is not a base unit: its base unit and its size in it as a fraction
#: (1 MB = 1,000,000/1 B; 1 Wh = 1/1000 kWh).
_CONVERSIONS = {
    written: (base, Fraction(size))
    for written, (base, size) in UNIT_ALIASES.items()
    if written != base
}
#: The largest quantity at QUANTITY_SCALE a record holds (the Int64 column's safe range).
_MOST = 10**18


def _in_base_units(parsed: pl.DataFrame) -> pl.DataFrame:
    """Quantities written in another unit (``MB``, ``min``, ``Wh``) restated exactly in their
    base unit (``B``, ``s``, ``kWh``); one finer than 0.001 of the base unit is
    ``TOO_PRECISE``, one past the column's range ``TOO_LARGE``. Unknown units are left for
    validation to name."""
    written = pl.col("unit")
    if not parsed.select(written.is_in(list(_CONVERSIONS)).any()).item():
        return parsed
    numerator = written.replace_strict(
        {u: f.numerator for u, (_, f) in _CONVERSIONS.items()}, default=1, return_dtype=pl.Int128
    )
    denominator = written.replace_strict(
        {u: f.denominator for u, (_, f) in _CONVERSIONS.items()},
        default=1,
        return_dtype=pl.Int128,
    )
    scaled = pl.col("quantity").cast(pl.Int128) * numerator
    converted = scaled // denominator
    problem = (
        pl.when(pl.col("quantity_problem").is_not_null())
        .then(pl.col("quantity_problem"))
        .when(scaled % denominator != 0)
        .then(pl.lit(SubCode.TOO_PRECISE.value))
        .when(converted >= _MOST)
        .then(pl.lit(SubCode.TOO_LARGE.value))
    )
    alias = written.is_in(list(_CONVERSIONS))
    return parsed.with_columns(
        problem.alias("quantity_problem"),
        pl.when(alias & problem.is_null())
        .then(converted)
        .otherwise(pl.col("quantity"))
        .cast(pl.Int64)
        .alias("quantity"),
        pl.when(alias)
        .then(pl.col("quantity_text") + pl.lit(" ") + written)
        .otherwise(pl.col("quantity_text"))
        .alias("quantity_text"),
        written.replace({u: base for u, (base, _) in _CONVERSIONS.items()}).alias("unit"),
    )
