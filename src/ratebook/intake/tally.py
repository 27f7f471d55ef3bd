"""What a run of the intake did, as an immutable tally that runs add up: rows read, and what
became of each (rated, a duplicate, an exception by code), the charge, and the re-ratings."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True, slots=True, kw_only=True)
class Tally:
    """Counts of one chunk, batch or file; ``a + b`` is both.

    Attributes:
        read: data rows (or events) read.
        rated: rows that became rated records (zero-charge ones included).
        duplicates: exact repeats of a known record.
        exceptions: rows in the exception queue, by code in ``by_code``.
        charge: total of the new charges, AMOUNT_SCALE.
        rerated: earlier charges re-rated because a new record came before them in a cycle
            with tiers.
        rerated_change: what those re-ratings changed in total, AMOUNT_SCALE.
    """

    read: int = 0
    rated: int = 0
    duplicates: int = 0
    exceptions: int = 0
    charge: int = 0
    rerated: int = 0
    rerated_change: int = 0
    by_code: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    def __add__(self, other: Tally) -> Tally:
        codes = Counter(self.by_code)
        codes.update(other.by_code)
        return Tally(
            read=self.read + other.read,
            rated=self.rated + other.rated,
            duplicates=self.duplicates + other.duplicates,
            exceptions=self.exceptions + other.exceptions,
            charge=self.charge + other.charge,
            rerated=self.rerated + other.rerated,
            rerated_change=self.rerated_change + other.rerated_change,
            by_code=MappingProxyType(dict(codes)),
        )

    @property
    def balanced(self) -> bool:
        """Whether every row read is accounted for: ``read == rated + duplicates +
        exceptions``."""
        return self.read == self.rated + self.duplicates + self.exceptions


def codes(found: list[str]) -> Mapping[str, int]:
    """Exception codes counted, for a tally."""
    return MappingProxyType(dict(Counter(found)))
