"""E.164 normalisation of caller and destination numbers, vectorized, for one home region.

The rule, applied after removing blanks and the separators ``-().``:

1. ``+`` and digits: already E.164.
2. The region's international prefix (``00`` in MY) and digits: ``+`` and the rest.
3. The region's national prefix (``0`` in MY) and at least 6 more digits: ``+``, the country
   code and the rest.
4. Digits starting with the region's country code, 8 to 15 digits long: ``+`` and the digits
   (international format written without the plus, as many switches log it).
5. Other digit strings of 7 to 15 digits: parsed by the ``phonenumbers`` library in the home
   region (once per distinct value), else as an international number written without its
   ``+`` (``919814440333``, as a carrier logs a call to India); kept as written unless one of
   the two gives a valid number.
6. Anything else (extensions such as ``1001``, short codes, ``s``, ``anonymous``): kept as
   written, without a ``+``. Such a number never matches a rate prefix or a customer number
   given in E.164.

Normalised numbers carry their ``+``, so they never collide with an extension of the same
digits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
import polars as pl

from ratebook.model.parties import Entity

_SEPARATORS = r"[\s\-().]"
#: Rule 1: a number already in E.164 form.
_E164 = r"^\+\d{4,15}$"


@dataclass(frozen=True, slots=True, kw_only=True)
class NumberPlan:
    """How numbers are written in a region.

    Attributes:
        region: ISO 3166 region code, e.g. ``MY``.
        country_code: calling code digits, e.g. ``60``.
        international_prefix: regex of the international call prefix, e.g. ``00``.
        national_prefix: the trunk prefix, e.g. ``0``, or None where the region has none.
    """

    region: str
    country_code: str
    international_prefix: str
    national_prefix: str | None


@lru_cache(maxsize=64)
def number_plan(region: str) -> NumberPlan:
    """The numbering plan of ``region`` from the ``phonenumbers`` metadata.

    Raises:
        ValueError: for a region the metadata does not know.
    """
    region = region.upper()
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None:
        raise ValueError(f"unknown region {region!r}")
    return NumberPlan(
        region=region,
        country_code=str(phonenumbers.country_code_for_region(region)),
        international_prefix=metadata.international_prefix or "00",
        national_prefix=metadata.national_prefix or None,
    )


@lru_cache(maxsize=64)
def dial_plan(
    region: str, national_prefix: str | None = None, international_prefixes: tuple[str, ...] = ()
) -> NumberPlan:
    """``region``'s numbering plan with an entity's own prefixes in place of the region's:
    its switches' national trunk prefix, and the international prefixes they write (each
    of them read as one, ``00`` or ``011``).

    Raises:
        ValueError: for a region the metadata does not know.
    """
    plan = number_plan(region)
    return NumberPlan(
        region=plan.region,
        country_code=plan.country_code,
        international_prefix=(
            "|".join(re.escape(p) for p in international_prefixes)
            if international_prefixes
            else plan.international_prefix
        ),
        national_prefix=national_prefix if national_prefix is not None else plan.national_prefix,
    )


def entity_plan(entity: Entity) -> NumberPlan:
    """How the entity's switches write numbers: its region's plan and its own prefixes."""
    return dial_plan(entity.region, entity.national_prefix, entity.international_prefixes)


def parse_with_library(value: str, region: str) -> str | None:
    """Rule 5 for a string of digits: the E.164 form of the valid number it is in
    ``region``, else of the valid international number it is with a ``+`` before it, else
    None."""
    for text, home in ((value, region), ("+" + value, None)):
        try:
            parsed = phonenumbers.parse(text, home)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
    return None


def e164(numbers: pl.Series, plan: NumberPlan) -> pl.Series:
    """Normalise a String series of numbers (nulls stay null) by the module's rule."""
    numbers = numbers.cast(pl.String)
    if numbers.str.contains(_E164).fill_null(True).all():
        # every number is in E.164 form already (as a switch writes them): rule 1 keeps each
        # as it is, and the rules below would only work that out row by row
        return numbers
    frame = pl.DataFrame({"raw": numbers})
    cleaned = pl.col("raw").str.strip_chars().str.replace_all(_SEPARATORS, "")
    intl = f"^(?:{plan.international_prefix})(\\d{{4,15}})$"
    rules = (
        pl.when(cleaned.str.contains(_E164))
        .then(cleaned)
        .when(cleaned.str.contains(intl))
        .then(pl.lit("+") + cleaned.str.extract(intl, 1))
    )
    if plan.national_prefix:
        national = f"^{re.escape(plan.national_prefix)}(\\d{{6,14}})$"
        rules = rules.when(cleaned.str.contains(national)).then(
            pl.lit("+" + plan.country_code) + cleaned.str.extract(national, 1)
        )
    cc_len = len(plan.country_code)
    own = f"^{plan.country_code}\\d{{{max(8 - cc_len, 1)},{15 - cc_len}}}$"
    rules = rules.when(cleaned.str.contains(own)).then(pl.lit("+") + cleaned)
    out = frame.with_columns(
        cleaned.alias("cleaned"),
        rules.otherwise(pl.lit(None, pl.String)).alias("e164"),
    )
    ambiguous = out.filter(
        pl.col("e164").is_null() & pl.col("cleaned").str.contains(r"^\d{7,15}$")
    )["cleaned"].unique()
    if len(ambiguous):
        parsed = [parse_with_library(v, plan.region) for v in ambiguous]
        out = out.with_columns(
            pl.coalesce(
                "e164",
                pl.col("cleaned").replace_strict(
                    ambiguous, pl.Series(parsed, dtype=pl.String), default=None
                ),
            ).alias("e164")
        )
    return out.select(
        pl.when(pl.col("raw").is_null())
        .then(None)
        .otherwise(pl.coalesce("e164", pl.col("raw").str.strip_chars()))
        .alias(numbers.name)
    ).to_series()


def e164_one(number: str, plan: NumberPlan) -> str:
    """:func:`e164` for a single number that must be a phone number (a customer's).

    Raises:
        ValueError: text that no rule makes an E.164 number.
    """
    result = str(e164(pl.Series("n", [number], dtype=pl.String), plan)[0])
    if not re.match(_E164, result):
        raise ValueError(
            f"{number!r} is not a phone number: give it in E.164 (+60312345678), as a national"
            f" number of {plan.region}, or after the international prefix"
            f" ({plan.international_prefix})"
        )
    return result


def e164_prefix(text: str, plan: NumberPlan) -> str:
    """Normalise a number prefix (without its ``*``) to E.164 form with ``+``.

    ``+603``, ``00603`` and ``603`` (international digits) all give ``+603``; a prefix with the
    national trunk prefix (``03`` in MY) gets the country code (``+603``).

    Raises:
        ValueError: text that is not digits after removing separators and a leading ``+``.
    """
    cleaned = re.sub(_SEPARATORS, "", text.strip())
    if cleaned.startswith("+"):
        digits = cleaned[1:]
    elif (m := re.match(f"^(?:{plan.international_prefix})(\\d+)$", cleaned)) is not None:
        digits = m.group(1)
    elif plan.national_prefix and cleaned.startswith(plan.national_prefix):
        digits = plan.country_code + cleaned[len(plan.national_prefix) :]
    else:
        digits = cleaned
    if not digits.isdigit() or len(digits) > 15:
        raise ValueError(f"{text!r} is not a number prefix")
    return "+" + digits
