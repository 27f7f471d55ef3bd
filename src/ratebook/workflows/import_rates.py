"""Import a carrier-style CSV deck (``prefix,destination,rate``, optional columns) as one
effective-dated version of a named rate table; with ``correct``, a changed version is stored
as its next revision. YAML rate tables are ``import_rate_table``'s."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from sqlalchemy import Engine

from ratebook.errors import InputError
from ratebook.model.tariffs import parse_prefix
from ratebook.money import (
    AMOUNT_SCALE,
    PRICE_SCALE,
    QUANTITY_SCALE,
    AmountError,
    RoundingMode,
    parse_fixed,
)
from ratebook.sources.csvread import inspect_file, reference_rows
from ratebook.sources.dates import parse_local_start
from ratebook.sources.deck_mappings import MAPPINGS, DeckMapping
from ratebook.store import audit, tariffs
from ratebook.store.entities import get_entity

REQUIRED = ("prefix", "destination", "rate")
#: Every column a deck may have.
COLUMNS = (
    *REQUIRED,
    "connect_fee",
    "increment",
    "minimum_charge",
    "max_cost",
    "grace",
    "included",
    "service",
)


def column_map(text: str | None) -> dict[str, str]:
    """``--columns prefix=Code,rate=Cost``: a deck's own header names (lower case) by the
    column each stands for.

    Raises:
        InputError: ``BAD_COLUMN_MAP``, naming the part that is not ``COLUMN=HEADER`` or
            a column no deck has.
    """
    mapped: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        column, _, header = (piece.strip() for piece in part.partition("="))
        if not header or column.lower() not in COLUMNS:
            raise InputError(
                "BAD_COLUMN_MAP",
                f"{part.strip()!r} is not COLUMN=HEADER with COLUMN one of {', '.join(COLUMNS)}",
                path="--columns",
            )
        mapped[column.lower()] = header.lower()
    return mapped


@dataclass(frozen=True, slots=True, kw_only=True)
class Increment:
    """Billing increments in whole units: the first ``initial``, then steps of ``subsequent``."""

    initial: int
    subsequent: int

    @classmethod
    def parse(cls, text: str) -> Increment:
        """``"60/60"`` → Increment(60, 60). Raises ValueError."""
        parts = text.strip().split("/")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"{text!r} is not initial/subsequent, e.g. 60/60 or 30/6")
        initial, subsequent = (int(p) for p in parts)
        if initial < 1 or subsequent < 1:
            raise ValueError(f"{text!r}: increments must be at least 1")
        return cls(initial=initial, subsequent=subsequent)


@dataclass(frozen=True, slots=True, kw_only=True)
class RatesResult:
    """What a deck import did."""

    table: str
    version_id: int
    rows: int
    created: bool
    revision: int = 1


def _read_deck(
    path: Path,
    default_increment: Increment,
    columns: Mapping[str, str],
    layout: DeckMapping | None = None,
) -> pl.DataFrame:
    records: list[dict[str, object]] = []
    seen: dict[tuple[str, str], int] = {}
    known: tuple[str, ...] = COLUMNS
    if layout is not None:
        columns = {**layout.columns, **columns}
        known = (*COLUMNS, *layout.ignored)
    for line, read in reference_rows(
        path,
        REQUIRED,
        known=known,
        renamed=columns,
        trailing_comma=layout is not None and layout.trailing_comma,
    ):
        row = read if layout is None else layout.cells(read)

        def amount(
            field: str, scale: int, default: str, *, at: int = line, row: dict[str, str] = row
        ) -> int:
            text = (row.get(field) or "").strip() or default
            try:
                return parse_fixed(text, scale)
            except AmountError as exc:
                raise InputError(exc.code, str(exc), path=path, line=at, field=field) from None

        def given(field: str, *, row: dict[str, str] = row) -> bool:
            return bool((row.get(field) or "").strip())

        try:
            prefix = parse_prefix(row["prefix"])
        except ValueError as exc:
            raise InputError("BAD_PREFIX", str(exc), path=path, line=line, field="prefix") from None
        service = (row.get("service") or "").strip().lower() or "voice"
        if (service, prefix) in seen:
            raise InputError(
                "DUPLICATE_PREFIX",
                f"prefix {prefix} is already on line {seen[service, prefix]}",
                path=path,
                line=line,
                field="prefix",
            )
        seen[service, prefix] = line
        increment_text = (row.get("increment") or "").strip()
        try:
            increment = Increment.parse(increment_text) if increment_text else default_increment
        except ValueError as exc:
            raise InputError(
                "BAD_INCREMENT", str(exc), path=path, line=line, field="increment"
            ) from None
        minimum = amount("minimum_charge", AMOUNT_SCALE, "0")
        cap = amount("max_cost", AMOUNT_SCALE, "") if given("max_cost") else None
        if cap is not None and cap < minimum:
            raise InputError(
                "BAD_RATE_ROW",
                "max_cost is below the minimum_charge",
                path=path,
                line=line,
                field="max_cost",
            )
        records.append(
            {
                "service": service,
                "prefix": prefix,
                "destination_name": row["destination"].strip(),
                "band": "*",
                "price": amount("rate", PRICE_SCALE, ""),
                "rate_unit": 60 * 10**QUANTITY_SCALE,
                "connect_fee": amount("connect_fee", AMOUNT_SCALE, "0"),
                "increment_initial": increment.initial * 10**QUANTITY_SCALE,
                "increment_subsequent": increment.subsequent * 10**QUANTITY_SCALE,
                "minimum_charge": minimum,
                "max_cost": cap,
                # in seconds, as a deck's increments are
                "grace": amount("grace", QUANTITY_SCALE, "") if given("grace") else None,
                "included": amount("included", QUANTITY_SCALE, "") if given("included") else None,
            }
        )
    if not records:
        raise InputError("EMPTY_FILE", "the deck has no rate rows", path=path, line=1)
    return pl.DataFrame(
        records,
        schema_overrides={"max_cost": pl.Int64, "grace": pl.Int64, "included": pl.Int64},
    )


def import_rates(
    engine: Engine,
    path: Path,
    *,
    name: str,
    effective_from: str,
    entity_code: str | None = None,
    increment: str = "60/60",
    places: int | None = None,
    rounding: str | None = None,
    correct: bool = False,
    columns: Mapping[str, str] | None = None,
    mapping: str | None = None,
) -> RatesResult:
    """Import ``path`` as the version of table ``name`` in force from ``effective_from``.

    Args:
        effective_from: a date (midnight in the entity's zone) or an ISO instant.
        increment: default ``initial/subsequent`` seconds for rows without their own.
        places: decimal places each record's charge is rounded to (entity's by default).
        rounding: rounding mode name (entity's by default).
        correct: a different deck at the same ``effective_from`` is a correction: it is
            stored as the version's next revision, which prices from then on (see ``rerate``).
        columns: the deck's own header names by the column each stands for (``column_map``).
        mapping: a shipped layout of another engine's decks (``sources.deck_mappings``),
            ``columns`` naming any header it does not.

    Raises:
        InputError: a located problem in the deck or an option; nothing is imported.

    One function: reading, checking and storing a version are one transaction's steps in order.
    """
    now = datetime.now(UTC)
    layout = None
    if mapping is not None:
        layout = MAPPINGS.get(mapping.lower())
        if layout is None:
            raise InputError(
                "UNKNOWN_FORMAT",
                f"no deck mapping {mapping!r} (mappings: {', '.join(sorted(MAPPINGS))})",
                path="--mapping",
            )
    try:
        default_increment = Increment.parse(increment)
    except ValueError as exc:
        raise InputError("BAD_INCREMENT", str(exc), path="--increment") from None
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        try:
            start = parse_local_start(effective_from, entity.timezone)
        except ValueError:
            raise InputError(
                "BAD_DATE",
                f"{effective_from!r} is not a date (YYYY-MM-DD)",
                path="--effective-from",
            ) from None
        places = entity.charge_places if places is None else places
        if not 0 <= places <= entity.charge_places:
            raise InputError(
                "BAD_PLACES",
                f"places must be 0 to {entity.charge_places} (the entity's charge places)",
                path="--places",
            )
        try:
            mode = RoundingMode(rounding) if rounding else entity.rounding_mode
        except ValueError:
            modes = ", ".join(m.value for m in RoundingMode)
            raise InputError(
                "BAD_ROUNDING", f"rounding must be one of {modes}", path="--rounding"
            ) from None
        rows = _read_deck(path, default_increment, columns or {}, layout)
        digest = inspect_file(path).sha256
        table_id = tariffs.ensure_rate_table(conn, entity.id, name, now=now)
        existing = tariffs.version_at(conn, table_id, start)
        revision = 1
        if existing is not None:
            if existing[1] == digest:
                return RatesResult(
                    table=name, version_id=existing[0], rows=rows.height, created=False
                )
            if not correct:
                raise InputError(
                    "VERSION_EXISTS",
                    f"rate table {name!r} already has a different version from"
                    f" {effective_from}; versions are never edited: give the new rates a later"
                    " --effective-from, or import them with --correct as a correction",
                    path=path,
                )
            revision = existing[2] + 1
        version_id = tariffs.add_version(
            conn,
            entity_id=entity.id,
            table_id=table_id,
            effective_from=start,
            currency=entity.currency,
            timezone=entity.timezone,
            rounding_mode=mode.value,
            rounding_places=places,
            spec=json.dumps({"bands": [], "holidays": [], "policy": {}}),
            source_name=str(path),
            source_sha256=digest,
            rows=rows,
            revision=revision,
            now=now,
        )
        audit.record(
            conn,
            entity_id=entity.id,
            action="rates.import",
            object_type="rate_table",
            object_id=name,
            after={
                "version_id": version_id,
                "effective_from": effective_from,
                "revision": revision,
                "rows": rows.height,
                "source": str(path),
                "sha256": digest,
            },
            at=now,
        )
    return RatesResult(
        table=name, version_id=version_id, rows=rows.height, created=True, revision=revision
    )
