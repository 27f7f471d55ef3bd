"""A CGRateS tariff plan (its ``Destinations``, ``Rates``, ``DestinationRates``,
``Timings`` and ``RatingPlans`` CSV files) as a Ratebook rate table: one rating plan becomes
one version of a YAML rate table (``docs/formats.md``) that a user reviews and imports.

The mapping:

* each destination's prefixes, priced by its destination rate, become rows (``*any``: ``*``);
* a rate's first interval (``GroupIntervalStart`` 0) is the row's price per ``RateUnit``, its
  ``RateIncrement`` the row's increments and its ``ConnectFee`` the row's; each later
  interval is a step within the call (``after: GroupIntervalStart``), at its price restated
  in the row's rate unit, billed in its own increments;
* ``RoundingMethod`` (``*up``, ``*down``, ``*middle``) and ``RoundingDecimals`` are the row's
  rounding; ``MaxCost`` is the row's ``max_cost`` (``*free`` and ``*disconnect`` alike: the
  most the call costs);
* timings become bands (each from its ``Time`` on its weekdays to the next timing's on the
  same days), and the version splits a call that crosses them (``split_bands``); ``*any``
  is every band. Of two destination rates for one prefix and band, the heavier plan entry
  wins.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ratebook.errors import InputError

#: A Go duration as CGRateS writes one (``60s``, ``1m30s``, ``0``), in seconds.
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_SECONDS = {"h": Decimal(3600), "m": Decimal(60), "s": Decimal(1), "ms": Decimal("0.001")}
#: CGRateS's rounding methods, as Ratebook's modes.
_ROUNDING = {"*up": "up", "*down": "down", "*middle": "half-up"}
#: ISO weekdays of CGRateS's (Go's: 0 is Sunday; 7 is read as Sunday too).
_WEEKDAYS = {0: "sun", 1: "mon", 2: "tue", 3: "wed", 4: "thu", 5: "fri", 6: "sat", 7: "sun"}


@dataclass(frozen=True, slots=True)
class _Interval:
    connect_fee: Decimal
    rate: Decimal
    unit: Decimal  # seconds
    increment: Decimal  # seconds
    start: Decimal  # seconds


def _rows(folder: Path, name: str) -> list[list[str]]:
    """A tariff plan file's rows, its ``#`` header and blank lines left out."""
    path = folder / f"{name}.csv"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            "FILE_NOT_FOUND", f"the tariff plan has no {name}.csv", path=path
        ) from None
    return [
        [cell.strip() for cell in row]
        for row in csv.reader(text.splitlines())
        if row and any(cell.strip() for cell in row) and not row[0].lstrip().startswith("#")
    ]


def _seconds(text: str, where: Path, line: str) -> Decimal:
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return Decimal(text)
    parts = _DURATION.findall(text)
    if not parts or "".join(a + b for a, b in parts) != text:
        raise InputError("BAD_RATE_TABLE", f"{text!r} is not a duration ({line})", path=where)
    return sum((Decimal(a) * _SECONDS[b] for a, b in parts), Decimal(0))


def _decimal(text: str, where: Path, line: str) -> Decimal:
    try:
        return Decimal(text or "0")
    except InvalidOperation:
        raise InputError(
            "BAD_RATE_TABLE", f"{text!r} is not a number ({line})", path=where
        ) from None


def _seconds_text(value: Decimal) -> str:
    return f"{value.normalize():f}s"


def convert(folder: Path, rating_plan: str, *, name: str, effective_from: str) -> dict[str, Any]:
    """The rating plan ``rating_plan`` of the tariff plan in ``folder`` as a YAML rate
    table's content (one version from ``effective_from``).

    Raises:
        InputError: a file missing, a value that cannot be read, a plan, destination, rate or
            timing named but not defined, or two entries of equal weight for one prefix and
            band (``BAD_RATE_TABLE``, naming it).
    """
    destinations: dict[str, list[str]] = {}
    for row in _rows(folder, "Destinations"):
        destinations.setdefault(row[0], []).append(row[1])
    rates: dict[str, list[_Interval]] = {}
    where = folder / "Rates.csv"
    for row in _rows(folder, "Rates"):
        line = f"rate {row[0]}"
        rates.setdefault(row[0], []).append(
            _Interval(
                connect_fee=_decimal(row[1], where, line),
                rate=_decimal(row[2], where, line),
                unit=_seconds(row[3], where, line),
                increment=_seconds(row[4], where, line),
                start=_seconds(row[5], where, line),
            )
        )
    destination_rates = {row[0]: row for row in _rows(folder, "DestinationRates")}
    timings = {row[0]: row for row in _rows(folder, "Timings")}
    entries = [row for row in _rows(folder, "RatingPlans") if row[0] == rating_plan]
    if not entries:
        raise InputError(
            "BAD_RATE_TABLE",
            f"no rating plan {rating_plan!r} in RatingPlans.csv",
            path=folder / "RatingPlans.csv",
        )
    used_timings = sorted({tag for _, _, tag, _ in entries if tag != "*any"})
    bands = _bands(folder, timings, used_timings)
    chosen: dict[tuple[str, str], tuple[Decimal, dict[str, Any]]] = {}
    for _, rates_id, tag, weight_text in entries:
        found = destination_rates.get(rates_id)
        if found is None:
            raise InputError(
                "BAD_RATE_TABLE",
                f"rating plan {rating_plan} names destination rate {rates_id!r}, which"
                " DestinationRates.csv does not define",
                path=folder / "RatingPlans.csv",
            )
        weight = _decimal(weight_text, folder / "RatingPlans.csv", f"plan {rating_plan}")
        band = "*" if tag == "*any" else tag.lower()
        for prefix, priced in _destination_rows(folder, found, destinations, rates):
            key = (prefix, band)
            if key in chosen and chosen[key][0] == weight:
                raise InputError(
                    "BAD_RATE_TABLE",
                    f"two entries of weight {weight} price prefix {prefix} in timing {tag}",
                    path=folder / "RatingPlans.csv",
                )
            if key not in chosen or chosen[key][0] < weight:
                chosen[key] = (weight, {"prefix": prefix, "band": band, **priced})
    version: dict[str, Any] = {"effective_from": effective_from}
    if bands:
        version.update(bands=bands, default_band="untimed", split_bands=True)
    version["rows"] = [row for _, row in sorted(chosen.values(), key=_row_order)]
    return {"name": name, "versions": [version]}


def _row_order(item: tuple[Decimal, dict[str, Any]]) -> tuple[str, str]:
    return (str(item[1]["prefix"]), str(item[1]["band"]))


def _destination_rows(
    folder: Path,
    found: list[str],
    destinations: dict[str, list[str]],
    rates: dict[str, list[_Interval]],
) -> list[tuple[str, dict[str, Any]]]:
    """A destination rate's rows, one per prefix of its destination."""
    rates_id, destination, tag, method, decimals, max_cost = (
        found[0],
        found[1],
        found[2],
        found[3] or "*middle",
        found[4] or "4",
        found[5] if len(found) > 5 else "",
    )
    where = folder / "DestinationRates.csv"
    intervals = sorted(rates.get(tag, []), key=lambda i: i.start)
    if not intervals or intervals[0].start != 0:
        raise InputError(
            "BAD_RATE_TABLE",
            f"destination rate {rates_id} names rate {tag!r}, which Rates.csv does not define"
            " from GroupIntervalStart 0",
            path=where,
        )
    if method not in _ROUNDING:
        raise InputError(
            "BAD_RATE_TABLE", f"rounding method {method!r} of {rates_id} is not known", path=where
        )
    first = intervals[0]
    row: dict[str, Any] = {
        "destination": destination,
        "price": f"{first.rate.normalize():f}",
        "per": _seconds_text(first.unit),
        "increment": f"{_seconds_text(first.increment)}/{_seconds_text(first.increment)}",
        "rounding": {"places": int(decimals), "mode": _ROUNDING[method]},
    }
    if first.connect_fee:
        row["connect_fee"] = f"{first.connect_fee.normalize():f}"
    cap = _decimal(max_cost, where, rates_id)
    if cap:
        row["max_cost"] = f"{cap.normalize():f}"
    if len(intervals) > 1:
        row["steps"] = [
            {
                "after": _seconds_text(step.start),
                # the step's price in the row's rate unit
                "price": f"{(step.rate * first.unit / step.unit).normalize():f}",
                "increment": _seconds_text(step.increment),
            }
            for step in intervals[1:]
        ]
    if destination == "*any":
        return [("*", {"prefix": "*", **row})]
    prefixes = destinations.get(destination)
    if not prefixes:
        raise InputError(
            "BAD_RATE_TABLE",
            f"destination rate {rates_id} names destination {destination!r}, which"
            " Destinations.csv does not define",
            path=where,
        )
    return [(p, {"prefix": p, **row}) for p in sorted(set(prefixes))]


def _bands(folder: Path, timings: dict[str, list[str]], used: list[str]) -> dict[str, Any]:
    """The bands of the timings a plan uses: each on its weekdays from its ``Time`` to the
    next used timing's on a day it shares (or midnight)."""
    where = folder / "Timings.csv"
    starts: dict[str, tuple[set[int], int]] = {}
    for tag in used:
        row = timings.get(tag)
        if row is None:
            raise InputError(
                "BAD_RATE_TABLE", f"timing {tag!r} is not defined in Timings.csv", path=where
            )
        _, years, months, month_days, week_days, time_text = row[:6]
        if (years, months, month_days) != ("*any", "*any", "*any"):
            raise InputError(
                "BAD_RATE_TABLE",
                f"timing {tag} names years, months or days of the month: only weekdays and"
                " a time of day are read",
                path=where,
            )
        days = {int(d) % 7 for d in week_days.split(";")} if week_days != "*any" else set(range(7))
        hours, minutes, *_ = (int(part) for part in time_text.split(":"))
        starts[tag] = (days, hours * 3600 + minutes * 60)
    bands: dict[str, Any] = {}
    for tag, (days, start) in starts.items():
        later = [s for other, (d, s) in starts.items() if other != tag and d & days and s > start]
        end = min(later, default=86_400)
        bands[tag.lower()] = {
            "days": [_WEEKDAYS[d] for d in sorted(days, key=lambda d: (d - 1) % 7)],
            "from": f"{start // 3600:02d}:{start % 3600 // 60:02d}",
            "to": "24:00" if end == 86_400 else f"{end // 3600:02d}:{end % 3600 // 60:02d}",
        }
    return bands
