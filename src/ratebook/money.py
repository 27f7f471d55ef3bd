"""Exact money and quantities: the one door from text to fixed-scale integers, and the one rounding.

Every amount, price and quantity in Ratebook is an integer at a fixed decimal scale:

* amounts (charges, fees, balances) at ``AMOUNT_SCALE`` = 6: ``12.3456`` MYR is ``12_345_600``;
* prices per rate unit at ``PRICE_SCALE`` = 9, so sub-sen per-second prices stay exact;
* quantities at ``QUANTITY_SCALE`` = 3 (milli-units of the record's unit: ms, mB, Wh, ...).

Text becomes an integer only through :func:`parse_fixed` (scalar) or :func:`parse_fixed_expr`
(Polars); both refuse floats, exponents and more decimals than the scale holds, instead of
rounding silently. Only :func:`round_div` and :func:`round_div_expr` round, and each call names
its :class:`RoundingMode`.
"""

from __future__ import annotations

import re
from enum import StrEnum

import polars as pl

AMOUNT_SCALE = 6
PRICE_SCALE = 9
QUANTITY_SCALE = 3

#: ISO 4217 currencies whose minor unit is not the cent (2 places): 0 or 3 places.
_MINOR_PLACES: dict[str, int] = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI"), 0
    ),
    **dict.fromkeys(("VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}

_FIXED_RE = re.compile(r"^([+-]?)(\d+)(?:\.(\d*))?$|^([+-]?)\.(\d+)$")


class RoundingMode(StrEnum):
    """How a quotient is brought to a whole number of the target unit.

    ``HALF_UP`` rounds halves away from zero, ``HALF_EVEN`` to the even neighbour (banker's),
    ``UP`` away from zero, ``DOWN`` toward zero (truncation).
    """

    HALF_UP = "half-up"
    HALF_EVEN = "half-even"
    UP = "up"
    DOWN = "down"


class AmountError(ValueError):
    """Text that is not an exact decimal of the expected scale.

    Attributes:
        code: ``NOT_A_NUMBER``, ``TOO_PRECISE``, ``TOO_LARGE`` or ``NEGATIVE``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_fixed(text: str, scale: int, *, allow_negative: bool = False) -> int:
    """Parse decimal text into an integer at ``scale`` decimal places, exactly.

    Args:
        text: plain decimal text such as ``"0.0250"``; surrounding blanks are ignored.
        scale: decimal places of the result's unit.
        allow_negative: whether a leading ``-`` is accepted.

    Returns:
        ``text * 10**scale`` as an int.

    Raises:
        TypeError: if ``text`` is not a str (a float never becomes money).
        AmountError: ``NOT_A_NUMBER``, ``TOO_PRECISE`` (more decimals than ``scale``) or
            ``NEGATIVE``.
    """
    if not isinstance(text, str):
        raise TypeError(f"amounts are parsed from text, not {type(text).__name__}")
    stripped = text.strip()
    match = _FIXED_RE.match(stripped)
    if match is None:
        raise AmountError("NOT_A_NUMBER", f"{text!r} is not a decimal number")
    if match.group(2) is not None:
        sign, whole, frac = match.group(1), match.group(2), match.group(3) or ""
    else:
        sign, whole, frac = match.group(4), "0", match.group(5)
    frac = frac.rstrip("0")
    if len(frac) > scale:
        raise AmountError("TOO_PRECISE", f"{text!r} has more than {scale} decimal places")
    if len(whole.lstrip("0")) > 18 - scale:
        raise AmountError("TOO_LARGE", f"{text!r} is too large")
    value: int = int(whole) * _pow10(scale) + (int(frac.ljust(scale, "0")) if frac else 0)
    if sign == "-":
        if not allow_negative:  # "-0" too: a sign where none belongs is a broken value
            raise AmountError("NEGATIVE", f"{text!r} is negative")
        value = -value
    return value


def minor_places(currency: str) -> int:
    """Decimal places of ``currency``'s minor unit (ISO 4217): 2 unless listed otherwise."""
    return _MINOR_PLACES.get(currency.upper(), 2)


def _pow10(exponent: int) -> int:
    if exponent < 0:
        raise ValueError("negative power of ten")
    result: int = 10**exponent
    return result


def round_div(numerator: int, denominator: int, mode: RoundingMode) -> int:
    """Divide two integers and round the quotient to a whole number with ``mode``.

    Raises:
        ZeroDivisionError: if ``denominator`` is zero.
    """
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    quotient, remainder = divmod(numerator, denominator)  # floor division, 0 <= remainder
    if remainder == 0:
        return quotient
    if mode is RoundingMode.DOWN:
        return quotient + 1 if numerator < 0 else quotient
    if mode is RoundingMode.UP:
        return quotient if numerator < 0 else quotient + 1
    twice = 2 * remainder
    if twice > denominator:
        return quotient + 1
    if twice < denominator:
        return quotient
    # exactly half
    if mode is RoundingMode.HALF_UP:
        return quotient if numerator < 0 else quotient + 1
    return quotient + (quotient & 1)  # HALF_EVEN


def round_div_expr(numerator: pl.Expr, denominator: pl.Expr | int, mode: RoundingMode) -> pl.Expr:
    """The vectorized twin of :func:`round_div` for a positive ``denominator``.

    ``numerator`` should be an integer expression wide enough for the value (Int128 where a
    product of two scaled integers is involved); ``denominator`` a positive int or integer
    expression (a non-positive one is a bug: the result is then meaningless).
    """
    if isinstance(denominator, int) and denominator <= 0:
        raise ValueError("round_div_expr needs a positive denominator")
    quotient = numerator // denominator
    remainder = numerator - quotient * denominator
    negative = numerator < 0
    exact = remainder == 0
    twice = remainder * 2
    bump: pl.Expr
    if mode is RoundingMode.DOWN:
        bump = negative & ~exact
    elif mode is RoundingMode.UP:
        bump = ~negative & ~exact
    elif mode is RoundingMode.HALF_UP:
        bump = (twice > denominator) | ((twice == denominator) & ~negative)
    else:
        bump = (twice > denominator) | ((twice == denominator) & ((quotient % 2) == 1))
    return quotient + bump.cast(pl.Int64)


def round_to_places(value: int, scale: int, places: int, mode: RoundingMode) -> int:
    """Round a fixed-scale integer to ``places`` decimals, keeping it at ``scale``."""
    if places >= scale:
        return value
    step = _pow10(scale - places)
    return round_div(value, step, mode) * step


def format_fixed(value: int, scale: int, places: int | None = None, *, min_places: int = 0) -> str:
    """Format a fixed-scale integer as plain decimal text, exactly.

    Args:
        value: the integer at ``scale``.
        scale: its decimal places.
        places: digits after the point to show; ``None`` shows as many as needed, but at least
            ``min_places``. Showing fewer places than the value needs raises, because
            formatting never rounds: round first with :func:`round_to_places`.

    Raises:
        ValueError: if ``places`` would drop non-zero digits.
    """
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    whole, frac = divmod(magnitude, 10**scale)
    digits = str(frac).rjust(scale, "0") if scale else ""
    if places is None:
        digits = digits.rstrip("0").ljust(min(min_places, scale), "0")
    elif places < scale:
        if digits[places:].strip("0"):
            raise ValueError(f"{value} at scale {scale} does not fit in {places} places")
        digits = digits[:places]
    else:
        digits = digits.ljust(places, "0")
    return f"{sign}{whole}.{digits}" if digits else f"{sign}{whole}"


def format_fixed_expr(
    value: pl.Expr, scale: int, places: int | None = None, *, min_places: int = 0
) -> pl.Expr:
    """Vectorized :func:`format_fixed` of an integer column: the same text for every value,
    and null where ``places`` would drop non-zero digits (which ``format_fixed`` refuses)."""
    magnitude = value.abs()
    whole = (magnitude // 10**scale).cast(pl.String)
    frac = (magnitude % 10**scale).cast(pl.String).str.zfill(scale) if scale else pl.lit("")
    fits: pl.Expr = pl.lit(True)
    if places is None:
        digits = frac.str.strip_chars_end("0").str.pad_end(min(min_places, scale), "0")
    elif places < scale:
        digits = frac.str.slice(0, places)
        fits = frac.str.slice(places).str.strip_chars("0") == ""
    else:
        digits = frac.str.pad_end(places, "0")
    text = pl.when(digits == "").then(whole).otherwise(whole + pl.lit(".") + digits)
    signed = pl.when(value < 0).then(pl.lit("-") + text).otherwise(text)
    return pl.when(fits).then(signed)


def whole_number_text(scale: int) -> str:
    """The pattern of text that is a plain whole number fitting Int64 at ``scale``: ASCII
    digits only (``\\d`` would take other scripts' digits), at most ``18 - scale`` of them."""
    return f"^[0-9]{{1,{18 - scale}}}$"


def parse_fixed_expr(
    text: pl.Expr, scale: int, *, all_whole: bool = False
) -> tuple[pl.Expr, pl.Expr]:
    """Vectorized :func:`parse_fixed` for non-negative decimal text columns.

    ``all_whole=True`` is for a column the caller has checked holds only nulls and text
    matching :func:`whole_number_text` (most usage feeds: seconds, bytes, messages): the
    value is then a plain cast, with the same result as the full parse at a fraction of its
    cost.

    Returns:
        ``(value, problem)``: ``value`` is an Int64 expression at ``scale`` (null where the text
        is not a valid non-negative decimal of at most ``scale`` places); ``problem`` is a String
        expression holding ``NOT_A_NUMBER``, ``TOO_PRECISE``, ``TOO_LARGE``, ``NEGATIVE`` or
        null. ``TOO_LARGE`` guards the Int64 range: at most ``18 - scale`` whole digits.
    """
    if all_whole:
        value = text.cast(pl.Int64) * (10**scale)
        problem = pl.when(text.is_null()).then(pl.lit("NOT_A_NUMBER")).otherwise(None)
        return value, problem.cast(pl.String)
    stripped = text.str.strip_chars()
    shape_ok = stripped.str.contains(r"^-?(\d+(\.\d*)?|\.\d+)$")
    negative = stripped.str.starts_with("-")
    unsigned = stripped.str.strip_prefix("-")
    whole = unsigned.str.extract(r"^(\d*)", 1)
    frac = unsigned.str.extract(r"\.(\d*)$", 1).fill_null("").str.strip_chars_end("0")
    too_precise = frac.str.len_chars() > scale
    too_large = whole.str.strip_chars_start("0").str.len_chars() > 18 - scale
    whole_int = (
        pl.when(whole == "").then(pl.lit("0")).otherwise(whole.str.slice(-(18 - scale)))
    ).cast(pl.Int64, strict=False)
    frac_int = (
        pl.when(frac == "")
        .then(pl.lit(0, pl.Int64))
        .otherwise(frac.str.pad_end(scale, "0").cast(pl.Int64, strict=False))
    )
    magnitude = whole_int * (10**scale) + frac_int
    problem = (
        pl.when(text.is_null() | ~shape_ok | whole_int.is_null())
        .then(pl.lit("NOT_A_NUMBER"))
        .when(too_precise)
        .then(pl.lit("TOO_PRECISE"))
        .when(too_large)
        .then(pl.lit("TOO_LARGE"))
        .when(negative)
        .then(pl.lit("NEGATIVE"))
        .otherwise(pl.lit(None, pl.String))
    )
    value = pl.when(problem.is_null()).then(magnitude).otherwise(pl.lit(None, pl.Int64))
    return value, problem
