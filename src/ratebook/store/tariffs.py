"""Rate tables, their effective-dated versions and rate rows."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Connection, Select, func, insert, select

from ratebook.model.tariffs import ROW_SCHEMA, VERSION_SCHEMA
from ratebook.store.bulk import insert_frame
from ratebook.store.frames import columns_frame, query_frame
from ratebook.store.reference_lock import lock_reference
from ratebook.store.tables import rate_rows, rate_table_versions, rate_tables


def rate_table_id(conn: Connection, entity_id: int, name: str) -> int | None:
    """The id of the rate table called ``name``, or None."""
    row = conn.execute(
        select(rate_tables.c.id).where(
            rate_tables.c.entity_id == entity_id, rate_tables.c.name == name
        )
    ).first()
    return None if row is None else int(row.id)


def ensure_rate_table(conn: Connection, entity_id: int, name: str, *, now: datetime) -> int:
    """The id of the rate table called ``name``, created if need be."""
    found = rate_table_id(conn, entity_id, name)
    if found is not None:
        return found
    result = conn.execute(
        insert(rate_tables).values(entity_id=entity_id, name=name, created_at=now)
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def version_at(
    conn: Connection, table_id: int, effective_from: datetime
) -> tuple[int, str | None, int] | None:
    """``(version_id, source_sha256, revision)`` of the newest revision of the version
    starting exactly at ``effective_from``, or None."""
    c = rate_table_versions.c
    row = conn.execute(
        select(c.id, c.source_sha256, c.revision)
        .where(c.rate_table_id == table_id, c.effective_from == effective_from)
        .order_by(c.revision.desc())
        .limit(1)
    ).first()
    return None if row is None else (int(row.id), row.source_sha256, int(row.revision))


def version_spec_at(
    conn: Connection, table_id: int, effective_from: datetime
) -> tuple[dict[str, Any], int] | None:
    """The stored spec and revision of the newest revision starting at ``effective_from``."""
    c = rate_table_versions.c
    row = conn.execute(
        select(c.spec, c.revision)
        .where(c.rate_table_id == table_id, c.effective_from == effective_from)
        .order_by(c.revision.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    loaded: dict[str, Any] = json.loads(row.spec)
    return loaded, int(row.revision)


def add_version(
    conn: Connection,
    *,
    entity_id: int,
    table_id: int,
    effective_from: datetime,
    currency: str,
    timezone: str,
    rounding_mode: str,
    rounding_places: int,
    spec: str,
    source_name: str,
    source_sha256: str,
    rows: pl.DataFrame,
    revision: int = 1,
    now: datetime,
) -> int:
    """Insert a version with its rows (``ROW_SCHEMA`` less the ids). Returns the version id."""
    lock_reference(conn, entity_id)
    result = conn.execute(
        insert(rate_table_versions).values(
            entity_id=entity_id,
            rate_table_id=table_id,
            effective_from=effective_from,
            currency=currency,
            timezone=timezone,
            rounding_mode=rounding_mode,
            rounding_places=rounding_places,
            rounding_point="record",
            spec=spec,
            source_name=source_name,
            source_sha256=source_sha256,
            revision=revision,
            created_at=now,
        )
    )
    version_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    insert_frame(
        conn,
        rate_rows,
        rows.with_columns(
            pl.lit(entity_id).alias("entity_id"), pl.lit(version_id).alias("version_id")
        ),
    )
    return version_id


def load_versions(conn: Connection, entity_id: int) -> pl.DataFrame:
    """Every version of every rate table of the entity, in its newest revision."""
    c = rate_table_versions.c
    statement = select(
        c.id,
        c.rate_table_id,
        c.effective_from,
        c.rounding_mode,
        c.rounding_places,
        c.timezone,
        c.spec,
        c.revision,
    ).where(c.entity_id == entity_id)
    every = query_frame(conn, statement, {**VERSION_SCHEMA, "revision": pl.Int64()})
    return (
        every.sort("revision", descending=True)
        .unique(["rate_table_id", "effective_from"], keep="first")
        .sort("version_id")
        .select(list(VERSION_SCHEMA))
    )


def load_rows(conn: Connection, entity_id: int) -> pl.DataFrame:
    """Every rate row of the entity."""
    return columns_frame(conn, rows_statement(entity_id), ROW_SCHEMA)


def rows_statement(entity_id: int) -> Select[Any]:
    """``load_rows``'s statement: every rate row of the entity, as ``ROW_SCHEMA``."""
    c = rate_rows.c
    return select(
        c.id,
        c.version_id,
        c.service,
        c.prefix,
        c.destination_name,
        c.band,
        c.price,
        c.unit,
        c.rate_unit,
        c.connect_fee,
        c.increment_initial,
        c.increment_subsequent,
        c.minimum_charge,
        c.tier_kind,
        c.tiers,
        c.max_cost,
        c.grace,
        c.included,
        c.rounding_mode.label("row_rounding_mode"),
        c.rounding_places.label("row_rounding_places"),
        c.steps,
    ).where(c.entity_id == entity_id)


def table_list(conn: Connection, entity_id: int) -> list[dict[str, Any]]:
    """The entity's rate tables (id, name, description), by name."""
    t = rate_tables.c
    rows = conn.execute(
        select(t.id, t.name, t.description).where(t.entity_id == entity_id).order_by(t.name)
    )
    return [dict(row._mapping) for row in rows]


def versions(conn: Connection, entity_id: int, table_id: int | None = None) -> list[dict[str, Any]]:
    """The versions of the entity's rate tables (of one, with ``table_id``), every revision,
    with how many rows each has."""
    v, r = rate_table_versions.c, rate_rows.c
    rows_per_version = (
        select(r.version_id, func.count().label("rows")).group_by(r.version_id).subquery()
    )
    statement = (
        select(
            v.id,
            v.rate_table_id,
            v.effective_from,
            v.revision,
            v.currency,
            v.timezone,
            v.rounding_mode,
            v.rounding_places,
            v.rounding_point,
            v.source_name,
            func.coalesce(rows_per_version.c.rows, 0).label("rows"),
        )
        .outerjoin(rows_per_version, rows_per_version.c.version_id == v.id)
        .where(v.entity_id == entity_id)
        .order_by(v.rate_table_id, v.effective_from, v.revision)
    )
    if table_id is not None:
        statement = statement.where(v.rate_table_id == table_id)
    return [dict(row._mapping) for row in conn.execute(statement)]


def rows_of(conn: Connection, version_ids: list[int]) -> list[Any]:
    """The rows of these versions, by version, service, prefix and band."""
    r = rate_rows.c
    return list(
        conn.execute(
            select(rate_rows)
            .where(r.version_id.in_(version_ids))
            .order_by(r.version_id, r.service, r.prefix, r.band)
        ).all()
    )
