"""The rate stage on inline frames; every expected charge is worked out by hand in comments."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ratebook.model.parties import ASSIGNMENT_SCHEMA
from ratebook.model.rejections import Code
from ratebook.model.tariffs import ROW_SCHEMA, VERSION_SCHEMA
from ratebook.pipeline import rate as rate_module
from ratebook.pipeline.rate import rate

T0 = datetime(2026, 10, 5, 2, 0, tzinfo=UTC)  # 10:00 in Kuala Lumpur


def _rows(*rows: dict[str, object]) -> pl.DataFrame:
    base = {
        "version_id": 1,
        "service": "voice",
        "band": "*",
        "destination_name": "X",
        "unit": "s",
        "rate_unit": 60_000,
        "connect_fee": 0,
        "increment_initial": 60_000,
        "increment_subsequent": 60_000,
        "minimum_charge": 0,
    }
    return pl.DataFrame(
        [{**base, "rate_row_id": i + 1, **r} for i, r in enumerate(rows)], schema=ROW_SCHEMA
    )


def _versions(
    *versions: tuple[int, datetime], places: int = 4, mode: str = "half-up"
) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "version_id": v,
                "rate_table_id": 1,
                "effective_from": start,
                "rounding_mode": mode,
                "rounding_places": places,
                "timezone": "Asia/Kuala_Lumpur",
                "spec": "{}",
            }
            for v, start in versions
        ],
        schema=VERSION_SCHEMA,
    )


ASSIGNED = pl.DataFrame(
    [
        {
            "customer_id": 7,
            "rate_table_id": 1,
            "role": "base",
            "discount_ppm": 0,
            "valid_from": None,
            "valid_to": None,
        }
    ],
    schema=ASSIGNMENT_SCHEMA,
)


def _records(*records: Mapping[str, object]) -> pl.DataFrame:
    base = {
        "customer_id": 7,
        "customer_account": "ACME",
        "start_time": T0,
        "service": "voice",
        "destination": "+60312345678",
        "disposition": "ANSWERED",
        "unit": "s",
    }
    return pl.DataFrame(
        [{**base, "row_idx": i, "line": i + 1, **r} for i, r in enumerate(records)],
        schema={
            "row_idx": pl.Int64,
            "line": pl.Int64,
            "customer_id": pl.Int64,
            "customer_account": pl.String,
            "start_time": pl.Datetime("us", "UTC"),
            "service": pl.String,
            "destination": pl.String,
            "disposition": pl.String,
            "unit": pl.String,
            "quantity": pl.Int64,
        },
    )


def _charges(
    records: pl.DataFrame,
    rows: pl.DataFrame,
    versions: pl.DataFrame | None = None,
    assignments: pl.DataFrame = ASSIGNED,
) -> list[tuple[int, int]]:
    rated, rejected = rate(
        records,
        assignments=assignments,
        versions=versions if versions is not None else _versions((1, T0)),
        rows=rows,
        zone="Asia/Kuala_Lumpur",
    )
    assert rejected.is_empty(), rejected
    return list(zip(rated["billed_quantity"].to_list(), rated["charge"].to_list(), strict=True))


SECONDS = [0, 1, 29, 30, 31, 59, 60, 61]


def test_increments_60_60() -> None:
    # RM0.0300 a minute, 60/60: anything from 1 s to 60 s bills a minute; 61 s bills two.
    rows = _rows({"prefix": "60", "price": 30_000_000})
    got = _charges(_records(*[{"quantity": s * 1000} for s in SECONDS]), rows)
    minute, two = (60_000, 30_000), (120_000, 60_000)
    assert got == [(0, 0), minute, minute, minute, minute, minute, minute, two]


def test_increments_30_6() -> None:
    # RM0.0300 a minute = RM0.0005 a second; first 30 s, then 6 s steps.
    rows = _rows(
        {
            "prefix": "60",
            "price": 30_000_000,
            "increment_initial": 30_000,
            "increment_subsequent": 6_000,
        }
    )
    got = _charges(_records(*[{"quantity": s * 1000} for s in SECONDS]), rows)
    assert got == [
        (0, 0),  # 0 s: nothing
        (30_000, 15_000),  # 1 s -> 30 s -> 0.0150
        (30_000, 15_000),  # 29 s -> 30 s
        (30_000, 15_000),  # 30 s -> 30 s
        (36_000, 18_000),  # 31 s -> 36 s -> 0.0180
        (60_000, 30_000),  # 59 s -> 30 + 5x6 = 60 s -> 0.0300
        (60_000, 30_000),  # 60 s
        (66_000, 33_000),  # 61 s -> 66 s -> 0.0330
    ]


def test_connect_fee_and_minimum_charge() -> None:
    rows = _rows(
        # connect RM0.0500 + 61 s at 60/60 (2 min x 0.03) = RM0.1100
        {"prefix": "603", "price": 30_000_000, "connect_fee": 50_000},
        # 1 s at 1/1 = 0.0005, raised to the RM0.0500 minimum
        {
            "prefix": "6012",
            "price": 30_000_000,
            "increment_initial": 1_000,
            "increment_subsequent": 1_000,
            "minimum_charge": 50_000,
        },
    )
    got = _charges(
        _records(
            {"quantity": 61_000, "destination": "+60312345678"},
            {"quantity": 1_000, "destination": "+60123456789"},
        ),
        rows,
    )
    assert got == [(120_000, 110_000), (1_000, 50_000)]


@pytest.mark.parametrize(
    ("mode", "expected"),
    # 30 s at 1/1 of RM0.0125/min = 0.00625; of RM0.0175/min = 0.00875 (4 places)
    [("half-up", [63, 88]), ("half-even", [62, 88]), ("up", [63, 88]), ("down", [62, 87])],
)
def test_rounding_modes_at_half(mode: str, expected: list[int]) -> None:
    rows = _rows(
        {
            "prefix": "603",
            "price": 12_500_000,
            "increment_initial": 1_000,
            "increment_subsequent": 1_000,
        },
        {
            "prefix": "6012",
            "price": 17_500_000,
            "increment_initial": 1_000,
            "increment_subsequent": 1_000,
        },
    )
    got = _charges(
        _records(
            {"quantity": 30_000, "destination": "+60312345678"},
            {"quantity": 30_000, "destination": "+60123456789"},
        ),
        rows,
        _versions((1, T0), mode=mode),
    )
    assert [charge // 100 for _, charge in got] == expected  # in units of 0.0001


def test_longest_prefix_wins() -> None:
    rows = _rows(
        {"prefix": "60", "price": 100_000_000},
        {"prefix": "601", "price": 150_000_000},
        {"prefix": "6012", "price": 200_000_000},
        {"prefix": "*", "price": 900_000_000},
    )
    got = _charges(
        _records(
            {"quantity": 60_000, "destination": "+60123456789"},
            {"quantity": 60_000, "destination": "+60198765432"},
            {"quantity": 60_000, "destination": "+60312345678"},
            {"quantity": 60_000, "destination": "+6591234567"},
        ),
        rows,
    )
    assert [c for _, c in got] == [200_000, 150_000, 100_000, 900_000]


def _two_versions() -> pl.DataFrame:
    """A row for Malaysia in version 1 at RM0.0300 a minute, and one in version 2 at 0.0500."""
    return pl.concat(
        [
            _rows({"prefix": "60", "price": 30_000_000}),
            _rows({"prefix": "60", "price": 50_000_000}).with_columns(
                pl.lit(2, pl.Int64).alias("version_id"), pl.lit(2, pl.Int64).alias("rate_row_id")
            ),
        ]
    )


def test_version_in_force_at_start_time() -> None:
    # version 2 starts at 2026-10-15 00:00 in Kuala Lumpur = 2026-10-14 16:00 UTC
    switch = datetime(2026, 10, 14, 16, 0, tzinfo=UTC)
    rows = _two_versions()
    versions = _versions((1, datetime(2026, 10, 1, tzinfo=UTC)), (2, switch))
    before = datetime(2026, 10, 14, 15, 59, 59, tzinfo=UTC)
    got = _charges(
        _records(
            {"quantity": 60_000, "start_time": before}, {"quantity": 60_000, "start_time": switch}
        ),
        rows,
        versions,
    )
    assert [c for _, c in got] == [30_000, 50_000]


def test_assignment_in_force_at_start_time() -> None:
    # Customer 7 moves from table 1 (RM0.0300 a minute) to table 2 (RM0.0500) at 2026-10-15
    # 00:00 in Kuala Lumpur (14 Oct 16:00 UTC), after a first assignment to table 1 that ended
    # on 1 Oct; customer 8 has one assignment, to table 2, from 10 Oct (02:00 UTC), whose
    # validity ends on 20 Oct (exclusive). A minute each:
    # - customer 7 on 5 Oct: table 1, 0.03; at 15:59:59 UTC on 14 Oct: table 1; at 16:00:
    #   table 2, 0.05; customer 8 on 5 Oct: no table; on 12 Oct: 0.05; on 20 Oct 00:00 UTC: none
    switch = datetime(2026, 10, 14, 16, 0, tzinfo=UTC)
    rows = _two_versions()
    versions = pl.concat(
        [
            _versions((1, datetime(2026, 1, 1, tzinfo=UTC))),
            _versions((2, datetime(2026, 1, 1, tzinfo=UTC))).with_columns(
                pl.lit(2, pl.Int64).alias("rate_table_id")
            ),
        ]
    )

    def assigned(
        customer: int, table: int, start: datetime | None, end: datetime | None
    ) -> dict[str, object]:
        return {
            "customer_id": customer,
            "rate_table_id": table,
            "role": "base",
            "discount_ppm": 0,
            "valid_from": start,
            "valid_to": end,
        }

    assignments = pl.DataFrame(
        [
            assigned(7, 2, switch, None),
            assigned(7, 1, None, datetime(2026, 10, 1, tzinfo=UTC)),
            assigned(7, 1, datetime(2026, 10, 1, tzinfo=UTC), switch),
            assigned(
                8, 2, datetime(2026, 10, 10, 2, tzinfo=UTC), datetime(2026, 10, 20, tzinfo=UTC)
            ),
        ],
        schema=ASSIGNMENT_SCHEMA,
    )
    minute = {"quantity": 60_000}
    records = _records(
        {**minute, "start_time": T0},
        {**minute, "start_time": datetime(2026, 10, 14, 15, 59, 59, tzinfo=UTC)},
        {**minute, "start_time": switch},
        {**minute, "customer_id": 8, "customer_account": "B", "start_time": T0},
        {
            **minute,
            "customer_id": 8,
            "customer_account": "B",
            "start_time": switch - timedelta(days=2),
        },
        {
            **minute,
            "customer_id": 8,
            "customer_account": "B",
            "start_time": datetime(2026, 10, 20, tzinfo=UTC),
        },
    )
    rated, rejected = rate(
        records, assignments=assignments, versions=versions, rows=rows, zone="Asia/Kuala_Lumpur"
    )
    assert rated.select("row_idx", "rate_table_id", "charge").rows() == [
        (0, 1, 30_000),
        (1, 1, 30_000),
        (2, 2, 50_000),
        (4, 2, 50_000),
    ]
    assert rejected.select("row_idx", "reason").rows() == [
        (3, "customer B has no rate table on 2026-10-05"),
        (5, "customer B has no rate table on 2026-10-20"),
    ]
    # customer 8 alone (one assignment each: the short way) is priced the same
    alone, _ = rate(
        records.filter(pl.col("customer_id") == 8),
        assignments=assignments.filter(pl.col("customer_id") == 8),
        versions=versions,
        rows=rows,
        zone="Asia/Kuala_Lumpur",
    )
    assert alone.select("row_idx", "charge").rows() == [(4, 50_000)]


def test_unanswered_calls_are_kept_at_zero() -> None:
    rows = _rows({"prefix": "60", "price": 30_000_000, "connect_fee": 50_000})
    got = _charges(
        _records(
            {"quantity": 30_000, "disposition": "NO ANSWER"}, {"quantity": 0, "destination": "s"}
        ),
        rows,
    )
    assert got == [(0, 0), (0, 0)]


def test_no_rate_reasons() -> None:
    rows = _rows({"prefix": "60", "price": 30_000_000})
    records = _records(
        {"quantity": 60_000, "destination": "+88112345678"},
        {"quantity": 60_000, "customer_id": 8, "customer_account": "NOPE"},
        {"quantity": 60_000, "start_time": datetime(2020, 1, 1, tzinfo=UTC)},
    )
    rated, rejected = rate(
        records,
        assignments=ASSIGNED,
        versions=_versions((1, T0)),
        rows=rows,
        zone="Asia/Kuala_Lumpur",
    )
    assert rated.is_empty()
    assert rejected["code"].to_list() == [Code.NO_RATE] * 3
    assert rejected["reason"].to_list() == [
        "no voice rate for destination +88112345678 on 2026-10-05",
        "customer NOPE has no rate table on 2026-10-05",
        "the customer's rate table has no version in force on 2020-01-01",
    ]


def test_records_with_no_version_in_force_are_all_no_rate() -> None:
    """Every record before the table's first version: no band can be looked up for any."""
    records = _records(
        {"quantity": 60_000, "start_time": datetime(2020, 1, 1, tzinfo=UTC)},
        {"quantity": 120_000, "start_time": datetime(2020, 2, 1, tzinfo=UTC)},
    )
    rated, rejected = rate(
        records,
        assignments=ASSIGNED,
        versions=_versions((1, T0)),
        rows=_rows({"prefix": "60", "price": 30_000_000}),
        zone="Asia/Kuala_Lumpur",
    )
    assert rated.is_empty()
    assert rejected["reason"].to_list() == [
        "the customer's rate table has no version in force on 2020-01-01",
        "the customer's rate table has no version in force on 2020-02-01",
    ]


@pytest.mark.parametrize(
    ("mode", "expected"),
    # 30 s at 1/1 of RM0.0125/min = 0.00625; less 10% = 0.005625 (4 places)
    [("half-up", 56), ("half-even", 56), ("up", 57), ("down", 56)],
)
def test_discount_scales_the_exact_charge_then_rounds_once(mode: str, expected: int) -> None:
    rows = _rows(
        {
            "prefix": "60",
            "price": 12_500_000,
            "increment_initial": 1_000,
            "increment_subsequent": 1_000,
        }
    )
    ten_percent = ASSIGNED.with_columns(pl.lit(100_000, pl.Int64).alias("discount_ppm"))
    rated, _ = rate(
        _records({"quantity": 30_000}),
        assignments=ten_percent,
        versions=_versions((1, T0), mode=mode),
        rows=rows,
        zone="Asia/Kuala_Lumpur",
    )
    assert rated["charge"].to_list() == [expected * 100]


@settings(max_examples=60, deadline=None)
@given(
    prefixes=st.lists(st.text("0123456", min_size=1, max_size=4), min_size=1, max_size=40),
    star=st.booleans(),
    numbers=st.lists(st.text("0123456", min_size=0, max_size=8), min_size=1, max_size=3),
)
def test_few_records_against_a_large_deck_pick_the_rows_all_records_would(
    prefixes: list[str], star: bool, numbers: list[str]
) -> None:
    # a pushed event is matched against only the rows that begin its number; forcing that
    # path and the one a large batch takes must rate identically
    deck = sorted(set(prefixes)) + (["*"] if star else [])
    rows = _rows(*({"prefix": p, "price": 1_000 * (i + 1)} for i, p in enumerate(deck)))
    records = _records(*({"destination": "+" + n if n else "12"} for n in numbers))
    got = []
    for digits in (0, 10**6):  # 0: always narrow the deck first; 10**6: never
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(rate_module, "_MAX_DIGITS", digits)
            rated, rejected = rate(
                records.with_columns(pl.lit(60_000).alias("quantity")),
                assignments=ASSIGNED,
                versions=_versions((1, T0)),
                rows=rows,
                zone="Asia/Kuala_Lumpur",
            )
        got.append(
            (
                rated.select("row_idx", "rate_row_id", "prefix", "charge").sort("row_idx").rows(),
                rejected.select("row_idx", "code").sort("row_idx").rows(),
            )
        )
    assert got[0] == got[1]


def test_a_longer_prefix_beats_a_band_and_a_band_beats_every_band() -> None:
    # peak is Mon-Fri 08:00-18:00 in Kuala Lumpur, everything else offpeak. Rows: 60 for
    # every band RM0.01 a minute, 60 at peak RM0.02, 6031 for every band RM0.04.
    spec = (
        '{"timezone": "Asia/Kuala_Lumpur", "default_band": "offpeak", "bands":'
        ' [{"name": "peak", "days": [1, 2, 3, 4, 5], "start": 28800, "end": 64800}]}'
    )
    versions = _versions((1, T0)).with_columns(pl.lit(spec).alias("spec"))
    rows = _rows(
        {"prefix": "60", "price": 10_000_000},
        {"prefix": "60", "band": "peak", "price": 20_000_000},
        {"prefix": "6031", "price": 40_000_000},
    )
    evening = datetime(2026, 10, 5, 12, 0, tzinfo=UTC)  # Monday 20:00 in Kuala Lumpur
    got = _charges(
        _records(
            {"quantity": 60_000, "destination": "+60312345678"},  # 10:00, peak: 6031 is longer
            {"quantity": 60_000, "destination": "+60412345678"},  # 10:00, peak: the peak row
            {"quantity": 60_000, "destination": "+60412345678", "start_time": evening},
        ),
        rows,
        versions,
    )
    # one minute each: 0.04, 0.02 (peak beats every band at equal length), 0.01 (offpeak)
    assert [c for _, c in got] == [40_000, 20_000, 10_000]
