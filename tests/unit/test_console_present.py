"""The console's values for people and its chart geometry: exact, grouped, never rounded,
and bars scaled by integers."""

from __future__ import annotations

from datetime import UTC, datetime

from ratebook.console.charts import bar_chart
from ratebook.console.present import grouped, masked, money, percent, quantity, when


def test_money_is_exact_and_grouped() -> None:
    assert money(1_234_567_500_000, 2) == "1,234,567.50"
    assert money(-3_200_000, 4) == "-3.2000"
    assert money(1_234_567, 2) == "1.234567"  # never rounded away
    assert money(None) == ""
    assert grouped("-1234") == "-1,234"
    assert grouped("123") == "123"


def test_other_values() -> None:
    assert quantity(125_000, "s") == "0:02:05"
    assert quantity(1_500, "MB") == "1.5 MB"
    assert percent(125_000) == "12.5%"
    assert masked("+60312345678", 3) == "+60312345xxx"
    # 23:30 UTC is 07:30 the next day in Kuala Lumpur
    assert when(datetime(2026, 10, 1, 23, 30, tzinfo=UTC), "Asia/Kuala_Lumpur") == (
        "2026-10-02 07:30"
    )
    assert when("2026-10-01T23:30:00.000000Z", "Europe/London") == "2026-10-02 00:30"


def test_bars_scale_to_the_largest() -> None:
    chart = bar_chart(
        [0, 5, 10, 1], ["a", "b", "c", "d"], ["0", "5", "10", "1"], title="t", width=40, height=100
    )
    assert [(b.x, b.width, b.height, b.y) for b in chart.bars] == [
        (0, 9, 0, 100),
        (10, 9, 50, 50),
        (20, 9, 100, 0),
        (30, 9, 10, 90),
    ]
    assert chart.top == "10"
    assert not chart.empty
    # a tiny value is still seen; nothing at all is an empty chart
    tiny = bar_chart([1, 10_000], ["a", "b"], ["1", "10000"], title="t", height=100)
    assert tiny.bars[0].height == 1
    assert bar_chart([0, 0], ["a", "b"], ["0", "0"], title="t").empty
