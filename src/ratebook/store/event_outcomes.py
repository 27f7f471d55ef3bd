"""What became of pushed events: their rated charge or their exception, read back by batch
line or by record id."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    CursorResult,
    Select,
    Text,
    and_,
    any_,
    bindparam,
    func,
    select,
)

from ratebook.store.tables import exceptions, rated_charges, record_keys, usage_records

PENDING = ("open", "in_review")


def _among(column: ColumnElement[str], postgres: bool) -> ColumnElement[bool]:
    """``column IN :among`` as one bound value (``_among_value``: a JSON list on SQLite, an
    array on PostgreSQL) instead of one parameter a value, which a large push would spend
    much of its time binding."""
    if postgres:
        return column == any_(bindparam("among", type_=ARRAY(Text)))
    each = func.json_each(bindparam("among")).table_valued("value")
    return column.in_(select(each.c.value))


def _among_value(values: list[str], postgres: bool) -> object:
    """The value of ``_among``'s parameter."""
    return values if postgres else json.dumps(values)


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


_BATCH_EXCEPTIONS = select(
    exceptions.c.source_line,
    exceptions.c.id,
    exceptions.c.code,
    exceptions.c.reason,
    exceptions.c.field,
).where(exceptions.c.batch_id == bindparam("batch"))


def batch_exceptions(conn: Connection, batch_id: int) -> dict[int, dict[str, Any]]:
    """The batch's exceptions by source line: ``id``, ``code``, ``reason`` and ``field``."""
    return {
        row["source_line"]: row
        for row in _named(conn.execute(_BATCH_EXCEPTIONS, {"batch": batch_id}))
    }


@functools.cache
def _outcomes_statement(postgres: bool) -> Select[Any]:
    """``record_outcomes``'s statement, built once."""
    u, k = usage_records.c, record_keys.c
    r = rated_charges.c
    e = exceptions.c
    return (
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
            k.entity_id == bindparam("entity"),
            k.origin == bindparam("origin"),
            _among(k.record_id, postgres),
        )
    )


def record_outcomes(
    conn: Connection, entity_id: int, origin: str, record_ids: list[str]
) -> dict[str, dict[str, Any]]:
    """Stored records by id: their current charge, or their pending exception."""
    if not record_ids:
        return {}
    postgres = conn.dialect.name == "postgresql"
    rows = conn.execute(
        _outcomes_statement(postgres),
        {"entity": entity_id, "origin": origin, "among": _among_value(record_ids, postgres)},
    )
    return {row["record_id"]: row for row in _named(rows)}


@functools.cache
def _unstored_statement(postgres: bool) -> Select[Any]:
    """``unstored_exceptions``'s statement, built once."""
    e = exceptions.c
    return (
        select(e.record_id, e.raw, e.id, e.code, e.reason, e.field)
        .where(
            e.entity_id == bindparam("entity"),
            e.origin == bindparam("origin"),
            _among(e.record_id, postgres),
            e.record_pk.is_(None),
            e.status.in_(PENDING),
        )
        .order_by(e.id)
    )


def unstored_exceptions(
    conn: Connection, entity_id: int, origin: str, record_ids: list[str]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Pending exceptions of rows that never became a record (invalid ones), keyed by
    ``(record_id, raw row)``: a repeat of such a row is a duplicate of its exception."""
    if not record_ids:
        return {}
    postgres = conn.dialect.name == "postgresql"
    rows = conn.execute(
        _unstored_statement(postgres),
        {"entity": entity_id, "origin": origin, "among": _among_value(record_ids, postgres)},
    )
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for row in _named(rows):
        found.setdefault((row["record_id"], row["raw"]), row)
    return found
