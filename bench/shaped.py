"""Bench inputs with the rating issue's shape: a 50,000-prefix deck priced by band (peak
Mon-Fri 08:00-18:00, off-peak otherwise, Malaysian public holidays and one explicit date as
off-peak) with graduated tiers on the Malaysian prefixes, 20,000 customers, and a generic-format
CDR file of N rows in October 2026 of which about 1% repeat an earlier row (duplicates), and a
day's file of N/30 rows on 2 November, for the import of a day into a store holding a month.

Everything is drawn from a seeded generator and built column-wise with Polars, so a 5M-row
file takes seconds to write.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

PREFIXES = 50_000
CUSTOMERS = 20_000
ZONE = "Asia/Kuala_Lumpur"
#: country code -> share of the deck's prefixes
_COUNTRIES = {"60": 20_000, "65": 8_000, "62": 8_000, "66": 6_000, "44": 4_000, "1": 4_000}


@dataclass(frozen=True, slots=True)
class ShapedInputs:
    """The files of one shaped bench run."""

    table: Path
    #: the table's deck, beside it
    deck: Path
    customers: Path
    cdrs: Path
    rows: int
    #: a day's file after the month: ``rows // 30`` records on Monday 2 November 2026
    daily: Path
    daily_rows: int


def _prefixes(rng: random.Random) -> list[str]:
    """Distinct prefixes of 4 to 7 digits under each country code."""
    chosen: set[str] = set()
    for country, count in _COUNTRIES.items():
        mine: set[str] = set()
        while len(mine) < count:
            length = rng.choice((2, 3, 3, 4, 4, 5))
            mine.add(country + "".join(rng.choice("0123456789") for _ in range(length)))
        chosen |= mine
    return sorted(chosen)


def _money(ten_thousandths: int) -> str:
    return f"{ten_thousandths // 10_000}.{ten_thousandths % 10_000:04d}"


def write_table(directory: Path, rng: random.Random) -> tuple[Path, list[str]]:
    """``standard.yaml`` and its deck ``standard-deck.csv``: two bands a prefix."""
    prefixes = _prefixes(rng)
    deck = directory / "standard-deck.csv"
    with deck.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prefix", "destination", "band", "price", "increment", "tiers"])
        for prefix in prefixes:
            peak = rng.randint(200, 2_000)  # ten-thousandths of a ringgit a minute
            increment = rng.choice(("60/60", "30/6", "1/1"))
            for band, price in (("peak", peak), ("offpeak", peak // 2)):
                tiers = ""
                if prefix.startswith("60"):
                    tiers = (
                        f"graduated 100min={_money(price * 8 // 10)} 1000min={_money(price // 2)}"
                    )
                writer.writerow([prefix, f"Dest {prefix}", band, _money(price), increment, tiers])
    table = directory / "standard.yaml"
    table.write_text(
        f"""name: standard
currency: MYR
timezone: {ZONE}
rounding: {{places: 4, mode: half-up}}
versions:
  - effective_from: 2026-01-01
    bands:
      peak: {{days: [mon, tue, wed, thu, fri], from: "08:00", to: "18:00"}}
    default_band: offpeak
    holidays: {{country: MY, dates: [2026-10-20], band: offpeak}}
    deck: {deck.name}
""",
        encoding="utf-8",
    )
    return table, prefixes


def write_customers(directory: Path) -> Path:
    path = directory / "customers.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["account", "name", "rate_table", "numbers"])
        for index in range(CUSTOMERS):
            writer.writerow([f"C{index:05d}", f"Customer {index}", "standard", ""])
    return path


def _draw(n: int, salt: int, modulo: int) -> pl.Expr:
    """A seeded pseudo-random integer in [0, modulo) per row."""
    return (pl.int_range(n, dtype=pl.UInt64).hash(seed=salt) % modulo).cast(pl.Int64)


def write_cdrs(
    path: Path,
    rows: int,
    prefixes: list[str],
    *,
    first_day: date = date(2026, 10, 1),
    days: int = 31,
    id_prefix: str = "r",
    salt: int = 0,
) -> int:
    """``rows`` generic-format records over ``days`` days from ``first_day`` (October 2026 by
    default), ids ``id_prefix`` and the row's number; every 100th row repeats the row 50
    before it exactly (a duplicate). ``salt`` draws other contents. Returns the number of
    distinct records."""
    index = pl.int_range(rows, dtype=pl.Int64)
    # the row each row takes its content from: itself, or for every 100th the one 50 before
    source = pl.when(index % 100 == 99).then(index - 50).otherwise(index)
    frame = (
        pl.select(source.alias("i"))
        .with_columns(
            pl.col("i").hash(seed=1 + 3 * salt).alias("h1"),
            pl.col("i").hash(seed=2 + 3 * salt).alias("h2"),
            pl.col("i").hash(seed=3 + 3 * salt).alias("h3"),
        )
        .with_columns(
            (id_prefix + pl.col("i").cast(pl.String)).alias("record_id"),
            (
                pl.datetime(first_day.year, first_day.month, first_day.day)
                + pl.duration(seconds=(pl.col("h1") % (days * 86_400)).cast(pl.Int64))
            )
            .dt.strftime("%Y-%m-%dT%H:%M:%S+08:00")
            .alias("start_time"),
            (1 + pl.col("h2") % 900).cast(pl.String).alias("quantity"),
            ("C" + (pl.col("h3") % CUSTOMERS).cast(pl.String).str.zfill(5)).alias("account"),
            pl.lit("+60355550000").alias("caller"),
            (
                "+"
                + pl.lit(pl.Series(prefixes)).gather((pl.col("h2") // 7) % len(prefixes))
                + (pl.col("h3") // 11 % 10_000).cast(pl.String).str.zfill(4)
            ).alias("destination"),
            pl.lit("voice").alias("service"),
            pl.lit("s").alias("unit"),
        )
    )
    frame.select(
        "record_id",
        "start_time",
        "quantity",
        "account",
        "caller",
        "destination",
        "service",
        "unit",
    ).write_csv(path)
    return rows - rows // 100


def generate(directory: Path, rows: int, seed: int = 2026) -> ShapedInputs:
    """Write the table, the customers and a CDR file of ``rows`` rows into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    table, prefixes = write_table(directory, rng)
    customers = write_customers(directory)
    cdrs = directory / f"cdrs-{rows}.csv"
    write_cdrs(cdrs, rows, prefixes)
    daily_rows = max(rows // 30, 1)
    daily = directory / f"cdrs-2026-11-02-{daily_rows}.csv"
    write_cdrs(
        daily, daily_rows, prefixes, first_day=date(2026, 11, 2), days=1, id_prefix="n", salt=1
    )
    return ShapedInputs(
        table=table,
        deck=table.with_name("standard-deck.csv"),
        customers=customers,
        cdrs=cdrs,
        rows=rows,
        daily=daily,
        daily_rows=daily_rows,
    )
