"""Invoice lines in whole minor units: the exact net rounded once, shared among the lines by
largest remainder (billing.compose.billed_amounts)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

from hypothesis import given
from hypothesis import strategies as st

from ratebook.billing.compose import billed_amounts
from ratebook.money import RoundingMode

SEN = 10_000  # one sen at AMOUNT_SCALE (6 places)


def test_the_missing_sen_goes_to_the_line_that_lost_most() -> None:
    # 12.345 + 0.40 + 0.0475 = 12.7925 -> 12.79; taken down: 12.34 + 0.40 + 0.04 = 12.78;
    # the one sen missing goes to 0.0475 (lost 0.0075), not to 12.345 (lost 0.005)
    exact = [12_345_000, 400_000, 47_500]
    assert billed_amounts(exact, minor_places=2, mode=RoundingMode.HALF_UP) == [
        12_340_000,
        400_000,
        50_000,
    ]


def test_a_credit_is_billed_in_whole_sen_too() -> None:
    # 15.00 - 0.005 = 14.995 -> 15.00 half-up: -0.005 is taken down to -0.01, and the sen the
    # net still needs goes back to it: 15.00 and 0.00
    assert billed_amounts([15_000_000, -5_000], minor_places=2, mode=RoundingMode.HALF_UP) == [
        15_000_000,
        0,
    ]
    # half-even: 14.995 -> 15.00 as well (the even neighbour of 14.99|15.00 is 15.00)
    assert billed_amounts([15_000_000, -5_000], minor_places=2, mode=RoundingMode.HALF_EVEN) == [
        15_000_000,
        0,
    ]
    # down: 14.995 -> 14.99: 15.00 and -0.01
    assert billed_amounts([15_000_000, -5_000], minor_places=2, mode=RoundingMode.DOWN) == [
        15_000_000,
        -10_000,
    ]


def test_yen_has_no_minor_places() -> None:
    # 100.4 + 200.4 + 300.4 = 901.2 -> 901: 100, 200, 300 and one yen to the first of equals
    assert billed_amounts(
        [100_400_000, 200_400_000, 300_400_000], minor_places=0, mode=RoundingMode.HALF_UP
    ) == [101_000_000, 200_000_000, 300_000_000]


_MODES = {RoundingMode.HALF_UP: ROUND_HALF_UP, RoundingMode.HALF_EVEN: ROUND_HALF_EVEN}


@given(
    st.lists(st.integers(min_value=-(10**9), max_value=10**10), min_size=1, max_size=30),
    st.sampled_from(sorted(_MODES)),
)
def test_billed_lines_add_up_to_the_rounded_net(amounts: list[int], mode: RoundingMode) -> None:
    billed = billed_amounts(amounts, minor_places=2, mode=mode)
    assert all(b % SEN == 0 for b in billed)
    assert all(abs(b - a) < SEN for a, b in zip(amounts, billed, strict=True))
    # the net rounded by decimal arithmetic, independently of Ratebook's integer rounding
    net = (Decimal(sum(amounts)) / 10**6).quantize(Decimal("0.01"), rounding=_MODES[mode])
    assert Decimal(sum(billed)) / 10**6 == net
