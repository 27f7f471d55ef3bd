"""What a run of the intake did, as an immutable tally that runs add up: rows read, and what
became of each (rated, a duplicate, an exception by code), the charge, and the re-ratings;
and what a file's import reports, as it goes and when it is done."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
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

    def __reduce__(self) -> tuple[object, ...]:
        # a read-only view cannot be pickled, and a parallel worker's tally reaches its
        # coordinator pickled: the codes travel as a plain dict
        return (
            _tally,
            (
                self.read,
                self.rated,
                self.duplicates,
                self.exceptions,
                self.charge,
                self.rerated,
                self.rerated_change,
                dict(self.by_code),
            ),
        )

    @property
    def balanced(self) -> bool:
        """Whether every row read is accounted for: ``read == rated + duplicates +
        exceptions``."""
        return self.read == self.rated + self.duplicates + self.exceptions


def _tally(
    read: int,
    rated: int,
    duplicates: int,
    exceptions: int,
    charge: int,
    rerated: int,
    rerated_change: int,
    by_code: dict[str, int],
) -> Tally:
    return Tally(
        read=read,
        rated=rated,
        duplicates=duplicates,
        exceptions=exceptions,
        charge=charge,
        rerated=rerated,
        rerated_change=rerated_change,
        by_code=MappingProxyType(by_code),
    )


def codes(found: list[str]) -> Mapping[str, int]:
    """Exception codes counted, for a tally."""
    return MappingProxyType(dict(Counter(found)))


#: progress callback: (done so far, total)
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportProgress:
    """What a long import reports as it goes.

    Attributes:
        read: ``(bytes read, file size)``, after each chunk.
        place: ``(partitions placed, partitions held)``, after each partition of the held
            charges is placed in its cycles and booked (the part after the last chunk).
    """

    read: Progress
    place: Progress


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportSummary:
    """What an import did.

    Attributes:
        path: the file as named.
        batch_id: the manifest entry (the earlier one when ``already_imported``).
        already_imported: the file's digest was already in the manifest; nothing changed.
        tally: what became of its rows (``rows_read``, ``rated``, ... read it).
        currency: the entity's currency.
        charge_places: the entity's charge places, for showing ``charge``.
        notes: what the import took in a way the user may not expect (a header cell with
            blanks around its name), for the user to read.
        seconds: how long it took.
    """

    path: str
    batch_id: int
    already_imported: bool = False
    tally: Tally = field(default_factory=Tally)
    currency: str = ""
    charge_places: int = 4
    notes: tuple[str, ...] = ()
    seconds: float = 0.0  # float-ok: elapsed time, not money

    @property
    def rows_read(self) -> int:
        """Data rows (blank lines and the header are not rows)."""
        return self.tally.read

    @property
    def rated(self) -> int:
        """Rows that became rated records (zero-charge ones included)."""
        return self.tally.rated

    @property
    def duplicates(self) -> int:
        """Exact repeats of a known record."""
        return self.tally.duplicates

    @property
    def exceptions(self) -> int:
        """Rows in the exception queue."""
        return self.tally.exceptions

    @property
    def by_code(self) -> Mapping[str, int]:
        """Those exceptions by code."""
        return self.tally.by_code

    @property
    def charge(self) -> int:
        """Total of the new charges, AMOUNT_SCALE."""
        return self.tally.charge

    @property
    def rerated(self) -> int:
        """Earlier charges re-rated because a record of this file came before them in a
        cycle with tiers."""
        return self.tally.rerated

    @property
    def rerated_change(self) -> int:
        """What those re-ratings changed in total, AMOUNT_SCALE."""
        return self.tally.rerated_change
