"""The vectorized number classifier gives libphonenumber's own answers: region and type of
every E.164 number, drawn from every calling code's plans."""

from __future__ import annotations

import phonenumbers
import polars as pl
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

from ratebook.pipeline.destinations import NumberType, classify, classify_each

_CODES = sorted(COUNTRY_CODE_TO_REGION_CODE)
_TYPES = list(range(11))  # FIXED_LINE .. VOICEMAIL


@st.composite
def numbers(draw: st.DrawFn) -> str:
    """An E.164 number: a region's example number of some type with its last digits
    redrawn, or a calling code and random digits."""
    code = draw(st.sampled_from(_CODES))
    region = draw(st.sampled_from(COUNTRY_CODE_TO_REGION_CODE[code]))
    example = None
    if draw(st.booleans()):
        if region == "001":
            example = phonenumbers.example_number_for_non_geo_entity(code)
        else:
            example = phonenumbers.example_number_for_type(region, draw(st.sampled_from(_TYPES)))
    if example is not None:
        text = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
        keep = len(text) - draw(st.integers(0, 4))
        tail = draw(st.text("0123456789", min_size=0, max_size=len(text) - keep))
        return text[:keep] + tail
    digits = draw(st.text("0123456789", min_size=3, max_size=12))
    return f"+{code}{digits}"


def classify_one(number: str) -> tuple[str | None, NumberType]:
    """libphonenumber's own answer for one E.164 number, parsed as the library parses it:
    the reference the classifier is held to."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None, NumberType.UNKNOWN
    region = phonenumbers.region_code_for_number(parsed)
    kind = phonenumbers.number_type(parsed)
    return region, NumberType(phonenumbers.PhoneNumberType.to_string(kind).lower())


def _canonical(number: str) -> bool:
    """Whether libphonenumber reads ``number`` as written (no trunk prefix it would strip):
    the form numbers are stored in."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == number


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(numbers(), min_size=1, max_size=80))
def test_classify_agrees_with_libphonenumber(drawn: list[str]) -> None:
    got = {
        row["number"]: (row["region"], row["number_type"])
        for row in classify(pl.Series(drawn, dtype=pl.String)).iter_rows(named=True)
    }
    assert set(got) == set(drawn)
    for number in drawn:
        if _canonical(number):
            region, kind = classify_one(number)
            assert got[number] == (region, kind.value), number


def test_what_is_not_e164_has_no_region() -> None:
    got = classify(pl.Series(["1234", "+", "s", "+99912345", None], dtype=pl.String))
    assert sorted(got.rows()) == [
        ("+", None, "unknown"),
        ("+99912345", None, "unknown"),
        ("1234", None, "unknown"),
        ("s", None, "unknown"),
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(numbers(), st.text("+0123456789", max_size=14)), min_size=1, max_size=80))
@example(["+020"])  # a calling code has no leading zero: not Egypt's 20
def test_one_at_a_time_is_the_same_as_the_column(drawn: list[str]) -> None:
    series = pl.Series(drawn, dtype=pl.String)
    assert sorted(classify_each(series).rows()) == sorted(classify(series).rows())
