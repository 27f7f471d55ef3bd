"""Rate-table definitions: rate units and increments with exact unit conversion, time bands,
holiday calendars and policy limits. Pure: parsing and classification, no I/O."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from ratebook.money import QUANTITY_SCALE, parse_fixed

#: Written unit → (base unit, how many base units it is, as an exact decimal string).
#: Data units are decimal (1 MB = 1,000,000 B), as carriers bill them; KiB/MiB/GiB are binary.
UNIT_ALIASES: dict[str, tuple[str, str]] = {
    "s": ("s", "1"),
    "sec": ("s", "1"),
    "min": ("s", "60"),
    "h": ("s", "3600"),
    "msg": ("msg", "1"),
    "sms": ("msg", "1"),
    "B": ("B", "1"),
    "KB": ("B", "1000"),
    "MB": ("B", "1000000"),
    "GB": ("B", "1000000000"),
    "KiB": ("B", "1024"),
    "MiB": ("B", "1048576"),
    "GiB": ("B", "1073741824"),
    "Wh": ("kWh", "0.001"),
    "kWh": ("kWh", "1"),
    "MWh": ("kWh", "1000"),
    "L": ("m3", "0.001"),
    "m3": ("m3", "1"),
    "call": ("call", "1"),
    "req": ("req", "1"),
}

_AMOUNT_UNIT = re.compile(r"^\s*(\d+(?:\.\d+)?)?\s*([A-Za-z][A-Za-z0-9]*)?\s*$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True, kw_only=True)
class Measure:
    """A quantity of a base unit, exactly.

    Attributes:
        unit: the base unit (``s``, ``msg``, ``B``, ``kWh``, ``m3``, ``call``, ``req``).
        amount: the quantity at QUANTITY_SCALE (60 s is ``60_000``).
    """

    unit: str
    amount: int


# a deck's rows repeat a handful of units and increments: each text is parsed once
@functools.lru_cache(maxsize=1024)
def parse_measure(text: str, default_unit: str | None = None) -> Measure:
    """``"60s"``, ``"1 GB"``, ``"min"`` (one minute), ``"30"`` (with ``default_unit``) to a
    :class:`Measure`.

    Raises:
        ValueError: unknown unit, a missing unit without a default, a zero or inexact amount.
    """
    match = _AMOUNT_UNIT.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not an amount and unit such as 60s or 1GB")
    number, unit = match.group(1) or "1", match.group(2) or default_unit
    if unit is None:
        raise ValueError(f"{text!r} has no unit (such as s, msg, MB, kWh)")
    if unit not in UNIT_ALIASES:
        known = ", ".join(UNIT_ALIASES)
        raise ValueError(f"unknown unit {unit!r} in {text!r} (known: {known})")
    base, factor = UNIT_ALIASES[unit]
    scaled = parse_fixed(number, QUANTITY_SCALE) * parse_fixed(factor, QUANTITY_SCALE)
    amount, rest = divmod(scaled, 10**QUANTITY_SCALE)
    if rest or amount <= 0:
        raise ValueError(f"{text!r} is zero or finer than 0.001 {base}")
    return Measure(unit=base, amount=amount)


#: The rate unit of each service when a rate row does not say (any other service: ``1call``).
DEFAULT_PER = {
    "voice": "60s",
    "sms": "1msg",
    "data": "1MB",
    "kwh": "1kWh",
    "water": "1m3",
    "api": "1req",
    "calls": "1call",
}
#: The base unit each service is measured in: what an event without a unit counts in.
SERVICE_UNITS: dict[str, str] = {
    service: parse_measure(per).unit for service, per in DEFAULT_PER.items()
}
#: The base unit of any service not in ``SERVICE_UNITS``.
OTHER_SERVICE_UNIT = "call"


def version_label(instant: datetime, zone: str) -> str:
    """A version's effective-from instant as its table writes it: the local date in the
    table's zone (with the time, where it is not midnight)."""
    local = instant.astimezone(ZoneInfo(zone))
    return f"{local:%Y-%m-%d}" if local.time() == time(0) else f"{local:%Y-%m-%d %H:%M:%S}"


def service_unit(service: str) -> str:
    """The base unit a service is measured in (``s`` for voice, ``B`` for data, ...)."""
    return SERVICE_UNITS.get(service, OTHER_SERVICE_UNIT)


@functools.lru_cache(maxsize=1024)
def parse_increment(text: str, default_unit: str) -> tuple[Measure, Measure]:
    """``"30/6"`` (in ``default_unit``) or ``"1MB/100KB"`` to (initial, subsequent).

    Raises:
        ValueError: not two measures of the same base unit.
    """
    parts = text.split("/")
    if len(parts) != 2:
        raise ValueError(f"{text!r} is not initial/subsequent, e.g. 60/60 or 30/6")
    first, then = (parse_measure(p, default_unit) for p in parts)
    if first.unit != then.unit:
        raise ValueError(f"{text!r} mixes {first.unit} and {then.unit}")
    return first, then


def _clock(text: str) -> int:
    """``"08:00"`` or ``"24:00"`` to seconds since midnight."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a time of day such as 08:00")
    hours, minutes, seconds = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
    total = hours * 3600 + minutes * 60 + seconds
    if minutes > 59 or seconds > 59 or total > 24 * 3600:
        raise ValueError(f"{text!r} is not a time of day")
    return total


@dataclass(frozen=True, slots=True, kw_only=True)
class Band:
    """A named band: some weekdays, from a local time (inclusive) to another (exclusive).

    A range whose end is before its start crosses midnight (``22:00`` to ``06:00``); the
    weekday is the one on which the range starts.

    Attributes:
        days: ISO weekdays, 1 (Monday) to 7 (Sunday).
        start, end: seconds since local midnight; ``0`` to ``86400`` is the whole day.
    """

    name: str
    days: frozenset[int]
    start: int = 0
    end: int = 24 * 3600

    @classmethod
    def parse(cls, name: str, spec: dict[str, object]) -> Band:
        """From ``{days: [mon, ...], from: "08:00", to: "18:00"}`` (all keys optional)."""
        unknown = set(spec) - {"days", "from", "to"}
        if unknown:
            raise ValueError(f"band {name!r}: unknown keys {sorted(unknown)}")
        raw_days = spec.get("days", list(WEEKDAYS))
        if not isinstance(raw_days, list) or not raw_days:
            raise ValueError(f"band {name!r}: days must be a list such as [mon, tue]")
        days: set[int] = set()
        for day in raw_days:
            key = str(day).strip().lower()[:3]
            if key not in WEEKDAYS:
                raise ValueError(f"band {name!r}: {day!r} is not a weekday")
            days.add(WEEKDAYS.index(key) + 1)
        start = _clock(str(spec.get("from", "00:00")))
        end = _clock(str(spec.get("to", "24:00")))
        if start == end:
            raise ValueError(f"band {name!r}: from and to are the same time")
        return cls(name=name, days=frozenset(days), start=start, end=end)

    def expr(self, weekday: pl.Expr, seconds: pl.Expr) -> pl.Expr:
        """Whether a local (weekday, seconds since midnight) falls in the band."""
        days = sorted(self.days)
        if self.start < self.end:
            return weekday.is_in(days) & (seconds >= self.start) & (seconds < self.end)
        before_midnight = weekday.is_in(days) & (seconds >= self.start)
        previous = sorted({d % 7 + 1 for d in self.days})  # the day after each start day
        after_midnight = weekday.is_in(previous) & (seconds < self.end)
        return before_midnight | after_midnight


@dataclass(frozen=True, slots=True, kw_only=True)
class Calendar:
    """Public holidays, priced as ``band``.

    Attributes:
        country, subdivision: a calendar of the ``holidays`` library (e.g. ``MY``, ``14``).
        dates: explicit extra dates.
        band: the band holidays are priced as.
    """

    band: str
    country: str | None = None
    subdivision: str | None = None
    dates: frozenset[date] = field(default_factory=frozenset)

    def days(self, years: range) -> list[date]:
        """Every holiday date in ``years``."""
        out = set(self.dates)
        if self.country:
            out.update(_national_holidays(self.country, self.subdivision, years))
        return sorted(out)


@functools.lru_cache(maxsize=64)
def _national_holidays(country: str, subdivision: str | None, years: range) -> frozenset[date]:
    """A ``holidays`` calendar's dates: built once per calendar and years (building one is
    slow), not once per chunk."""
    import holidays

    calendar = holidays.country_holidays(country, subdiv=subdivision, years=list(years))
    return frozenset(calendar.keys())


_EPOCH = date(1970, 1, 1)
_DAY = 86_400


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeBands:
    """How a version classifies a start time: holidays first, then bands in order, then the
    default band. Decided by the local wall-clock time of the start instant in ``timezone``."""

    timezone: str
    bands: tuple[Band, ...] = ()
    default: str = "standard"
    calendar: Calendar | None = None

    def classify(self, start_utc: pl.Expr, years: range) -> pl.Expr:
        """The band name of each UTC start time.

        The local wall-clock time is taken once, as whole seconds since 1970-01-01 local,
        and split with integer arithmetic into the day (for the weekday and holidays) and the
        seconds since midnight, where the date-part accessors would each decode every instant
        again."""
        local = (
            start_utc.dt.convert_time_zone(self.timezone).dt.replace_time_zone(None).dt.epoch("s")
        )
        day = local.floordiv(_DAY)  # floor: the day of an instant before 1970 too
        seconds = local - day * _DAY
        # 1970-01-01 was a Thursday (ISO 4); the sum stays positive for any day since year 1
        weekday = (day + 3 + 7 * 10**6) % 7 + 1
        result: pl.Expr = pl.lit(self.default)
        for band in reversed(self.bands):
            result = pl.when(band.expr(weekday, seconds)).then(pl.lit(band.name)).otherwise(result)
        if self.calendar is not None:
            holidays = [(d - _EPOCH).days for d in self.calendar.days(years)]
            result = pl.when(day.is_in(holidays)).then(pl.lit(self.calendar.band)).otherwise(result)
        return result


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """Limits a record must keep to be charged; beyond them it is ``OUT_OF_POLICY``.

    Attributes:
        max_quantity: per base unit, at QUANTITY_SCALE (e.g. ``{"s": 14_400_000}``: 4 hours).
        max_charge: largest charge of one record, AMOUNT_SCALE.
        max_price: largest price per rate unit, PRICE_SCALE.
    """

    max_quantity: dict[str, int] = field(default_factory=dict)
    max_charge: int | None = None
    max_price: int | None = None


def calendar_of(spec: dict[str, Any]) -> Calendar | None:
    """The holiday calendar in a stored version spec, or None."""
    holidays = spec.get("holidays")
    if not holidays:
        return None
    return Calendar(
        band=holidays["band"],
        country=holidays.get("country"),
        subdivision=holidays.get("subdivision"),
        dates=frozenset(date.fromisoformat(d) for d in holidays.get("dates", [])),
    )


def time_bands(spec: dict[str, Any], zone: str) -> TimeBands:
    """The :class:`TimeBands` of a stored version spec (no bands: everything is ``standard``)."""
    return TimeBands(
        timezone=spec.get("timezone", zone),
        bands=tuple(
            Band(name=b["name"], days=frozenset(b["days"]), start=b["start"], end=b["end"])
            for b in spec.get("bands", [])
        ),
        default=spec.get("default_band", "standard"),
        calendar=calendar_of(spec),
    )


#: Rate-table versions as the rater needs them.
VERSION_SCHEMA: dict[str, pl.DataType] = {
    "version_id": pl.Int64(),
    "rate_table_id": pl.Int64(),
    "effective_from": pl.Datetime("us", "UTC"),
    "rounding_mode": pl.String(),
    "rounding_places": pl.Int64(),
    "timezone": pl.String(),
    "spec": pl.String(),  # JSON: bands, default_band, holidays, policy
}


#: Rate rows as the rater needs them; money columns in fixed minor units.
ROW_SCHEMA: dict[str, pl.DataType] = {
    "rate_row_id": pl.Int64(),
    "version_id": pl.Int64(),
    "service": pl.String(),
    "prefix": pl.String(),
    "destination_name": pl.String(),
    "band": pl.String(),
    "price": pl.Int64(),
    "unit": pl.String(),
    "rate_unit": pl.Int64(),
    "connect_fee": pl.Int64(),
    "increment_initial": pl.Int64(),
    "increment_subsequent": pl.Int64(),
    "minimum_charge": pl.Int64(),
    "tier_kind": pl.String(),  # graduated | volume | null
    "tiers": pl.String(),  # JSON ladder, see ``pipeline.tiers``
    "max_cost": pl.Int64(),  # a record's most cost before its discount, or null
    "grace": pl.Int64(),  # a record shorter than this is free, or null
    "included": pl.Int64(),  # the quantity of each record not billed, or null
    "row_rounding_mode": pl.String(),  # the row's own rounding, or null for its version's
    "row_rounding_places": pl.Int64(),
    "steps": pl.String(),  # JSON steps within a record, see ``pipeline.steps``
}


#: How a rate row names a short code or extension: ``short:999`` (that destination
#: exactly) or ``short:15*`` (every destination starting with it).
SHORT_PREFIX = "short:"
#: A destination kept as written that a ``short:`` row can match: digits, ``*`` and ``#``.
SHORT_DESTINATION = r"^[0-9*#]{1,15}$"


def parse_prefix(text: str) -> str:
    """A rate row's prefix as stored: digits of an E.164 number (``60``; a leading ``+`` is
    dropped), ``*`` for any destination, or a short code: ``short:999`` stored as
    ``short:999$`` (exactly ``999``), ``short:15*`` as ``short:15`` (starting with ``15``).
    Destinations are matched against :func:`destination_key` by longest prefix, so the
    ``$`` makes a short code exact.

    Raises:
        ValueError: anything else.
    """
    value = text.strip()
    if value.lower().startswith(SHORT_PREFIX):
        body = value[len(SHORT_PREFIX) :].strip()
        exact = not (len(body) > 1 and body.endswith("*"))
        body = body if exact else body[:-1]
        if not re.fullmatch(SHORT_DESTINATION, body):
            raise ValueError(
                f"{text!r} is not a short code: 'short:' and up to 15 digits, '*' or '#',"
                " ending in '*' to match every number starting with them"
            )
        return SHORT_PREFIX + body + ("$" if exact else "")
    value = value.lstrip("+")
    if value != "*" and not re.fullmatch(r"\d{1,15}", value):
        raise ValueError(f"{text!r} is not digits, '*' or a short code ('short:999')")
    return value


def prefix_text(stored: str) -> str:
    """A stored prefix as a rate row writes it (:func:`parse_prefix`'s inverse)."""
    if stored.startswith(SHORT_PREFIX):
        return stored[:-1] if stored.endswith("$") else stored + "*"
    return stored


def destination_key(destination: str | None) -> str | None:
    """What a destination is matched against rate prefixes as: an E.164 number's digits
    (``+60312345678`` → ``60312345678``); a short code or extension kept as written
    (``999``, ``1001``, ``*97``) → ``short:999$``; else None (only ``*`` rows match)."""
    if destination is None:
        return None
    if destination.startswith("+"):
        return destination[1:]
    if re.fullmatch(SHORT_DESTINATION, destination):
        return SHORT_PREFIX + destination + "$"
    return None


def destination_key_expr(destination: pl.Expr) -> pl.Expr:
    """:func:`destination_key` over a column."""
    return (
        pl.when(destination.str.starts_with("+"))
        .then(destination.str.slice(1))
        .when(destination.str.contains(SHORT_DESTINATION))
        .then(pl.lit(SHORT_PREFIX) + destination + pl.lit("$"))
        .otherwise(pl.lit(None, pl.String))
    )
