"""Rate-table files (YAML, with optional CSV decks for the rows) into versions ready to store.

The format is documented, with a complete example, in ``docs/formats.md``.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import polars as pl
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from ratebook.errors import InputError
from ratebook.model.tariffs import (
    DEFAULT_PER,
    Band,
    parse_increment,
    parse_measure,
    parse_prefix,
    service_unit,
)
from ratebook.money import AMOUNT_SCALE, PRICE_SCALE, AmountError, RoundingMode, parse_fixed
from ratebook.sources.csvread import column_names
from ratebook.sources.dates import is_zone, parse_local_start
from ratebook.sources.yamlfile import load_model

_DECIMAL = re.compile(r"^\s*\d+(\.\d+)?\s*$")


def _decimal_text(value: str) -> str:
    if not _DECIMAL.match(value):
        raise ValueError(f"{value[:40]!r} is not a decimal amount such as 0.0250 (digits, a point)")
    return value


#: An exact amount as text: digits with an optional decimal point, never a float.
Decimal = Annotated[str, AfterValidator(_decimal_text)]


class TierStep(BaseModel):
    """From ``after`` units of the cycle's usage on, ``price`` applies."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    after: str
    price: Decimal


class TierSpec(BaseModel):
    """A row's tiers: ``graduated`` (each unit at the price of the tier it falls in) or
    ``volume`` (the tier the cycle reaches prices all its units)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["graduated", "volume"]
    steps: Annotated[list[TierStep], Field(min_length=1)]

    @classmethod
    def parse(cls, text: str) -> TierSpec:
        """The one-cell form of a deck: ``graduated 100min=0.05 1000min=0.03``."""
        kind, *steps = text.split()
        pairs = [step.partition("=") for step in steps]
        if any(not sep for _, sep, _ in pairs):
            raise ValueError(
                f"{text!r}: write tiers as KIND AFTER=PRICE ..., e.g. 'graduated 100min=0.05'"
            )
        return cls.model_validate(
            {"kind": kind, "steps": [{"after": a, "price": p} for a, _, p in pairs]}
        )


class RateStep(BaseModel):
    """Within one record, from ``after`` of it on, ``price`` applies, billed in whole
    ``increment``s."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    after: str
    price: Decimal
    increment: str = "1s"

    @classmethod
    def parse_all(cls, text: str) -> list[RateStep]:
        """The one-cell form of a deck: ``60s=0.0100/1s 300s=0.0050/6s`` (the increment
        after the ``/`` may be left out: 1 s)."""
        found = []
        for step in text.split():
            after, sep, rest = step.partition("=")
            price, _, increment = rest.partition("/")
            if not sep:
                raise ValueError(
                    f"{text!r}: write steps as AFTER=PRICE/INCREMENT ..., e.g. '60s=0.0100/1s'"
                )
            found.append(cls(after=after, price=price, increment=increment or "1s"))
        return found


class RowRounding(BaseModel):
    """A row's own rounding: both its places and its mode."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    places: int
    mode: RoundingMode


class RowSpec(BaseModel):
    """One rate row as written."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    service: str = "voice"
    prefix: str = "*"
    destination: str = ""
    band: str = "*"
    price: Decimal
    per: str | None = None
    connect_fee: Decimal = "0"
    increment: str | None = None
    minimum_charge: Decimal = "0"
    max_cost: Decimal | None = None
    grace: str | None = None
    included: str | None = None
    rounding: RowRounding | None = None
    steps: list[RateStep] | None = None
    tiers: TierSpec | None = None

    @field_validator("steps", mode="before")
    @classmethod
    def _steps(cls, value: object) -> object:
        return RateStep.parse_all(value) if isinstance(value, str) else value

    @field_validator("tiers", mode="before")
    @classmethod
    def _tiers(cls, value: object) -> object:
        return TierSpec.parse(value) if isinstance(value, str) else value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return parse_prefix(value)


class HolidaySpec(BaseModel):
    """Holidays: a country calendar and/or dates, priced as ``band``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    band: str
    country: str | None = None
    subdivision: str | None = None
    dates: list[date] = []


class PolicySpec(BaseModel):
    """Policy limits; ``max_quantity`` maps a service to a measure such as ``4h``."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    max_quantity: dict[str, str] = {}
    max_charge: Decimal | None = None
    max_price: Decimal | None = None


class VersionSpec(BaseModel):
    """One version of a table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    effective_from: date | datetime
    bands: dict[str, dict[str, Any]] = {}
    default_band: str = "standard"
    holidays: HolidaySpec | None = None
    policy: PolicySpec = PolicySpec()
    #: A call that crosses from one band into another is priced part by part.
    split_bands: bool = False
    deck: Path | None = None
    rows: list[RowSpec] = []


class TableSpec(BaseModel):
    """A whole rate-table file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=100)]
    description: str | None = None
    currency: str | None = None
    timezone: str | None = None
    rounding: dict[Literal["places", "mode"], Any] = {}
    versions: Annotated[list[VersionSpec], Field(min_length=1)]

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None and not is_zone(value):
            raise ValueError(f"{value!r} is not an IANA time zone")
        return value


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadedVersion:
    """A version ready to store: its start, spec JSON (bands, holidays, policy) and rows."""

    effective_from: datetime
    spec: str
    rows: pl.DataFrame


def _row(spec: RowSpec) -> dict[str, Any]:
    per = parse_measure(spec.per or DEFAULT_PER.get(spec.service, "1call"))
    if spec.increment:
        first, then = parse_increment(spec.increment, per.unit)
        if first.unit != per.unit:
            raise ValueError(
                f"increment {spec.increment!r} is in {first.unit}, the rate in {per.unit}"
            )
        initial, subsequent = first.amount, then.amount
    elif per.unit == "s":  # time: whole rate units, as 60/60 for a per-minute price
        initial = subsequent = per.amount
    else:  # anything else: the exact quantity
        initial = subsequent = 1
    price = parse_fixed(spec.price, PRICE_SCALE)
    minimum = parse_fixed(spec.minimum_charge, AMOUNT_SCALE)
    max_cost = None if spec.max_cost is None else parse_fixed(spec.max_cost, AMOUNT_SCALE)
    if max_cost is not None and max_cost < minimum:
        raise ValueError(f"max_cost {spec.max_cost} is below the minimum_charge")
    if spec.included is not None and spec.tiers is not None:
        raise ValueError("a row has an included quantity of each record or tiers, not both")
    grace, included = (
        _in_unit(name, text, per.unit)
        for name, text in (
            ("grace", spec.grace),
            ("included", spec.included),
        )
    )
    return {
        "service": spec.service.lower(),
        "prefix": spec.prefix,
        "destination_name": spec.destination,
        "band": spec.band,
        "price": price,
        "unit": per.unit,
        "rate_unit": per.amount,
        "connect_fee": parse_fixed(spec.connect_fee, AMOUNT_SCALE),
        "increment_initial": initial,
        "increment_subsequent": subsequent,
        "minimum_charge": minimum,
        "tier_kind": None if spec.tiers is None else spec.tiers.kind,
        "tiers": None if spec.tiers is None else _ladder(spec.tiers, price, per.unit),
        "max_cost": max_cost,
        "grace": grace,
        "included": included,
        "steps": _steps(spec, per.unit),
        "rounding_mode": None if spec.rounding is None else spec.rounding.mode.value,
        "rounding_places": None if spec.rounding is None else spec.rounding.places,
    }


def _steps(spec: RowSpec, unit: str) -> str | None:
    """A row's steps as stored (``pipeline.steps``), or None."""
    if not spec.steps:
        return None
    if spec.tiers is not None:
        raise ValueError("a row has steps within a record or tiers over the cycle, not both")
    stored: list[dict[str, int]] = []
    for step in spec.steps:
        after = _in_unit("step after", step.after, unit) or 0
        increment = _in_unit("step increment", step.increment, unit) or 0
        if after <= (stored[-1]["from"] if stored else 0):
            raise ValueError(f"step after {step.after!r} does not rise above the step before it")
        if increment <= 0:
            raise ValueError(f"step increment {step.increment!r} is not above zero")
        stored.append(
            {"from": after, "price": parse_fixed(step.price, PRICE_SCALE), "increment": increment}
        )
    return json.dumps(stored)


def _in_unit(name: str, text: str | None, unit: str) -> int | None:
    """A row's quantity option (``grace``, ``included``) in the row's unit, or None."""
    if text is None:
        return None
    measured = parse_measure(text, unit)
    if measured.unit != unit:
        raise ValueError(f"{name} {text!r} is in {measured.unit}, the rate in {unit}")
    return measured.amount


def _ladder(tiers: TierSpec, price: int, unit: str) -> str:
    """The tiers as stored: JSON ``[{"from": 0, "price": row price}, {"from": q1, ...}]``,
    ``from`` in the row's base unit at QUANTITY_SCALE, strictly rising."""
    ladder = [{"from": 0, "price": price}]
    for step in tiers.steps:
        after = parse_measure(step.after, unit)
        if after.unit != unit:
            raise ValueError(f"tier after {step.after!r} is in {after.unit}, the rate in {unit}")
        if after.amount <= ladder[-1]["from"]:
            raise ValueError(f"tier after {step.after!r} does not rise above the tier before it")
        ladder.append({"from": after.amount, "price": parse_fixed(step.price, PRICE_SCALE)})
    return json.dumps(ladder)


#: The columns a table's CSV deck may have: the row keys, and ``rate`` for ``price``.
_DECK_COLUMNS = (*RowSpec.model_fields, "rate")


def _deck_rows(path: Path, named: str) -> list[RowSpec]:
    """Rows from a CSV deck: columns named as the YAML row keys (``rate`` for ``price``).
    ``named``: the deck as the user named it, for the errors."""
    out: list[RowSpec] = []
    line = 1
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is not None:
                # a misspelt column is refused, not left unread: its rows would be mispriced
                reader.fieldnames = column_names(
                    named, reader.fieldnames, known=_DECK_COLUMNS, renamed={}
                )
            for record in reader:
                line = reader.line_num
                values = {k: (v or "").strip() for k, v in record.items() if k}
                if "rate" in values:
                    values["price"] = values.pop("rate")
                try:
                    out.append(RowSpec.model_validate({k: v for k, v in values.items() if v}))
                except ValidationError as exc:
                    first = exc.errors()[0]
                    raise InputError(
                        "BAD_RATE_ROW",
                        str(first["msg"]),
                        path=named,
                        line=line,
                        field=".".join(str(p) for p in first["loc"]),
                    ) from None
    except FileNotFoundError:
        raise InputError("FILE_NOT_FOUND", "no such deck", path=named) from None
    except (IsADirectoryError, PermissionError) as exc:
        raise InputError("FILE_UNREADABLE", exc.strerror or "unreadable", path=named) from None
    except UnicodeDecodeError:
        raise InputError("NOT_UTF8", "the deck is not UTF-8 text", path=named) from None
    except csv.Error as exc:
        raise InputError("CSV_SYNTAX", str(exc), path=named, line=line + 1) from None
    return out


def _deck_path(path: Path, deck: Path, decks: Mapping[str, Path] | None, where: str) -> Path:
    """Where a version's deck is read from: beside the YAML file, or, when the decks came
    with it in one upload (``decks``: uploaded file name → where it was saved), only one of
    those, by its plain name. An uploaded table never opens a path of the server's."""
    if decks is None:
        return path.parent / deck
    found = decks.get(str(deck))
    if found is None:
        raise InputError(
            "DECK_NOT_UPLOADED",
            f"deck {str(deck)[:100]!r} was not uploaded with the table: send it in the same"
            " multipart request, as a file part of that name",
            path=path,
            field=f"{where}.deck",
        )
    return found


def load_rate_table(
    path: Path, *, entity_zone: str, decks: Mapping[str, Path] | None = None
) -> tuple[TableSpec, list[LoadedVersion]]:
    """Read a rate-table YAML file (and the decks it names). ``decks``: the decks uploaded
    with it, by file name (``_deck_path``); without it, decks are read beside the file.

    Raises:
        InputError: ``BAD_YAML`` with the line, or ``BAD_RATE_TABLE`` naming the setting, e.g.
            ``versions[0].rows[2].price``; deck problems name the deck's line;
            ``DECK_NOT_UPLOADED`` for a deck an upload did not carry.

    One function: it reads one file's versions in order.
    """
    table = load_model(path, TableSpec, "BAD_RATE_TABLE")
    zone = table.timezone or entity_zone
    versions: list[LoadedVersion] = []
    for index, version in enumerate(table.versions):
        where = f"versions[{index}]"
        try:
            bands = [Band.parse(name, spec) for name, spec in version.bands.items()]
            rows = list(version.rows)
            if version.deck is not None:
                shown = version.deck if decks is not None else path.parent / version.deck
                rows += _deck_rows(_deck_path(path, version.deck, decks, where), str(shown))
            if not rows:
                raise ValueError("a version needs rows (rows: or deck:)")
            parsed = [_row(r) for r in rows]
            # counted once, not searched per row: a 100,000-row deck is checked at once
            keys = Counter((r["service"], r["prefix"], r["band"]) for r in parsed)
            for key, count in keys.items():
                if count > 1:
                    raise ValueError(
                        f"two rows for service {key[0]}, prefix {key[1]}, band {key[2]}"
                    )
            named = {b.name for b in bands} | {version.default_band}
            if version.holidays is not None:
                named.add(version.holidays.band)
            for r in parsed:
                if r["band"] != "*" and r["band"] not in named:
                    raise ValueError(f"row band {r['band']!r} is not a band of this version")
                if version.split_bands and (r["tiers"] or r["included"]):
                    raise ValueError(
                        f"row {r['prefix']} has tiers or included seconds, which a version"
                        " with split_bands cannot price part by part"
                    )
            policy = {
                "max_quantity": {
                    service: parse_measure(text, service_unit(service)).amount
                    for service, text in version.policy.max_quantity.items()
                },
                "max_charge": parse_fixed(version.policy.max_charge, AMOUNT_SCALE)
                if version.policy.max_charge
                else None,
                "max_price": parse_fixed(version.policy.max_price, PRICE_SCALE)
                if version.policy.max_price
                else None,
            }
        except (ValueError, AmountError) as exc:
            raise InputError("BAD_RATE_TABLE", str(exc), path=path, field=where) from None
        start = version.effective_from
        start_text = start.isoformat()
        spec: dict[str, Any] = {
            "timezone": zone,
            "bands": [
                {"name": b.name, "days": sorted(b.days), "start": b.start, "end": b.end}
                for b in bands
            ],
            "default_band": version.default_band,
            "holidays": None
            if version.holidays is None
            else {
                "band": version.holidays.band,
                "country": version.holidays.country,
                "subdivision": version.holidays.subdivision,
                "dates": [d.isoformat() for d in version.holidays.dates],
            },
            "policy": policy,
        }
        if version.split_bands:
            spec["split_bands"] = True  # absent otherwise: other versions' specs unchanged
        versions.append(
            LoadedVersion(
                effective_from=parse_local_start(start_text, zone),
                spec=json.dumps(spec, sort_keys=True),
                rows=pl.DataFrame(
                    parsed,
                    schema_overrides={
                        "tier_kind": pl.String,
                        "tiers": pl.String,
                        "max_cost": pl.Int64,
                        "grace": pl.Int64,
                        "included": pl.Int64,
                        "rounding_mode": pl.String,
                        "rounding_places": pl.Int64,
                        "steps": pl.String,
                    },
                ),
            )
        )
    return table, versions
