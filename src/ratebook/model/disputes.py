"""A dispute's life: open -> investigating -> resolved (upheld or rejected); nothing after."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Where a dispute stands."""

    OPEN = "open"
    INVESTIGATING = "investigating"
    RESOLVED = "resolved"


class Outcome(StrEnum):
    """How a resolved dispute ended."""

    UPHELD = "upheld"
    REJECTED = "rejected"


#: The moves a dispute may make. Investigation may be paused (back to open); a resolved
#: dispute is final, so a new complaint is a new dispute.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.OPEN: frozenset({Status.INVESTIGATING, Status.RESOLVED}),
    Status.INVESTIGATING: frozenset({Status.OPEN, Status.RESOLVED}),
    Status.RESOLVED: frozenset(),
}


def allowed(current: Status, target: Status) -> bool:
    """Whether a dispute may move from ``current`` to ``target``."""
    return target in TRANSITIONS[current]
