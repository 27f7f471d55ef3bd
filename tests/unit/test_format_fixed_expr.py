"""The vectorized exact format gives ``format_fixed``'s text for every value, and null
exactly where ``format_fixed`` refuses to drop digits."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from ratebook.money import format_fixed, format_fixed_expr


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.integers(-(10**15), 10**15), min_size=1, max_size=20),
    scale=st.integers(0, 8),
    places=st.none() | st.integers(0, 10),
    min_places=st.integers(0, 8),
)
def test_the_same_text_as_format_fixed(
    values: list[int], scale: int, places: int | None, min_places: int
) -> None:
    def one(value: int) -> str | None:
        try:
            return format_fixed(value, scale, places, min_places=min_places)
        except ValueError:
            return None

    frame = pl.DataFrame({"v": values}, schema={"v": pl.Int64})
    got = frame.select(format_fixed_expr(pl.col("v"), scale, places, min_places=min_places))
    assert got.to_series().to_list() == [one(v) for v in values]


def test_by_hand() -> None:
    frame = pl.DataFrame({"v": [512_300, -5, 0, 61_000, 1_230_000, None]}, schema={"v": pl.Int64})
    assert frame.select(format_fixed_expr(pl.col("v"), 6, 4)).to_series().to_list() == [
        "0.5123",
        None,  # -0.000005 does not fit in 4 places
        "0.0000",
        "0.0610",
        "1.2300",
        None,
    ]
    assert frame.select(format_fixed_expr(pl.col("v"), 3)).to_series().to_list() == [
        "512.3",
        "-0.005",
        "0",
        "61",
        "1230",
        None,
    ]
