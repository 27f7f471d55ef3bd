"""A yardstick for the rating core: the same rating of the shaped file written as one lazy
Polars plan, with nothing the file does not need.

It knows the shaped inputs (``bench/shaped.py``) and nothing else: every start time has the
``+08:00`` layout, the zone has no daylight saving, every record is a voice call in seconds of
one rate table with one version, every customer is a plain account, the deck has two bands
(peak Mon-Fri 08:00-18:00 outside the holidays) and graduated tiers after 100 and 1,000
minutes. It validates nothing beyond that, normalises no numbers and prices no other kind of
row. What it does do is the work the rating core cannot skip: parse each start time, take the
content digest the store keeps (SHA-256), drop repeated ids, match the account, tell the band
by the local date and hour, find the longest prefix by one join per prefix length, bill by the
row's increments, place each call in its customer's cycle by a windowed running sum, price
the tiers it spans and round once. Its charges are the rating core's to the minor unit on
this file (the bench prints both totals), so its speed is what one plan of the essential
joins reaches on this machine: the rating core's own figure is read against it.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import holidays
import polars as pl
import polars_hash as plh

#: Decimal places of the sketch's charges: the shaped table's rounding (ten-thousandths).
PLACES = 4
#: Milli-units of a second (``QUANTITY_SCALE``) in a minute: the deck's rate unit.
_MINUTE = 60_000
#: Where the shaped deck's graduated tiers begin: after 100 and 1,000 minutes.
_TIERS = (100 * _MINUTE, 1_000 * _MINUTE)


def _ten_thousandths(text: pl.Expr) -> pl.Expr:
    """``0.1978`` as 1978: the deck's prices have four places."""
    return text.str.replace(".", "", literal=True).cast(pl.Int64)


def _deck(path: Path) -> pl.DataFrame:
    parts = pl.col("increment").str.split_exact("/", 1).struct
    return pl.read_csv(path, infer_schema=False).select(
        "prefix",
        "band",
        _ten_thousandths(pl.col("price")).alias("price"),
        (parts.field("field_0").cast(pl.Int64) * 1_000).alias("first"),
        (parts.field("field_1").cast(pl.Int64) * 1_000).alias("next"),
        _ten_thousandths(pl.col("tiers").str.extract(r" 100min=(\S+)")).alias("price_2"),
        _ten_thousandths(pl.col("tiers").str.extract(r" 1000min=(\S+)")).alias("price_3"),
        pl.col("prefix").str.len_chars().alias("length"),
    )


def _off_days() -> pl.DataFrame:
    """Each local date of 2026-2027 and whether it is priced off-peak all day."""
    off = [*holidays.country_holidays("MY", years=[2026, 2027]), date(2026, 10, 20)]
    return pl.DataFrame(
        {"day": pl.date_range(date(2026, 1, 1), date(2027, 12, 31), eager=True)}
    ).with_columns((pl.col("day").is_in(off) | (pl.col("day").dt.weekday() > 5)).alias("off"))


def _spanned(before: pl.Expr, after: pl.Expr, low: int, high: int | None) -> pl.Expr:
    """The units of ``before .. after`` that fall in ``low .. high``."""
    top = after if high is None else pl.min_horizontal(after, pl.lit(high))
    return (top - pl.max_horizontal(before, pl.lit(low))).clip(lower_bound=0).cast(pl.Int128)


def sketch_plan(raw: pl.LazyFrame, deck: pl.DataFrame, accounts: pl.DataFrame) -> pl.LazyFrame:
    """The shaped file's text rows rated: the record's id, start, quantity and content
    digest, its customer, prefix, band, billed quantity and charge (ten-thousandths of a
    ringgit, rounded half up once)."""
    text = pl.col("start_time")
    wall = text.str.slice(0, 19).str.to_datetime("%Y-%m-%dT%H:%M:%S", time_unit="us")
    offset = text.str.slice(20, 2).cast(pl.Int64) * 60 + text.str.slice(23, 2).cast(pl.Int64)
    east = pl.when(text.str.slice(19, 1) == "-").then(-offset).otherwise(offset)
    local = pl.col("start") + pl.duration(hours=8)
    content = plh.concat_str(
        [
            pl.col("record_id"),
            pl.col("start").dt.epoch("us").cast(pl.String),
            pl.col("quantity").cast(pl.String),
            *(pl.col(c) for c in ("unit", "service", "account", "caller", "destination")),
        ],
        separator="\x1f",
    )
    plan = (
        raw.with_columns(
            (wall - pl.duration(minutes=east)).alias("start"),
            pl.col("quantity").cast(pl.Int64) * 1_000,
            pl.col("destination").str.strip_prefix("+").alias("digits"),
        )
        .with_columns(content.chash.sha2_256().alias("content_sha256"))
        .filter(pl.col("record_id").is_first_distinct())
        .join(accounts.lazy(), on="account", how="left")
        .with_columns(local.dt.date().alias("day"), local.dt.hour().alias("hour"))
        .join(_off_days().lazy(), on="day", how="left")
        .with_columns(
            pl.when(~pl.col("off") & (pl.col("hour") >= 8) & (pl.col("hour") < 18))
            .then(pl.lit("peak"))
            .otherwise(pl.lit("offpeak"))
            .alias("band")
        )
    )
    lengths = sorted(deck["length"].unique().to_list(), reverse=True)
    for n in lengths:
        of_length = deck.lazy().filter(pl.col("length") == n)
        plan = plan.with_columns(pl.col("digits").str.slice(0, n).alias("_key")).join(
            of_length.select(
                pl.col("prefix").alias("_key"), "band", pl.col("prefix").alias(f"_{n}")
            ),
            on=["_key", "band"],
            how="left",
        )
    plan = plan.with_columns(pl.coalesce([pl.col(f"_{n}") for n in lengths]).alias("prefix")).join(
        deck.lazy().drop("length"), on=["prefix", "band"], how="left"
    )
    q, first, step = pl.col("quantity"), pl.col("first"), pl.col("next")
    billed = (
        pl.when(q <= first).then(first).otherwise(first + (q - first + step - 1) // step * step)
    )
    after = pl.col("billed").cum_sum().over("customer_id", order_by=["start", "record_id"])
    before = pl.col("after") - pl.col("billed")
    graduated = (
        _spanned(before, pl.col("after"), 0, _TIERS[0]) * pl.col("price")
        + _spanned(before, pl.col("after"), _TIERS[0], _TIERS[1]) * pl.col("price_2")
        + _spanned(before, pl.col("after"), _TIERS[1], None) * pl.col("price_3")
    )
    usage = (
        pl.when(pl.col("price_2").is_null())
        .then(pl.col("billed").cast(pl.Int128) * pl.col("price"))
        .otherwise(graduated)
    )
    return (
        plan.with_columns(billed.alias("billed"))
        .with_columns(after.alias("after"))
        .select(
            "record_id",
            "start",
            "quantity",
            "content_sha256",
            "customer_id",
            "prefix",
            "band",
            "billed",
            ((usage + _MINUTE // 2) // _MINUTE).cast(pl.Int64).alias("charge"),
        )
    )


def sketch_rate(frames: list[pl.DataFrame], deck: Path, customers: Path) -> tuple[float, int]:
    """Seconds to rate the parsed text ``frames`` (the rating core's own input) by the sketch,
    reference data read beforehand, untimed; and the charges' total (ten-thousandths)."""
    rates = _deck(deck)
    accounts = (
        pl.read_csv(customers, infer_schema=False)
        .with_row_index("customer_id")
        .select("account", pl.col("customer_id").cast(pl.Int64))
    )
    raw = pl.concat(frames)
    began = time.perf_counter()
    rated = sketch_plan(raw.lazy(), rates, accounts).collect()
    seconds = time.perf_counter() - began
    return seconds, int(rated["charge"].sum())
