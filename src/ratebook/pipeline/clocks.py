"""Whether a switch file's start times agree with the clock its record ids hold.

Asterisk's ``uniqueid`` (and ``linkedid``) begins with the epoch second its channel was made,
in UTC, whatever zone the switch writes its times in. A file whose times were written in UTC
but read as local (or the other way round) has every start a whole number of hours away from
that clock: the import says so, so that the next files are read in the right zone instead of
being billed in the wrong hours, bands and perhaps days.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import polars as pl

#: A record id that begins with an epoch second: ``1759453200.1``, ``1759453200.1/11``.
_EPOCH_ID = r"^(\d{9,11})\.\d+(?:/|$)"
#: Differences are counted in steps of this many seconds (zones are whole quarter hours).
_STEP = 900
#: A file is said to disagree only when at least this many of its rows hold a clock.
_FEWEST = 5


@dataclass(slots=True)
class ClockCheck:
    """The differences between start times and their ids' clocks, over a file's chunks."""

    checked: int = 0
    by_step: Counter[int] = field(default_factory=Counter)

    def add(self, records: pl.DataFrame) -> None:
        """Count the records (``record_id``, ``start_time`` in UTC) whose id holds a clock."""
        epoch = pl.col("record_id").str.extract(_EPOCH_ID, 1).cast(pl.Int64)
        steps = (
            records.select(
                ((pl.col("start_time").dt.epoch("s") - epoch + _STEP // 2) // _STEP).alias("s")
            )
            .drop_nulls()["s"]
            .to_list()
        )
        self.checked += len(steps)
        self.by_step.update(steps)

    def note(self, zone: str) -> str | None:
        """What to tell the user when most rows are the same whole quarter hours from their
        ids' clock (None when they agree, or too few rows hold one)."""
        if self.checked < _FEWEST or not self.by_step:
            return None
        step, rows = self.by_step.most_common(1)[0]
        if step == 0 or rows * 2 <= self.checked:
            return None
        minutes = step * _STEP // 60
        sign = "+" if minutes > 0 else "-"
        apart = f"{sign}{abs(minutes) // 60}:{abs(minutes) % 60:02d}"
        return (
            f"start times are {apart} h from the UTC clock in their uniqueid in {rows} of"
            f" {self.checked} rows: if the switch writes its times in another zone than"
            f" {zone}, these records were read that far off; give its files their zone"
            " (--tz, or the feed's timezone)"
        )
