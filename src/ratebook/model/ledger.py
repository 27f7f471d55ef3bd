"""The ledger's words: the billing period, the kinds of posting, and a posting.

A **period** is a calendar month in the entity's zone, written ``YYYY-MM`` wherever it is
stored or shown; ``Period`` parses and checks that text, and works out its neighbours and its
half-open ``[start, end)`` in a zone. A **posting** is one signed amount in a customer's
ledger for a period; postings are only ever added (a correction is a reversal and a new
posting).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Self
from zoneinfo import ZoneInfo

import polars as pl

from ratebook.errors import InputError
from ratebook.model.usage import FIRST_PERIOD, LAST_PERIOD

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """A billing month.

    Attributes:
        year: the calendar year.
        month: 1 to 12.
    """

    year: int
    month: int

    @classmethod
    def parse(cls, text: str, *, option: str = "--period") -> Self:
        """The period written ``YYYY-MM``, within the months Ratebook bills.

        Raises:
            InputError: ``BAD_PERIOD``, located at ``option``.
        """
        found = _PERIOD.match(text)
        if found is None:
            raise InputError("BAD_PERIOD", f"{text!r} is not a month as YYYY-MM", path=option)
        if not FIRST_PERIOD <= text <= LAST_PERIOD:
            raise InputError(
                "BAD_PERIOD",
                f"{text} is outside {FIRST_PERIOD} to {LAST_PERIOD}, the months Ratebook bills",
                path=option,
            )
        return cls(int(found.group(1)), int(found.group(2)))

    @classmethod
    def of(cls, text: str) -> Self:
        """The period of text the store holds (already checked when it was written)."""
        return cls(int(text[:4]), int(text[5:7]))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def next(self) -> Period:
        """The month after."""
        return Period(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Period:
        """The month before."""
        return Period(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def bounds(self, zone: str) -> tuple[datetime, datetime]:
        """Its half-open ``[start, end)`` as UTC instants: the local midnights of its first
        day and of the next month's, in ``zone``."""
        tz = ZoneInfo(zone)
        after = self.next()
        start = datetime(self.year, self.month, 1, tzinfo=tz)
        end = datetime(after.year, after.month, 1, tzinfo=tz)
        return start.astimezone(UTC), end.astimezone(UTC)


def next_period(period: str) -> str:
    """The ``YYYY-MM`` after ``period`` (text as stored)."""
    return str(Period.of(period).next())


def previous_period(period: str) -> str:
    """The ``YYYY-MM`` before ``period`` (text as stored)."""
    return str(Period.of(period).previous())


class PostingKind(StrEnum):
    """What a posting is for."""

    USAGE = "usage"  # rated usage of the period (or new ratings after a re-rating)
    REVERSAL = "reversal"  # the old ratings a re-rating replaced, negated
    LATE_USAGE = "late_usage"  # usage of a closed period, in the first open one
    RECURRING = "recurring"  # a subscription interval billed by a close
    VOLUME_SETTLEMENT = "volume_settlement"  # a volume tier settled at close
    TAX = "tax"  # the tax of an invoice
    CARRIED = "carried"  # a balance under the floor, taken out of the period
    BROUGHT_FORWARD = "brought_forward"  # the same, brought into the next period
    CREDIT = "credit"  # an upheld dispute's credit
    ADJUSTMENT = "adjustment"


#: The kinds that carry rated usage: their sum in a period is the sum of the charges posted
#: to it.
USAGE_KINDS = (PostingKind.USAGE, PostingKind.REVERSAL, PostingKind.LATE_USAGE)


@dataclass(frozen=True, slots=True, kw_only=True)
class Posting:
    """One signed amount in a customer's ledger. Amounts at AMOUNT_SCALE.

    Attributes:
        customer_id: whose ledger.
        period: the period it is posted to, ``YYYY-MM``.
        kind: what it is for.
        amount: signed amount.
        records: rated records it stands for (negative for a reversal).
        quantity: their billed quantity, if it stands for usage.
        category: the invoice line category (service, plan category, ``rounding``).
        source_period: the period a late or brought-forward amount came from.
        memo: words for statements and the audit log.
    """

    customer_id: int
    period: str
    kind: PostingKind
    amount: int
    records: int = 0
    quantity: int | None = None
    category: str | None = None
    source_period: str | None = None
    memo: str | None = None


#: A stored posting as a frame, in this column order.
POSTING_COLUMNS: dict[str, pl.DataType] = {
    "customer_id": pl.Int64(),
    "period": pl.String(),
    "kind": pl.String(),
    "amount": pl.Int64(),
    "quantity": pl.Int64(),
    "records": pl.Int64(),
    "category": pl.String(),
    "source_period": pl.String(),
    "memo": pl.String(),
}
