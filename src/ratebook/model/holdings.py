"""Who holds which identifier and rate-table assignment, and the rules a customers import
applies to what it adds: nothing added twice, and no number or prefix held by two customers
over overlapping times. Pure: the workflow loads what the store holds, asks, and writes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Identifier:
    """A way usage is tied to a customer, in force over ``[valid_from, valid_to)``.

    Attributes:
        kind: ``account``, ``number`` (an exact E.164 number) or ``prefix`` (a number prefix).
        value: the account code, or the E.164 number or prefix (with ``+``).
        valid_from: first instant in force, or None for always.
        valid_to: first instant no longer in force, or None for open-ended.
    """

    kind: str
    value: str
    valid_from: datetime | None
    valid_to: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Assignment:
    """A rate table assigned to a customer over ``[valid_from, valid_to)``: ``base``, or an
    ``override`` whose rows win where they match; ``discount_ppm`` off every charge (base)."""

    customer_id: int
    rate_table_id: int
    role: str
    discount_ppm: int
    valid_from: datetime | None
    valid_to: datetime | None


def _overlap(a: Identifier, b: Identifier) -> bool:
    """Whether two spans ``[valid_from, valid_to)`` share an instant (None: unbounded)."""
    starts_before_b_ends = b.valid_to is None or a.valid_from is None or a.valid_from < b.valid_to
    ends_after_b_starts = b.valid_from is None or a.valid_to is None or a.valid_to > b.valid_from
    return starts_before_b_ends and ends_after_b_starts


class Holdings:
    """The identifiers and assignments of one entity's customers, as held and as added."""

    def __init__(self) -> None:
        self._holders: defaultdict[tuple[str, str], list[tuple[int, str, Identifier]]]
        self._holders = defaultdict(list)
        self._identifiers: set[tuple[int, Identifier]] = set()
        self._assignments: set[Assignment] = set()

    def hold(self, customer_id: int, account: str, identifier: Identifier) -> bool:
        """Record that ``customer_id`` (``account``) holds ``identifier``; False (and nothing
        recorded) where it already holds exactly it."""
        if (customer_id, identifier) in self._identifiers:
            return False
        self._identifiers.add((customer_id, identifier))
        self._holders[(identifier.kind, identifier.value)].append(
            (customer_id, account, identifier)
        )
        return True

    def other_holder(self, customer_id: int, identifier: Identifier) -> str | None:
        """The account of another customer holding the same identifier over an overlapping
        time, or None."""
        for holder, account, held in self._holders.get((identifier.kind, identifier.value), ()):
            if holder != customer_id and _overlap(identifier, held):
                return account
        return None

    def assign(self, assignment: Assignment) -> bool:
        """Record ``assignment``; False where exactly it is already recorded."""
        if assignment in self._assignments:
            return False
        self._assignments.add(assignment)
        return True
