"""Entities (legal entities billing in one deployment) and their settings."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

import polars as pl

from ratebook.money import RoundingMode


@dataclass(frozen=True, slots=True, kw_only=True)
class Entity:
    """A legal entity that bills its own customers.

    Attributes:
        id: store key.
        code: short unique code used on the command line (``--entity``).
        name: legal name printed on statements.
        currency: ISO 4217 code.
        timezone: IANA zone in which cycles are calendar months.
        region: ISO 3166 region used to read national numbers.
        invoicing_floor: AMOUNT_SCALE integer; payable totals under it are carried forward.
        charge_places: decimal places shown for charges and balances.
        rounding_mode: default rounding for rate tables that do not name one.
        mask_digits: trailing digits of destinations hidden on statements.
        max_carry_cycles: a balance under the floor is carried at most this many cycles in a
            row; the close that would carry it once more issues an invoice (None: no limit).
        fiscal_year_end_month: the month (1-12) whose close invoices every non-zero balance,
            floor or not (None: no fiscal-year rule).
        late_usage: what an import does with usage of a closed cycle: ``bill`` it as late
            usage in the first open cycle, or ``reject`` it as ``LATE_FOR_CLOSED_CYCLE``.
        retention_months: months the raw content of call records is kept (None: for ever).
        national_prefix: the trunk prefix the entity's switches write before a national
            number, where it is not the region's (None: the region's).
        international_prefixes: the prefixes they write before an international number
            (``00``, ``011``), where they are not the region's (empty: the region's).
    """

    id: int
    code: str
    name: str
    currency: str
    timezone: str
    region: str
    invoicing_floor: int
    charge_places: int
    rounding_mode: RoundingMode
    mask_digits: int
    max_carry_cycles: int | None = None
    fiscal_year_end_month: int | None = None
    late_usage: str = "bill"
    retention_months: int | None = None
    national_prefix: str | None = None
    international_prefixes: tuple[str, ...] = ()

    @property
    def zone(self) -> ZoneInfo:
        """The entity's time zone."""
        return ZoneInfo(self.timezone)


#: Identifiers as the matcher needs them; validity bounds are null when open.
IDENTIFIER_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.Int64(),
    "account": pl.String(),  # the customer's account code, for messages and output
    "kind": pl.String(),  # account | number | prefix
    "value": pl.String(),
    "valid_from": pl.Datetime("us", "UTC"),
    "valid_to": pl.Datetime("us", "UTC"),
}


#: A customer's rate tables over time, as the rater needs them.
ASSIGNMENT_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.Int64(),
    "rate_table_id": pl.Int64(),
    "role": pl.String(),  # base | override
    "discount_ppm": pl.Int64(),  # percentage discount in parts per million (base role)
    "valid_from": pl.Datetime("us", "UTC"),
    "valid_to": pl.Datetime("us", "UTC"),
}
