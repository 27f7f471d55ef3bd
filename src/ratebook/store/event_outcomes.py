"""What became of pushed events: their rated charge or their exception, read back by batch
line or by record id."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    CursorResult,
    Text,
    and_,
    any_,
    bindparam,
    func,
    select,
)

from ratebook.store.tables import exceptions, rated_charges, record_keys, usage_records

PENDING = ("open", "in_review")


def _among(column: ColumnElement[str], values: list[str], dialect: str) -> ColumnElement[bool]:
    """``column IN values`` as one bound value (a JSON list on SQLite, an array on
    PostgreSQL) instead of one parameter a value, which a large push would spend much of its
    time binding."""
    if dialect == "postgresql":
        return column == any_(bindparam("among", values, type_=ARRAY(Text)))
    each = func.json_each(bindparam("among", json.dumps(values))).table_valued("value")
    return column.in_(select(each.c.value))


def _named(result: CursorResult[Any]) -> Iterator[dict[str, Any]]:
    """The rows as dicts, naming the columns once: ``dict(row._mapping)`` builds the names
    again for every row, a sixth of a 10,000-event push."""
    names = list(result.keys())
    for row in result:
        yield dict(zip(names, row, strict=True))


def _charge_columns() -> list[Any]:
    r = rated_charges.c
    return [
        r.charge,
        r.billed_quantity,
        r.unit_price,
        r.band,
        r.prefix,
        r.period,
        r.tier_split,
    ]


def batch_exceptions(conn: Connection, batch_id: int) -> dict[int, dict[str, Any]]:
    """The batch's exceptions by source line: ``id``, ``code``, ``reason`` and ``field``."""
    e = exceptions.c
    return {
        row["source_line"]: row
        for row in _named(
            conn.execute(
                select(e.source_line, e.id, e.code, e.reason, e.field).where(e.batch_id == batch_id)
            )
        )
    }


def record_outcomes(
    conn: Connection, entity_id: int, origin: str, record_ids: list[str]
) -> dict[str, dict[str, Any]]:
    """Stored records by id: their current charge, or their pending exception."""
    if not record_ids:
        return {}
    u, k = usage_records.c, record_keys.c
    r = rated_charges.c
    e = exceptions.c
    rows = conn.execute(
        select(
            u.record_id,
            u.id.label("record_pk"),
            u.unit,
            *_charge_columns(),
            e.id.label("exception_id"),
            e.code,
            e.reason,
            e.field,
        )
        .select_from(
            record_keys.join(usage_records, u.id == k.record_pk)
            .outerjoin(rated_charges, and_(r.record_pk == u.id, r.superseded_by.is_(None)))
            .outerjoin(exceptions, and_(e.record_pk == u.id, e.status.in_(PENDING)))
        )
        .where(
            k.entity_id == entity_id,
            k.origin == origin,
            _among(k.record_id, record_ids, conn.dialect.name),
        )
    )
    return {row["record_id"]: row for row in _named(rows)}


def unstored_exceptions(
    conn: Connection, entity_id: int, origin: str, record_ids: list[str]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Pending exceptions of rows that never became a record (invalid ones), keyed by
    ``(record_id, raw row)``: a repeat of such a row is a duplicate of its exception."""
    if not record_ids:
        return {}
    e = exceptions.c
    rows = conn.execute(
        select(e.record_id, e.raw, e.id, e.code, e.reason, e.field)
        .where(
            e.entity_id == entity_id,
            e.origin == origin,
            _among(e.record_id, record_ids, conn.dialect.name),
            e.record_pk.is_(None),
            e.status.in_(PENDING),
        )
        .order_by(e.id)
    )
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for row in _named(rows):
        found.setdefault((row["record_id"], row["raw"]), row)
    return found
