"""The exception queue's words: the statuses an exception goes through, and a filter naming
which exceptions a listing or an action takes."""

from __future__ import annotations

from dataclasses import dataclass

#: Statuses an exception waits in; ``resolved`` and ``rejected`` are final.
PENDING = ("open", "in_review")
STATUSES = ("open", "in_review", "resolved", "rejected")


@dataclass(frozen=True, slots=True, kw_only=True)
class Filter:
    """Which exceptions an action or a listing takes; every set field must match.

    Attributes:
        ids: these exceptions only.
        code: exception code, e.g. ``NO_RATE``.
        status: a status; ``pending`` means open or in review.
        period: the record's billing period, YYYY-MM.
        customer: a customer account: the matched customer's, or the account the record
            named (an unmatched one).
        origin: the feed the row came from.
        text: a case-insensitive substring of the reason, the raw row or the record id.
        batch_id: rows of this import batch.
    """

    ids: tuple[int, ...] | None = None
    code: str | None = None
    status: str | None = None
    period: str | None = None
    customer: str | None = None
    origin: str | None = None
    text: str | None = None
    batch_id: int | None = None
