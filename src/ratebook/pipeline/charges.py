"""The arithmetic of one record's charge, as Polars expressions over integer columns.

* **billed quantity**: of the quantity past the row's ``included`` quantity, the ``initial``
  increment for the first part and whole ``subsequent`` increments after it (60/60 bills
  61 s as 120 s; 30/6 bills 31 s as 36 s); zero for a record that is not charged, or that
  its included quantity covers (which still costs its connect fee);
* **charge** = connect fee + usage / rate unit, raised to the minimum charge and lowered to
  the row's maximum cost, less the customer's percentage discount, rounded once to the
  version's places with its named mode. ``usage`` is billed quantity x price (for a graduated
  tier, the sum over its parts). A record that is not charged (nor one shorter than its
  row's grace) costs exactly zero (no connect fee, no minimum).

All arithmetic is integer (Int128 for the products): see ``ratebook.money`` for the scales.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from ratebook.money import AMOUNT_SCALE, PRICE_SCALE, RoundingMode, round_div_expr

# precise charge, as a fraction of AMOUNT_SCALE units: numerator / (rate_unit * _PRICE_TO_AMOUNT)
_PRICE_TO_AMOUNT = 10 ** (PRICE_SCALE - AMOUNT_SCALE)
_MAX_PLACES = AMOUNT_SCALE
_MILLION = 1_000_000


def billed_quantity_expr(
    quantity: pl.Expr,
    initial: pl.Expr,
    subsequent: pl.Expr,
    charged: pl.Expr,
    included: pl.Expr | None = None,
) -> pl.Expr:
    """Quantity after billing increments (all at QUANTITY_SCALE)."""
    billable = quantity if included is None else quantity - included.fill_null(0)
    beyond = billable - initial
    steps = (beyond + subsequent - 1) // subsequent
    return (
        pl.when(~charged | (billable <= 0))
        .then(pl.lit(0, pl.Int64))
        .when(billable <= initial)
        .then(initial)
        .otherwise(initial + steps * subsequent)
    )


def charge_expr(
    usage: pl.Expr,
    *,
    rate_unit: pl.Expr,
    connect_fee: pl.Expr,
    minimum: pl.Expr,
    charged: pl.Expr,
    places: pl.Expr,
    mode: pl.Expr,
    discount_ppm: pl.Expr,
    max_cost: pl.Expr | None = None,
    roundings: Iterable[tuple[int, str]] | None = None,
) -> pl.Expr:
    """The rounded charge at AMOUNT_SCALE.

    Args:
        usage: billed quantity (QUANTITY_SCALE) x price (PRICE_SCALE), summed over a
            graduated record's parts.
        roundings: the ``(places, mode)`` pairs that can occur (default: every one); the
            expression has one branch per pair, so naming the few in use keeps it small.
    """
    wide = pl.Int128
    denominator = rate_unit.cast(wide) * _PRICE_TO_AMOUNT
    numerator = connect_fee.cast(wide) * denominator + usage.cast(wide)
    floor = minimum.cast(wide) * denominator
    numerator = pl.when(numerator < floor).then(floor).otherwise(numerator)
    if max_cost is not None:
        ceiling = max_cost.cast(wide) * denominator
        numerator = (
            pl.when(max_cost.is_not_null() & (numerator > ceiling))
            .then(ceiling)
            .otherwise(numerator)
        )
    # a discount scales the exact charge; it is still rounded once
    numerator = numerator * (_MILLION - discount_ppm.cast(wide))
    denominator = denominator * _MILLION
    if roundings is None:
        roundings = [(d, m.value) for d in range(_MAX_PLACES + 1) for m in RoundingMode]
    result: pl.Expr = pl.lit(None, wide)
    for digits, name in sorted(set(roundings)):
        if not 0 <= digits <= _MAX_PLACES:
            continue  # never stored: places are checked on import
        step = 10 ** (_MAX_PLACES - digits)
        rounded = round_div_expr(numerator, denominator * step, RoundingMode(name)) * step
        result = pl.when((places == digits) & (mode == name)).then(rounded).otherwise(result)
    return pl.when(charged).then(result).otherwise(pl.lit(0, wide)).cast(pl.Int64)
