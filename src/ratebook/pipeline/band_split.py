"""A call that crosses from one time band into another, priced part by part (a version's
``split_bands``). Pure: one record at a time, no frames.

The rule (``docs/money.md``):

* the call's increments (and its steps' increments) are applied once, over the whole call,
  by the row of the band it starts in, as for any call;
* the call's actual time is cut where its band changes (by local wall-clock time in the
  version's zone, holidays first, as a start time's band is found); each part is priced at
  the row of its band for the call's destination (a part in a band the table has no row for
  is priced at the start's row), and on a row with steps within the call, at the step the
  call's elapsed time has reached (a part is cut where it reaches the next);
* the seconds the increments add beyond the call's actual length belong to its last part;
* the connect fee, minimum, cap and grace are the start row's, applied to the whole call, and
  the charge is rounded once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from math import lcm
from zoneinfo import ZoneInfo

from ratebook.model.tariffs import TimeBands
from ratebook.money import QUANTITY_SCALE
from ratebook.pipeline.compiled import Row

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_DAY = 86_400
#: One unit of a stored quantity (a millisecond) as a time span.
_QUANTUM = timedelta(seconds=1) / 10**QUANTITY_SCALE


def band_at(bands: TimeBands, holidays: dict[int, frozenset[int]], at: datetime) -> str:
    """The band of a UTC instant (``TimeBands.classify`` for one instant)."""
    # the local wall-clock time, counted as if it were UTC
    wall = at.astimezone(ZoneInfo(bands.timezone)).replace(tzinfo=UTC)
    seconds_since = (wall - _EPOCH) // _SECOND
    day, seconds = divmod(seconds_since, _DAY)
    if bands.calendar is not None:
        year = at.year
        days = holidays.get(year)
        if days is None:
            dates = bands.calendar.days(range(year - 1, year + 2))
            days = frozenset((d - _EPOCH.date()).days for d in dates)
            holidays[year] = days
        if day in days:
            return bands.calendar.band
    weekday = (day + 3) % 7 + 1
    for band in bands.bands:
        if band.start < band.end:
            if weekday in band.days and band.start <= seconds < band.end:
                return band.name
        elif (weekday in band.days and seconds >= band.start) or (
            (weekday - 2) % 7 + 1 in band.days and seconds < band.end
        ):
            return band.name
    return bands.default


def band_parts(
    bands: TimeBands, holidays: dict[int, frozenset[int]], start: datetime, quantity: int
) -> list[tuple[str, int]]:
    """The bands a call of ``quantity`` (seconds at QUANTITY_SCALE) from ``start`` passes
    through, in order, each with its share of the quantity (the shares sum to it)."""
    end = start + quantity * _QUANTUM
    cuts = [start, *_changes(bands, holidays, start, end), end]
    parts: list[tuple[str, int]] = []
    for begin, finish in pairwise(cuts):
        band = band_at(bands, holidays, begin)
        size = (finish - start) // _QUANTUM - (begin - start) // _QUANTUM
        if parts and parts[-1][0] == band:
            parts[-1] = (band, parts[-1][1] + size)
        else:
            parts.append((band, size))
    return parts or [(band_at(bands, holidays, start), quantity)]


def _changes(
    bands: TimeBands, holidays: dict[int, frozenset[int]], start: datetime, end: datetime
) -> list[datetime]:
    """The instants in ``(start, end)`` at which the band may change: every local midnight
    and band edge of the days the call spans, each checked, and any change between two of
    them (a daylight-saving jump) found by halving."""
    zone = ZoneInfo(bands.timezone)
    edges = sorted({0, *(edge % _DAY for b in bands.bands for edge in (b.start, b.end))})
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    candidates: set[datetime] = set()
    day = first
    while day <= last:
        midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
        for seconds in edges:
            instant = (midnight + timedelta(seconds=seconds)).astimezone(UTC)
            if start < instant < end:
                candidates.add(instant)
        day += timedelta(days=1)
    points = [start, *sorted(candidates), end]
    found: list[datetime] = []
    for begin, finish in pairwise(points):
        found.extend(_within(bands, holidays, begin, finish))
        if finish != end:
            found.append(finish)
    return found


def _within(
    bands: TimeBands, holidays: dict[int, frozenset[int]], begin: datetime, finish: datetime
) -> list[datetime]:
    """Where the band changes strictly inside ``[begin, finish)`` (none, usually)."""
    last = finish - _SECOND
    if last <= begin or band_at(bands, holidays, begin) == band_at(bands, holidays, last):
        return []
    low, high = begin, last  # the band differs at the two ends: halve to the change
    while high - low > _SECOND:
        middle = low + (high - low) / 2
        middle -= timedelta(microseconds=middle.microsecond)
        if middle <= low:
            break
        if band_at(bands, holidays, middle) == band_at(bands, holidays, begin):
            low = middle
        else:
            high = middle
    return [high, *_within(bands, holidays, high, finish)]


@dataclass(frozen=True, slots=True)
class Part:
    """A part of a call in one band (and one step of its row): the row, the quantity billed
    and the price it is billed at (the row's, or its step's)."""

    band: str
    row: Row
    billed: int
    price: int


def split_usage(
    parts: list[tuple[str, int]],
    billed: int,
    quantity: int,
    start_row: Row,
    row_of: Callable[[str], Row | None],
) -> tuple[list[Part], int, int]:
    """The priced parts of a call, and its usage over a common rate unit: ``(parts, usage,
    rate_unit)``, usage being the sum of billed x price restated in that unit, as
    ``charges.charge_expr`` takes it. ``billed`` is the call's billed quantity (by the start
    row's increments and steps over ``quantity``); the excess is the last part's. A part on
    a row with steps within the call is cut where the call's elapsed time reaches a step,
    each piece at its step's price."""
    priced: list[Part] = []
    elapsed = 0
    for band, size in parts:
        row = row_of(band) or start_row
        cuts = [elapsed, *(f for f, _, _ in row.steps or () if elapsed < f < elapsed + size)]
        for begin, finish in pairwise([*cuts, elapsed + size]):
            price = row.price
            for start, step_price, _ in row.steps or ():
                if start <= begin:
                    price = step_price
            priced.append(Part(band, row, finish - begin, price))
        elapsed += size
    last = priced[-1]
    priced[-1] = Part(last.band, last.row, last.billed + billed - quantity, last.price)
    unit = lcm(*(p.row.rate_unit for p in priced))
    usage = sum(p.billed * p.price * (unit // p.row.rate_unit) for p in priced)
    return priced, usage, unit
