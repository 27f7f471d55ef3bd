"""Exact parsing, every rounding mode at .5 and on negatives, and the vectorized twins."""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ratebook.money import (
    AmountError,
    RoundingMode,
    format_fixed,
    parse_fixed,
    parse_fixed_expr,
    round_div,
    round_div_expr,
    round_to_places,
    whole_number_text,
)

DECIMAL_MODES = {
    RoundingMode.HALF_UP: ROUND_HALF_UP,
    RoundingMode.HALF_EVEN: ROUND_HALF_EVEN,
    RoundingMode.UP: ROUND_UP,
    RoundingMode.DOWN: ROUND_DOWN,
}


@pytest.mark.parametrize(
    ("text", "scale", "expected"),
    [
        ("0.0250", 9, 25_000_000),
        ("12", 3, 12_000),
        (".5", 2, 50),
        ("1.", 2, 100),
        (" 7.10 ", 2, 710),
        ("0.000000001", 9, 1),
        ("1.2300", 2, 123),
    ],
)
def test_parse_fixed_is_exact(text: str, scale: int, expected: int) -> None:
    assert parse_fixed(text, scale) == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("abc", "NOT_A_NUMBER"),
        ("1e3", "NOT_A_NUMBER"),
        ("", "NOT_A_NUMBER"),
        ("1.0001", "TOO_PRECISE"),
        ("-1", "NEGATIVE"),
        ("-0", "NEGATIVE"),
        ("1" * 20, "TOO_LARGE"),
    ],
)
def test_parse_fixed_refuses(text: str, code: str) -> None:
    with pytest.raises(AmountError) as caught:
        parse_fixed(text, 3)
    assert caught.value.code == code


def test_parse_fixed_refuses_floats() -> None:
    with pytest.raises(TypeError):
        parse_fixed(0.1, 2)  # type: ignore[arg-type]


def test_negative_allowed_when_asked() -> None:
    assert parse_fixed("-1.25", 2, allow_negative=True) == -125


# 25/10 = 2.5, 35/10 = 3.5, -25/10 = -2.5, 26/10 = 2.6, -24/10 = -2.4 (hand-worked)
@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (RoundingMode.HALF_UP, [3, 4, -3, 3, -2]),
        (RoundingMode.HALF_EVEN, [2, 4, -2, 3, -2]),
        (RoundingMode.UP, [3, 4, -3, 3, -3]),
        (RoundingMode.DOWN, [2, 3, -2, 2, -2]),
    ],
)
def test_round_div_modes_at_half_and_negative(mode: RoundingMode, expected: list[int]) -> None:
    numerators = [25, 35, -25, 26, -24]
    assert [round_div(n, 10, mode) for n in numerators] == expected
    frame = pl.DataFrame({"n": numerators}, schema={"n": pl.Int128})
    assert frame.select(round_div_expr(pl.col("n"), 10, mode))["n"].to_list() == expected


def test_round_to_places_keeps_scale() -> None:
    # 0.123450 at scale 6 to 4 places
    assert round_to_places(123_450, 6, 4, RoundingMode.HALF_EVEN) == 123_400
    assert round_to_places(123_450, 6, 4, RoundingMode.HALF_UP) == 123_500


@given(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.integers(min_value=1, max_value=10**12),
    st.sampled_from(list(RoundingMode)),
)
def test_round_div_agrees_with_decimal(
    numerator: int, denominator: int, mode: RoundingMode
) -> None:
    expected = (
        int(
            (Decimal(numerator) / Decimal(denominator)).quantize(
                Decimal(1), rounding=DECIMAL_MODES[mode]
            )
        )
        if abs(numerator) < 10**25
        else None
    )
    got = round_div(numerator, denominator, mode)
    if expected is not None:
        assert got == expected
    frame = pl.DataFrame(
        {"n": [numerator], "d": [denominator]}, schema={"n": pl.Int128, "d": pl.Int128}
    )
    assert frame.select(round_div_expr(pl.col("n"), pl.col("d"), mode))["n"][0] == got


@given(st.text(alphabet="0123456789.-+ e", max_size=12), st.integers(0, 9))
def test_vectorized_parse_agrees_with_scalar(text: str, scale: int) -> None:
    value, problem = parse_fixed_expr(pl.col("t"), scale)
    got = pl.DataFrame({"t": [text]}).select(value.alias("v"), problem.alias("p")).row(0)
    try:
        expected: tuple[int | None, str | None] = (parse_fixed(text, scale), None)
    except AmountError as exc:
        expected = (None, exc.code)
    if text.strip().startswith("+"):  # the vectorized form takes no explicit plus sign
        assert got[0] is None
        return
    assert got == expected


def test_format_fixed_never_rounds() -> None:
    assert format_fixed(12_345_600, 6, 4) == "12.3456"
    assert format_fixed(-5_000_000, 6, 2) == "-5.00"
    assert format_fixed(28_000_000, 9, min_places=4) == "0.0280"
    assert format_fixed(60_000, 3) == "60"
    with pytest.raises(ValueError, match="does not fit"):
        format_fixed(12_345_678, 6, 4)


@given(st.text(alphabet="0123456789١", min_size=1, max_size=20), st.integers(0, 9))
def test_whole_number_shortcut_agrees_with_scalar(text: str, scale: int) -> None:
    # the shortcut is taken only for text matching whole_number_text; there it must give
    # exactly the scalar parse, and anything else (other scripts' digits, too many digits)
    # must not match
    if not re.fullmatch(whole_number_text(scale).strip("^$"), text):
        assert not text.isascii() or len(text) > 18 - scale
        return
    value, problem = parse_fixed_expr(pl.col("t"), scale, all_whole=True)
    got = pl.DataFrame({"t": [text]}).select(value.alias("v"), problem.alias("p")).row(0)
    assert got == (parse_fixed(text, scale), None)
