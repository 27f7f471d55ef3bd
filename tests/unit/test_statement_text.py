"""How a statement writes a rate unit: as a tariff would (``billing.statement``)."""

from __future__ import annotations

import pytest

from ratebook.billing.statement import measure_text

K = 1000  # QUANTITY_SCALE: amounts are thousandths of the base unit


@pytest.mark.parametrize(
    ("amount", "unit", "shown"),
    [
        (60 * K, "s", "60s"),
        (1 * K, "msg", "1msg"),
        (10**9 * K, "B", "1GB"),
        (10**6 * K, "B", "1MB"),
        (1500 * K, "B", "1500B"),  # 1.5 KB is not a whole number of KB: bytes
        (2000 * K, "B", "2KB"),
        (1 * K, "m3", "1m3"),
        (1, "m3", "0.001m3"),
        (1000 * K, "req", "1000req"),
        (1 * K, "kWh", "1kWh"),
        (1000 * K, "kWh", "1MWh"),
    ],
)
def test_rate_units_read_as_a_tariff_writes_them(amount: int, unit: str, shown: str) -> None:
    assert measure_text(amount, unit) == shown
