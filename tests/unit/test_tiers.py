"""Tiers on inline frames: graduated (a straddling record split) and volume (provisional price,
settled at close). Expected charges are worked out by hand in the comments.

The ladder in every test: RM0.1000 a minute for the first 10 minutes of the customer's cycle,
RM0.0500 a minute after that; voice billed 60/60, charges rounded to 4 places half-up.
"""

from __future__ import annotations

import json
from datetime import timedelta

import polars as pl

from ratebook.billing.volume import settle_volume
from ratebook.pipeline.rate import rate
from ratebook.pipeline.tiers import apply_tiers, place
from tests.unit.test_rate import ASSIGNED, T0, _records, _rows, _versions

LADDER = json.dumps([{"from": 0, "price": 100_000_000}, {"from": 600_000, "price": 50_000_000}])


def _tiered(kind: str, **extra: object) -> pl.DataFrame:
    return _rows(
        {"prefix": "60", "price": 100_000_000, "tier_kind": kind, "tiers": LADDER, **extra}
    )


def _cycle(*minutes: int, customer: int = 7) -> pl.DataFrame:
    """One record per entry, a day apart, in October."""
    return _records(
        *[
            {"quantity": m * 60_000, "start_time": T0 + timedelta(days=i)}
            for i, m in enumerate(minutes)
        ]
    ).with_columns(
        pl.lit("2026-10").alias("period"),
        pl.format("r{}", pl.col("row_idx")).alias("record_id"),
        pl.lit(customer, pl.Int64).alias("customer_id"),
    )


def _rate(
    records: pl.DataFrame, rows: pl.DataFrame, before: pl.DataFrame | None = None
) -> pl.DataFrame:
    rated, rejected = rate(
        records,
        assignments=ASSIGNED,
        versions=_versions((1, T0)),
        rows=rows,
        zone="Asia/Kuala_Lumpur",
        before=before,
    )
    assert rejected.is_empty(), rejected
    return rated


def test_graduated_splits_the_record_that_straddles_the_boundary() -> None:
    rated = _rate(_cycle(8, 4, 3), _tiered("graduated"))
    # 8 min at 0.10 = 0.80; then 2 min at 0.10 + 2 min at 0.05 = 0.30; then 3 min at 0.05 = 0.15
    assert rated["charge"].to_list() == [800_000, 300_000, 150_000]
    assert rated["usage_before"].to_list() == [0, 480_000, 720_000]
    assert rated["tier"].to_list() == [0, 0, 1]
    parts = json.loads(rated["tier_split"][1])
    assert [(p["tier"], p["quantity"]) for p in parts] == [(0, 120_000), (1, 120_000)]


def test_graduated_record_ending_on_the_boundary_stays_in_the_first_tier() -> None:
    rated = _rate(_cycle(10, 1), _tiered("graduated"))
    # 10 min at 0.10 = 1.00, exactly filling tier 0; the next minute is at 0.05
    assert rated["charge"].to_list() == [1_000_000, 50_000]
    assert rated["tier"].to_list() == [0, 1]


def test_graduated_place_follows_start_time_not_arrival_order() -> None:
    records = _cycle(8, 4, 3)
    shuffled = records[[2, 0, 1]]
    rated = _rate(shuffled, _tiered("graduated"))
    assert rated["record_id"].to_list() == ["r2", "r0", "r1"]
    assert rated["charge"].to_list() == [150_000, 800_000, 300_000]


def test_usage_already_held_moves_the_records_up_the_ladder() -> None:
    before = pl.DataFrame(
        {
            "customer_id": [7],
            "period": ["2026-10"],
            "service": ["voice"],
            "unit": ["s"],
            "used": [540_000],
        }
    )
    rated = _rate(_cycle(3), _tiered("graduated"), before)
    # 9 min already used: 1 min at 0.10 + 2 min at 0.05 = 0.20
    assert rated["charge"].to_list() == [200_000]


def test_tiers_count_each_customer_and_cycle_apart() -> None:
    records = pl.concat([_cycle(8, 4), _cycle(8, 4, customer=8)])
    placed = place(
        records.with_columns(pl.lit("").alias("origin"), billed_quantity=pl.col("quantity"))
    )
    assert placed["usage_before"].to_list() == [0, 480_000, 0, 480_000]


def test_connect_fee_minimum_and_rounding_apply_once_to_a_split_record() -> None:
    rows = _tiered("graduated", connect_fee=50_000, minimum_charge=0)
    rated = _rate(_cycle(9, 2), rows)
    # 9 min at 0.10 + fee 0.05 = 0.95; 1 min at 0.10 + 1 min at 0.05 + fee 0.05 = 0.20
    assert rated["charge"].to_list() == [950_000, 200_000]


def test_volume_carries_the_provisional_price_of_the_tier_reached_so_far() -> None:
    rated = _rate(_cycle(8, 4, 3), _tiered("volume"))
    # 8 min: usage 8 <= 10, tier 0: 0.80; 4 min: usage 12 > 10, tier 1, all 4 at 0.05 = 0.20;
    # 3 min: tier 1 = 0.15
    assert rated["charge"].to_list() == [800_000, 200_000, 150_000]
    assert rated["tier"].to_list() == [0, 1, 1]
    assert rated["unit_price"].to_list() == [100_000_000, 50_000_000, 50_000_000]


def test_volume_settlement_prices_the_whole_cycle_at_the_tier_reached() -> None:
    rows = _tiered("volume")
    rated = _rate(_cycle(8, 4, 3), rows)
    adjustments = settle_volume(rated, rows)
    # 15 min reach tier 1: all 15 at 0.05 = 0.75 against 1.15 provisional: -0.40
    assert adjustments.select(
        "customer_id", "period", "unit", "provisional", "final", "amount"
    ).rows() == [(7, "2026-10", "s", 1_150_000, 750_000, -400_000)]


def test_volume_settlement_of_a_cycle_that_stays_in_the_first_tier_is_nothing() -> None:
    rows = _tiered("volume")
    rated = _rate(_cycle(3, 4), rows)
    assert settle_volume(rated, rows).is_empty()


def test_tiered_and_flat_records_keep_their_order_and_prices() -> None:
    # Malaysia (60) is tiered, Singapore (65) flat at RM0.2000 a minute; the records
    # alternate, a day apart. The tiers count the cycle's voice minutes to every destination:
    # r0 (60, 8 min, 0 before) = 8 x 0.10 = 0.80; r1 (65, 5 min) = 1.00; r2 (60, 4 min, 13
    # before) = 4 x 0.05 = 0.20 in tier 1; r3 (65, 1 min) = 0.20; r4 (60, 4 min, 18 before)
    # = 0.20 in tier 1
    rows = pl.concat(
        [
            _tiered("graduated"),
            _rows({"prefix": "65", "price": 200_000_000}).with_columns(
                pl.lit(2, pl.Int64).alias("rate_row_id")
            ),
        ]
    )
    records = _cycle(8, 5, 4, 1, 4)
    records = records.with_columns(
        pl.Series("destination", ["+6031", "+6581", "+6032", "+6582", "+6033"])
    )
    rated = _rate(records, rows)
    assert rated["record_id"].to_list() == ["r0", "r1", "r2", "r3", "r4"]
    assert rated["charge"].to_list() == [800_000, 1_000_000, 200_000, 200_000, 200_000]
    assert rated["tier"].to_list() == [0, None, 1, None, 1]


def test_a_record_on_no_rate_row_passes_the_tiers_unchanged() -> None:
    # a charge without a rate row (none was in force for it) is no tier's: it comes back as
    # it went in, in its place, beside a flat record and a tiered one priced as before
    # (Malaysia 8 min at 0.10 = 0.80; Singapore 3 min at 0.20 = 0.60)
    rows = pl.concat(
        [
            _tiered("graduated"),
            _rows({"prefix": "65", "price": 200_000_000}).with_columns(
                pl.lit(2, pl.Int64).alias("rate_row_id")
            ),
        ]
    )
    records = _cycle(8, 3).with_columns(pl.Series("destination", ["+6031", "+6581"]))
    rated = _rate(records, rows)
    orphan = rated[1].with_columns(pl.lit(None, pl.Int64).alias("rate_row_id"))
    again = apply_tiers(pl.concat([rated[0], orphan, rated[1]]), rows)
    assert again.height == 3
    assert again.row(1) == orphan.row(0)
    assert again["charge"].to_list() == [800_000, 600_000, 600_000]
