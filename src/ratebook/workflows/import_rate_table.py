"""Import a rate table written as YAML: each version not yet stored is added, and with
``correct`` a changed version is stored as its next revision."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from sqlalchemy import Engine

from ratebook.errors import InputError
from ratebook.model.tariffs import version_label
from ratebook.money import (
    RoundingMode,
)
from ratebook.sources.csvread import inspect_file
from ratebook.sources.rate_tables import load_rate_table
from ratebook.store import audit, tariffs
from ratebook.store.entities import get_entity

REQUIRED = ("prefix", "destination", "rate")


@dataclass(frozen=True, slots=True, kw_only=True)
class TableResult:
    """What a rate-table file import did: versions added and versions already there."""

    table: str
    added: list[str]
    unchanged: list[str]
    corrected: list[str]


def _content_digest(spec: str, rows: pl.DataFrame) -> str:
    ordered = rows.sort(["service", "prefix", "band"]).write_csv()
    return hashlib.sha256((spec + "\n" + ordered).encode()).hexdigest()


def import_rate_table(
    engine: Engine,
    path: Path,
    *,
    entity_code: str | None = None,
    correct: bool = False,
    decks: Mapping[str, Path] | None = None,
) -> TableResult:
    """Import a YAML rate-table file: each version not yet stored is added.

    A version already stored with the same content is left as it is. One stored with other
    content at the same ``effective_from`` is refused (versions are never edited), unless
    ``correct``: then the file's version is stored as the next revision, which prices from
    then on; ``rerate`` applies it to usage already rated. ``decks``: the decks uploaded with
    the file (the API), the only ones it may name.

    Raises:
        InputError: a located problem in the file; nothing is imported then.

    One function: each version's checks and writes follow one another in one transaction.
    """
    now = datetime.now(UTC)
    added: list[str] = []
    unchanged: list[str] = []
    corrected: list[str] = []
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        table, versions = load_rate_table(path, entity_zone=entity.timezone, decks=decks)
        if table.currency is not None and table.currency.upper() != entity.currency:
            raise InputError(
                "BAD_CURRENCY",
                f"the table is in {table.currency}, the entity bills in {entity.currency}",
                path=path,
                field="currency",
            )
        places = int(table.rounding.get("places", entity.charge_places))
        if not 0 <= places <= entity.charge_places:
            raise InputError(
                "BAD_PLACES",
                f"places must be 0 to {entity.charge_places}",
                path=path,
                field="rounding.places",
            )
        try:
            mode = RoundingMode(str(table.rounding.get("mode", entity.rounding_mode.value)))
        except ValueError:
            modes = ", ".join(m.value for m in RoundingMode)
            raise InputError(
                "BAD_ROUNDING",
                f"rounding mode must be one of {modes}",
                path=path,
                field="rounding.mode",
            ) from None
        for version in versions:
            row_places = version.rows["rounding_places"].drop_nulls().to_list()
            if any(not 0 <= p <= entity.charge_places for p in row_places):
                raise InputError(
                    "BAD_PLACES",
                    f"a row's rounding places must be 0 to {entity.charge_places}",
                    path=path,
                    field="rows.rounding.places",
                )
        digest = inspect_file(path).sha256
        table_id = tariffs.ensure_rate_table(conn, entity.id, table.name, now=now)
        for version in versions:
            spec = json.loads(version.spec)
            spec["rounding"] = {"places": places, "mode": mode.value}
            spec["content_digest"] = _content_digest(json.dumps(spec, sort_keys=True), version.rows)
            label = version_label(version.effective_from, spec["timezone"])
            existing = tariffs.version_spec_at(conn, table_id, version.effective_from)
            revision = 1
            if existing is not None:
                if existing[0].get("content_digest") == spec["content_digest"]:
                    unchanged.append(label)
                    continue
                if not correct:
                    raise InputError(
                        "VERSION_EXISTS",
                        f"rate table {table.name!r} already has a different version from"
                        f" {label}; versions are never edited: give the new rates a later"
                        " effective_from, or import the file with --correct as a correction",
                        path=path,
                    )
                revision = existing[1] + 1
            tariffs.add_version(
                conn,
                entity_id=entity.id,
                table_id=table_id,
                effective_from=version.effective_from,
                currency=entity.currency,
                timezone=spec["timezone"],
                rounding_mode=mode.value,
                rounding_places=places,
                spec=json.dumps(spec, sort_keys=True),
                source_name=str(path),
                source_sha256=digest,
                rows=version.rows,
                revision=revision,
                now=now,
            )
            (corrected if revision > 1 else added).append(label)
        if added or corrected:
            audit.record(
                conn,
                entity_id=entity.id,
                action="rates.import",
                object_type="rate_table",
                object_id=table.name,
                after={
                    "added": added,
                    "corrected": corrected,
                    "source": str(path),
                    "sha256": digest,
                },
                at=now,
            )
    return TableResult(table=table.name, added=added, unchanged=unchanged, corrected=corrected)
