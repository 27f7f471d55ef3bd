"""A regulatory report profile: how usage is categorised, grouped and weighted for a filing.

A profile is a versioned YAML file (``docs/reports.md``). Ratebook ships ``generic``,
``mcmc-usp`` and ``fcc-499`` as worked examples; they are aids to preparing a filing, not
legal advice. The model here checks a profile when it is read, so a bad one is refused with
the key at fault.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Destination categories, in report order.
CATEGORIES = (
    "domestic_fixed",
    "domestic_mobile",
    "domestic_other",  # fixed-or-mobile, VoIP, shared cost, UAN, personal, pager, voicemail
    "toll_free",
    "premium",
    "international",
    "roaming",
    "unknown",  # a number no numbering plan gives a type, a short code or an extension
    "none",  # usage without a destination: data, messages to a service, kWh, m3
)
Category = Literal[
    "domestic_fixed",
    "domestic_mobile",
    "domestic_other",
    "toll_free",
    "premium",
    "international",
    "roaming",
    "unknown",
    "none",
]

#: What a report may be grouped by, in column order.
DIMENSIONS = ("service", "direction", "category", "country", "segment", "jurisdiction")
Dimension = Literal["service", "direction", "category", "country", "segment", "jurisdiction"]

#: What a report is grouped by when its profile does not say.
_GROUPED: tuple[Dimension, ...] = ("service", "direction", "category", "country", "segment")

#: Directions, after the feeds' words for them are read (``docs/reports.md``).
DIRECTIONS = ("outbound", "inbound", "on_net")

#: The category of a domestic number of each libphonenumber type, unless a profile says
#: otherwise in ``types``.
DEFAULT_TYPES: dict[str, Category] = {
    "fixed_line": "domestic_fixed",
    "mobile": "domestic_mobile",
    "fixed_line_or_mobile": "domestic_other",
    "toll_free": "toll_free",
    "premium_rate": "premium",
    "shared_cost": "domestic_other",
    "voip": "domestic_other",
    "personal_number": "domestic_other",
    "pager": "domestic_other",
    "uan": "domestic_other",
    "voicemail": "domestic_other",
    "unknown": "unknown",
}

_PREFIX = re.compile(r"^\+\d{1,15}$")


def _decimal(text: object, what: str) -> Decimal:
    """A plain decimal number written as text (or a YAML number), never through a float."""
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise ValueError(f"{what} is written as text, e.g. '0.5' (quoted), not {text!r}")
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a decimal number") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{text!r} is not a decimal number of 0 or more")
    return value


class Rule(BaseModel):
    """One jurisdiction rule: when every condition it names holds, the record's jurisdiction
    is ``then``. Conditions: the destination ``category`` is one of a list; the caller and
    destination are (``same_area: true``) or are not (``false``) in the same area."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: list[Category] | None = None
    same_area: bool | None = None
    then: Annotated[str, Field(min_length=1, max_length=32)]


class Jurisdiction(BaseModel):
    """How a record's jurisdiction is found: ``areas`` maps E.164 prefixes to an area (a
    state, a province; the longest prefix wins), ``rules`` are tried in order, and
    ``default`` is the jurisdiction when none holds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    areas: dict[str, str] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    default: Annotated[str, Field(min_length=1, max_length=32)]

    @field_validator("areas")
    @classmethod
    def _prefixes(cls, value: dict[str, str]) -> dict[str, str]:
        for prefix in value:
            if not _PREFIX.match(prefix):
                raise ValueError(f"area prefix {prefix!r} is not '+' and digits")
        return value


class Profile(BaseModel):
    """A report profile, as its YAML file gives it (``docs/reports.md``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
    version: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]
    title: Annotated[str, Field(min_length=1, max_length=200)]
    note: str = (
        "An aid to preparing a filing, not legal advice: check the categories, weights and"
        " thresholds against the regulator's current rules."
    )
    basis: Literal["usage", "invoice"] = "usage"
    group_by: list[Dimension] = Field(default_factory=lambda: list(_GROUPED))
    types: dict[str, Category] = Field(default_factory=dict)
    prefixes: dict[str, Category] = Field(default_factory=dict)
    roaming_attribute: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,64}$")] | None = "roaming"
    jurisdiction: Jurisdiction | None = None
    weights: dict[Category, str] = Field(default_factory=dict)
    threshold: str | None = None
    contribution_rate: str | None = None

    @field_validator("group_by")
    @classmethod
    def _dimensions(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("a report is grouped by at least one dimension")
        if len(set(value)) != len(value):
            raise ValueError("a dimension is named twice")
        return [d for d in DIMENSIONS if d in value]  # column order, whatever the file's

    @field_validator("types")
    @classmethod
    def _types(cls, value: dict[str, Category]) -> dict[str, Category]:
        for name in value:
            if name not in DEFAULT_TYPES:
                raise ValueError(
                    f"{name!r} is not a number type (one of {', '.join(DEFAULT_TYPES)})"
                )
        return value

    @field_validator("prefixes")
    @classmethod
    def _override_prefixes(cls, value: dict[str, Category]) -> dict[str, Category]:
        for prefix in value:
            if not _PREFIX.match(prefix):
                raise ValueError(f"prefix {prefix!r} is not '+' and digits")
        return value

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: dict[str, object]) -> dict[str, str]:
        return {k: str(_decimal(v, f"the weight of {k}")) for k, v in value.items()}

    @field_validator("threshold", "contribution_rate", mode="before")
    @classmethod
    def _amounts(cls, value: object) -> str | None:
        return None if value is None else str(_decimal(value, "an amount"))

    @model_validator(mode="after")
    def _jurisdiction_grouped(self) -> Profile:
        if "jurisdiction" in self.group_by and self.jurisdiction is None:
            raise ValueError("group_by names jurisdiction, but the profile gives no jurisdiction")
        if self.contribution_rate is not None and not self.weights:
            raise ValueError("a contribution_rate applies to weighted revenue: give weights")
        if self.weights and "category" not in self.group_by:
            raise ValueError("weights are per category: group_by must name category")
        return self

    def category_of_type(self, number_type: str) -> Category:
        """The category of a domestic number of ``number_type``."""
        return self.types.get(number_type, DEFAULT_TYPES[number_type])

    @property
    def name(self) -> str:
        """``profile@version``, as reports and filings name it."""
        return f"{self.profile}@{self.version}"
