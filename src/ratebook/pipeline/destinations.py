"""What kind of number a destination is, and whose: libphonenumber's answer, vectorized.

``phonenumbers.number_type`` and ``region_code_for_number`` answer one number at a time, at
tens of microseconds each. A month holds a million distinct destinations, so this module asks
the same questions of a whole column: it reads libphonenumber's metadata (the national-number
patterns of each region, the regions sharing a country calling code, their leading digits)
and runs those patterns as Polars regular expressions over the numbers of each calling code
at once, in libphonenumber's own order. The answers are the library's: a property test
(``tests/unit/test_destinations.py``) holds them equal on numbers drawn from every plan.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any

import phonenumbers
import polars as pl
from phonenumbers import REGION_CODE_FOR_NON_GEO_ENTITY, PhoneMetadata
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE


class NumberType(StrEnum):
    """A number's type, as libphonenumber names them (in lower case)."""

    FIXED_LINE = "fixed_line"
    MOBILE = "mobile"
    FIXED_LINE_OR_MOBILE = "fixed_line_or_mobile"
    TOLL_FREE = "toll_free"
    PREMIUM_RATE = "premium_rate"
    SHARED_COST = "shared_cost"
    VOIP = "voip"
    PERSONAL_NUMBER = "personal_number"
    PAGER = "pager"
    UAN = "uan"
    VOICEMAIL = "voicemail"
    UNKNOWN = "unknown"


#: libphonenumber's order of the special types: the first that matches is the number's type.
_SPECIAL = (
    ("premium_rate", NumberType.PREMIUM_RATE),
    ("toll_free", NumberType.TOLL_FREE),
    ("shared_cost", NumberType.SHARED_COST),
    ("voip", NumberType.VOIP),
    ("personal_number", NumberType.PERSONAL_NUMBER),
    ("pager", NumberType.PAGER),
    ("uan", NumberType.UAN),
    ("voicemail", NumberType.VOICEMAIL),
)

#: What ``classify`` reads as an E.164 number: ``+`` and 3 to 17 digits.
_E164 = re.compile(r"^\+\d{3,17}$")

#: The columns ``classify`` returns, beside the number itself.
CLASSIFIED: dict[str, pl.DataType] = {
    "number": pl.String(),
    "region": pl.String(),  # ISO 3166 alpha-2, or "001" for a non-geographic number; or null
    "number_type": pl.String(),  # a NumberType value
}


@dataclass(frozen=True, slots=True)
class _Region:
    code: str
    leading_digits: str | None
    #: field name -> (pattern, possible lengths); only the fields the region has
    descs: dict[str, tuple[str, tuple[int, ...]]]
    same_mobile_and_fixed: bool


def _metadata(country_code: int, region: str) -> PhoneMetadata | None:
    if region == REGION_CODE_FOR_NON_GEO_ENTITY:
        return PhoneMetadata.metadata_for_nongeo_region(country_code)
    return PhoneMetadata.metadata_for_region(region)


@cache
def _regions(country_code: int) -> tuple[_Region, ...]:
    """The regions of a calling code, in libphonenumber's order (the main region first)."""
    out = []
    for code in COUNTRY_CODE_TO_REGION_CODE.get(country_code, ()):
        meta = _metadata(country_code, code)
        if meta is None:
            continue
        descs = {}
        for name in ("general_desc", "fixed_line", "mobile", *(f for f, _ in _SPECIAL)):
            desc = getattr(meta, name)
            if desc is not None and desc.national_number_pattern:
                descs[name] = (desc.national_number_pattern, tuple(desc.possible_length or ()))
        out.append(
            _Region(
                code=code,
                leading_digits=meta.leading_digits,
                descs=descs,
                same_mobile_and_fixed=bool(meta.same_mobile_and_fixed_line_pattern),
            )
        )
    return tuple(out)


def _matches(region: _Region, name: str) -> pl.Expr:
    """libphonenumber's ``_is_number_matching_desc`` over the ``nsn`` column: a possible
    length (where the description lists them) and a whole match of the pattern."""
    if name not in region.descs:
        return pl.lit(False)
    pattern, lengths = region.descs[name]
    whole = pl.col("nsn").str.contains(f"^(?:{pattern})$")
    if lengths:
        return pl.col("nsn").str.len_chars().is_in(list(lengths)) & whole
    return whole


def _type_of(region: _Region) -> pl.Expr:
    """libphonenumber's ``_number_type_helper`` for numbers of ``region``."""
    fixed = _matches(region, "fixed_line")
    mobile = _matches(region, "mobile")
    chain: Any = pl.when(~_matches(region, "general_desc")).then(pl.lit(NumberType.UNKNOWN.value))
    for name, kind in _SPECIAL:
        chain = chain.when(_matches(region, name)).then(pl.lit(kind.value))
    if region.same_mobile_and_fixed:
        chain = chain.when(fixed).then(pl.lit(NumberType.FIXED_LINE_OR_MOBILE.value))
    else:
        chain = (
            chain.when(fixed & mobile)
            .then(pl.lit(NumberType.FIXED_LINE_OR_MOBILE.value))
            .when(fixed)
            .then(pl.lit(NumberType.FIXED_LINE.value))
            .when(mobile)
            .then(pl.lit(NumberType.MOBILE.value))
        )
    typed: pl.Expr = chain.otherwise(pl.lit(NumberType.UNKNOWN.value))
    return typed


def _classify_code(numbers: pl.DataFrame, country_code: int) -> pl.DataFrame:
    """Region and type of ``numbers`` (``number``, ``nsn``) of one calling code."""
    regions = _regions(country_code)
    if not regions:
        return numbers.select(
            "number",
            pl.lit(None, pl.String).alias("region"),
            pl.lit(NumberType.UNKNOWN.value).alias("number_type"),
        )
    if len(regions) == 1:
        region_expr: pl.Expr = pl.lit(regions[0].code)
    else:
        # region_code_for_number: the first region whose leading digits begin the number,
        # or (a region without leading digits) whose plan gives the number a type
        chain: Any = None
        for region in regions:
            if region.leading_digits:
                test = pl.col("nsn").str.contains(f"^(?:{region.leading_digits})")
            else:
                test = _type_of(region) != NumberType.UNKNOWN.value
            chain = (
                pl.when(test).then(pl.lit(region.code))
                if chain is None
                else chain.when(test).then(pl.lit(region.code))
            )
        assert chain is not None
        region_expr = chain.otherwise(pl.lit(None, pl.String))
    found = numbers.with_columns(region_expr.alias("region"))
    typed = [
        found.filter(pl.col("region") == region.code).with_columns(
            _type_of(region).alias("number_type")
        )
        for region in regions
    ]
    lost = found.filter(pl.col("region").is_null()).with_columns(
        pl.lit(NumberType.UNKNOWN.value).alias("number_type")
    )
    return pl.concat([*typed, lost]).select(list(CLASSIFIED))


@cache
def _codes_by_length() -> dict[int, list[str]]:
    by_length: dict[int, list[str]] = {1: [], 2: [], 3: []}
    for code in COUNTRY_CODE_TO_REGION_CODE:
        by_length[len(str(code))].append(str(code))
    return by_length


def classify(numbers: pl.Series) -> pl.DataFrame:
    """The region and type of each distinct E.164 number (``+`` and digits) of ``numbers``.

    A value that is not E.164, or whose calling code no region has, gets a null region and
    the type ``unknown``; nulls are left out."""
    distinct = pl.DataFrame({"number": numbers.drop_nulls().unique()}, schema={"number": pl.String})
    digits = pl.col("number").str.strip_prefix("+")
    framed = distinct.with_columns(
        pl.when(pl.col("number").str.contains(_E164.pattern)).then(digits).alias("digits")
    )
    code: pl.Expr = pl.lit(None, pl.String)
    for length in (3, 2, 1):  # calling codes are prefix-free: at most one length matches
        known = _codes_by_length()[length]
        head = pl.col("digits").str.slice(0, length)
        code = pl.when(head.is_in(known)).then(head).otherwise(code)
    framed = framed.with_columns(code.alias("code")).with_columns(
        pl.col("digits").str.slice(pl.col("code").str.len_chars()).alias("nsn")
    )
    parts = [
        _classify_code(group.select("number", "nsn"), int(str(key[0])))
        for key, group in framed.filter(pl.col("code").is_not_null()).group_by(
            "code", maintain_order=True
        )
    ]
    parts.append(
        framed.filter(pl.col("code").is_null()).select(
            "number",
            pl.lit(None, pl.String).alias("region"),
            pl.lit(NumberType.UNKNOWN.value).alias("number_type"),
        )
    )
    return pl.concat(parts).select(list(CLASSIFIED)).cast(CLASSIFIED)  # type: ignore[arg-type]


#: Up to this many distinct numbers are classified one at a time (``classify_each``): the
#: calling codes' patterns cost tens of milliseconds to set up as expressions (about 90 ms for
#: the codes of a six-country deck), and a number 3-10 microseconds to ask libphonenumber
#: about, so the two cost the same near 10,000 numbers.
EACH_NUMBERS = 8_192


@functools.lru_cache(maxsize=65_536)
def _stored_type(number: str) -> tuple[str | None, str]:
    """Region and type of one number as stored (``classify``'s reading: the digits after the
    calling code are the national significant number, leading zeros kept), from
    libphonenumber's own functions."""
    if not _E164.match(number):
        return None, NumberType.UNKNOWN.value
    digits = number[1:]
    # compared as text: a calling code has no leading zero ("020" is no code 20)
    code = next((digits[:n] for n in (3, 2, 1) if digits[:n] in _codes_by_length()[n]), None)
    if code is None:
        return None, NumberType.UNKNOWN.value
    nsn = digits[len(code) :]
    regions = [r.code for r in _regions(int(code))]
    if not nsn or not regions:
        return (regions[0] if len(regions) == 1 else None), NumberType.UNKNOWN.value
    # the zeros before the national number's value (all but one, for a number of zeros)
    zeros = len(nsn) - len(nsn.lstrip("0")) if nsn.strip("0") else len(nsn) - 1
    parsed = phonenumbers.PhoneNumber(
        country_code=int(code),
        national_number=int(nsn),
        italian_leading_zero=zeros > 0 or None,
        number_of_leading_zeros=zeros if zeros > 1 else None,
    )
    assert phonenumbers.national_significant_number(parsed) == nsn
    region = phonenumbers.region_code_for_number(parsed)
    if region is None:
        return None, NumberType.UNKNOWN.value
    kind = phonenumbers.number_type(parsed)
    return region, phonenumbers.PhoneNumberType.to_string(kind).lower()


def stored_kind(number: str | None) -> dict[str, str | None]:
    """The ``destination_region`` and ``destination_type`` a record with destination
    ``number`` is stored with (both null without a destination)."""
    if number is None:
        return {"destination_region": None, "destination_type": None}
    region, kind = _stored_type(number)
    return {"destination_region": region, "destination_type": kind}


def classify_each(numbers: pl.Series) -> pl.DataFrame:
    """``classify``, one distinct number at a time: the same answers, cheaper for a few."""
    distinct = numbers.drop_nulls().unique().to_list()
    rows = [(n, *_stored_type(n)) for n in distinct]
    return pl.DataFrame(rows, schema=CLASSIFIED, orient="row")


def describe(numbers: pl.Series) -> pl.DataFrame:
    """``classify`` or ``classify_each``, whichever is cheaper for ``numbers``."""
    if numbers.n_unique() <= EACH_NUMBERS:
        return classify_each(numbers)
    return classify(numbers)
