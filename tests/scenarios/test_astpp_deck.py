"""An ASTPP rate deck read with ``--mapping astpp`` prices calls as ASTPP itself does: the
expected costs come from ASTPP's published algorithm (its ``calc_cost``: the connect cost,
less the included seconds, an initial block of one second and then whole increments, each
second at the per-minute cost over 60), written out here independently of Ratebook's code
in exact fractions and rounded to 4 places as ASTPP's ``round`` does (half away from zero)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from math import ceil
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ratebook.errors import InputError
from ratebook.workflows import report_usage
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rates import import_rates
from tests.conftest import write
from tests.support.statements import statement_records

DECK = Path(__file__).parents[1] / "data" / "real" / "astpp-origination.csv"
#: (prefix, connect cost, included seconds, per-minute cost, increment) as the deck has them
RATES = {
    "6012": ("0.0500", 30, "0.0800", 6),
    "60": ("0.0500", 0, "0.0300", 60),
    "65": ("0", 0, "0.0550", 0),
}
CALLS = {  # record id: (destination, billsec)
    "c1": ("+60312345678", 61),
    "c2": ("+60123456789", 100),
    "c3": ("+60123456789", 20),
    "c4": ("+6591234567", 7),
    "c5": ("+6591234567", 1),
}


def astpp_cost(billsec: int, connect: str, included: int, per_minute: str, inc: int) -> str:
    """ASTPP's ``calc_cost`` for one call, to 4 places."""
    if billsec < 1:
        return "0.0000"
    cost = Fraction(connect)
    duration = billsec - included
    if duration > 0:
        initial = 1  # ASTPP's initial block when its CSV sets none
        cost += Fraction(per_minute) / 60 * initial
        duration -= initial
        if duration > 0:
            step = inc if inc >= 1 else 1
            cost += ceil(duration / step) * step * Fraction(per_minute) / 60
    exact = Decimal(cost.numerator) / Decimal(cost.denominator)
    return str(exact.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def test_an_astpp_deck_prices_as_astpp(my_engine: Engine, tmp_path: Path) -> None:
    result = import_rates(
        my_engine, DECK, name="astpp", effective_from="2026-10-01", mapping="astpp"
    )
    assert result.rows == 3
    import_customers(
        my_engine, write(tmp_path / "c.csv", "account,name,rate_table,numbers\nA,A,astpp,\n")
    )
    calls = "record_id,start_time,quantity,account,destination\n" + "".join(
        f"{rid},2026-10-05T10:00:00+08:00,{sec},A,{dest}\n" for rid, (dest, sec) in CALLS.items()
    )
    import_feed(my_engine, write(tmp_path / "calls.csv", calls), format_name="generic")
    out = tmp_path / "a.csv"
    report_usage.write_statement(my_engine, account="A", period="2026-10", out=out)
    charged = {r["record_id"]: r["charge"] for r in statement_records(out)}
    expected = {}
    for rid, (dest, sec) in CALLS.items():
        prefix = next(p for p in RATES if dest[1:].startswith(p))  # longest first, as listed
        expected[rid] = astpp_cost(sec, *RATES[prefix])
    assert charged == expected
    # and by hand, one of them: 100 s less 30 included is 70 s; 1 s, then 69 s in 6 s
    # increments, 72 s: 0.0500 + 73 x 0.0800 / 60 = 0.147333...
    assert charged["c2"] == "0.1473"


def test_an_unknown_mapping_is_refused(my_engine: Engine) -> None:
    with pytest.raises(InputError) as caught:
        import_rates(my_engine, DECK, name="x", effective_from="2026-10-01", mapping="a2billing")
    assert caught.value.code == "UNKNOWN_FORMAT"
    assert "astpp" in caught.value.message


def test_without_the_mapping_the_deck_is_refused_by_column(my_engine: Engine) -> None:
    with pytest.raises(InputError) as caught:
        import_rates(my_engine, DECK, name="x", effective_from="2026-10-01")
    assert caught.value.code in ("UNKNOWN_COLUMN", "MISSING_COLUMN")
