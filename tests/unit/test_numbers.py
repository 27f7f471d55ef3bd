"""E.164 normalisation: the documented rules, and agreement with phonenumbers on real numbers."""

from __future__ import annotations

import phonenumbers
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ratebook.pipeline.event_record import e164_number
from ratebook.pipeline.numbers import e164, e164_prefix, number_plan

MY = number_plan("MY")


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("+60123456789", "+60123456789"),  # rule 1
        ("0060123456789", "+60123456789"),  # rule 2: international prefix
        ("012-345 6789", "+60123456789"),  # rule 3: national, with separators
        ("(03) 2111.0000", "+60321110000"),
        ("60312345678", "+60312345678"),  # rule 4: own country code without +
        ("1001", "1001"),  # rule 6: an extension stays as written
        ("s", "s"),
        ("anonymous", "anonymous"),
    ],
)
def test_rules(written: str, expected: str) -> None:
    assert e164(pl.Series([written]), MY).to_list() == [expected]


def test_nulls_stay_null() -> None:
    assert e164(pl.Series([None, "0123456789"], dtype=pl.String), MY).to_list() == [
        None,
        "+60123456789",
    ]


def test_north_american_numbers_use_the_library_for_ambiguous_digits() -> None:
    us = number_plan("US")
    assert e164(pl.Series(["2125551234", "12125551234", "011442071234567"]), us).to_list() == [
        "+12125551234",
        "+12125551234",
        "+442071234567",
    ]


@pytest.mark.parametrize(
    ("written", "expected"),
    [("+603", "+603"), ("00603", "+603"), ("03", "+603"), ("6012", "+6012")],
)
def test_prefixes(written: str, expected: str) -> None:
    assert e164_prefix(written, MY) == expected


# Malaysian national significant numbers: mobile 1x + 7-8 digits, Kuala Lumpur 3 + 8 digits
_national = st.one_of(
    st.builds(lambda a, b: f"1{a}{b:07d}", st.sampled_from("0236789"), st.integers(0, 9_999_999)),
    st.builds(lambda b: f"3{b:08d}", st.integers(10_000_000, 99_999_999)),
)


@given(_national, st.sampled_from(["0{n}", "+60{n}", "0060{n}", "60{n}"]))
def test_agrees_with_phonenumbers_on_valid_malaysian_numbers(national: str, form: str) -> None:
    written = form.format(n=national)
    parsed = phonenumbers.parse(written if not written.startswith("60") else "+" + written, "MY")
    expected = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    assert e164(pl.Series([written]), MY).to_list() == [expected]


@given(
    st.lists(
        st.one_of(st.from_regex(r"\A\+[0-9]{4,15}\Z"), st.none()),
        min_size=1,
        max_size=30,
    )
)
def test_a_series_all_in_e164_form_comes_back_as_the_rules_give_it(
    numbers: list[str | None],
) -> None:
    # such a series skips the rules (as a switch's feed does); one written nationally beside
    # it sends the same numbers through every rule, which must give each the same
    fast = e164(pl.Series(numbers, dtype=pl.String), MY).to_list()
    ruled = e164(pl.Series([*numbers, "012-345 6789"], dtype=pl.String), MY).to_list()
    assert fast == numbers
    assert ruled == [*numbers, "+60123456789"]


@pytest.mark.parametrize(
    "region", ["IN", "GB", "US", "SG", "AU", "ID", "TH", "DE"], ids=lambda region: region
)
@pytest.mark.parametrize("kind", ["MOBILE", "FIXED_LINE"])
def test_an_international_number_written_without_its_plus_is_read_as_one(
    region: str, kind: str
) -> None:
    """A carrier logs a call to India as ``919814440333``: not a Malaysian number, so it is
    the international number its digits spell (the library's example numbers of each
    region, checked not to be valid Malaysian numbers too)."""
    example = phonenumbers.example_number_for_type(
        region, getattr(phonenumbers.PhoneNumberType, kind)
    )
    assert example is not None
    e164_text = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    digits = e164_text[1:]
    national = phonenumbers.parse(digits, "MY")
    assert not phonenumbers.is_valid_number(national)
    assert e164(pl.Series([digits]), MY).to_list() == [e164_text]
    assert e164_number(digits, MY) == e164_text
