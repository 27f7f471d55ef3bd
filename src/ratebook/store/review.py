"""The exception queue's queries: find by filter, read one with its record and corrections,
change status, count, and the live row identity of every import."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import polars as pl
from sqlalchemy import Connection, Select, case, func, insert, select, update
from sqlalchemy.sql.elements import ColumnElement

from ratebook.model.codes import EXCEPTIONS
from ratebook.model.review import PENDING, STATUSES, Filter
from ratebook.store.tables import (
    corrections,
    customers,
    exceptions,
    import_batches,
    record_keys,
    usage_records,
)


def _joined() -> Any:
    x, r = exceptions.c, usage_records.c
    return (
        exceptions.join(import_batches, import_batches.c.id == x.batch_id)
        .outerjoin(usage_records, r.id == x.record_pk)
        .outerjoin(customers, customers.c.id == r.customer_id)
    )


def _where(statement: Select[Any], entity_id: int, f: Filter) -> Select[Any]:
    x, r = exceptions.c, usage_records.c
    statement = statement.where(x.entity_id == entity_id)
    if f.ids is not None:
        statement = statement.where(x.id.in_(f.ids))
    if f.code is not None:
        statement = statement.where(x.code == f.code)
    if f.status == "pending":
        statement = statement.where(x.status.in_(PENDING))
    elif f.status is not None:
        statement = statement.where(x.status == f.status)
    if f.period is not None:
        statement = statement.where(x.period == f.period)
    if f.customer is not None:
        statement = statement.where((customers.c.account == f.customer) | (r.account == f.customer))
    if f.origin is not None:
        statement = statement.where(x.origin == f.origin)
    if f.batch_id is not None:
        statement = statement.where(x.batch_id == f.batch_id)
    if f.text:
        needle = f.text.lower()
        statement = statement.where(
            func.lower(x.reason).contains(needle, autoescape=True)
            | func.lower(func.coalesce(x.raw, "")).contains(needle, autoescape=True)
            | func.lower(func.coalesce(x.record_id, "")).contains(needle, autoescape=True)
        )
    return statement


#: The columns of a listed exception.
LISTED = (
    "id",
    "code",
    "sub_code",
    "field",
    "reason",
    "status",
    "assignee",
    "origin",
    "record_id",
    "period",
    "account",
    "source_name",
    "source_line",
    "source_sha256",
    "raw",
    "resolution",
    "note",
    "resolved_by",
    "record_pk",
    "batch_id",
)

#: Their types, for a frame of them.
LISTED_SCHEMA: dict[str, pl.DataType] = {
    name: (pl.Int64() if name in ("id", "source_line", "record_pk", "batch_id") else pl.String())
    for name in LISTED
}


def find(
    conn: Connection,
    entity_id: int,
    f: Filter,
    *,
    limit: int | None = None,
    before_id: int | None = None,
    newest_first: bool = False,
) -> list[dict[str, Any]]:
    """Exceptions matching ``f``, by batch and source line; or, ``newest_first``, a page of
    the newest before ``before_id``.

    A page of the newest is read down an index by id, one status at a time (``pending``
    is open and in review; no status, every one), and the statuses' pages merged: so a page
    reads about as many rows as it shows, however long the queue, instead of sorting every
    match.
    """
    if newest_first and f.status in ("pending", None):
        pages = [
            find(
                conn,
                entity_id,
                replace(f, status=status),
                limit=limit,
                before_id=before_id,
                newest_first=True,
            )
            for status in (PENDING if f.status == "pending" else STATUSES)
        ]
        merged = sorted((row for page in pages for row in page), key=lambda r: -int(r["id"]))
        return merged if limit is None else merged[:limit]
    x = exceptions.c
    statement: Select[Any] = select(
        x.id,
        x.code,
        x.sub_code,
        x.field,
        x.reason,
        x.status,
        x.assignee,
        x.origin,
        x.record_id,
        x.period,
        func.coalesce(customers.c.account, usage_records.c.account).label("account"),
        import_batches.c.source_name,
        x.source_line,
        x.source_sha256,
        x.raw,
        x.resolution,
        x.note,
        x.resolved_by,
        x.record_pk,
        x.batch_id,
    ).select_from(_joined())
    statement = _where(statement, entity_id, f)
    if before_id is not None:
        statement = statement.where(x.id < before_id)
    if newest_first:
        statement = statement.order_by(x.id.desc())
    else:
        statement = statement.order_by(x.batch_id, x.source_line, x.id)
    if limit is not None:
        statement = statement.limit(limit)
    return [dict(row._mapping) for row in conn.execute(statement)]


def pending_by_code(conn: Connection, entity_id: int, *, cap: int | None = None) -> dict[str, int]:
    """Pending exceptions (open or in review) by code, read from the code index alone; with
    ``cap``, each code counted only up to ``cap + 1``, so that the count costs the same
    however long the queue."""
    x = exceptions.c
    if cap is not None:
        found = {}
        for code in EXCEPTIONS:
            some = (
                select(x.id)
                .where(x.entity_id == entity_id, x.code == code, x.status.in_(PENDING))
                .limit(cap + 1)
                .subquery()
            )
            n = int(conn.execute(select(func.count()).select_from(some)).scalar_one())
            if n:
                found[code] = n
        return found
    rows = conn.execute(
        select(x.code, func.count())
        .where(x.entity_id == entity_id, x.status.in_(PENDING))
        .group_by(x.code)
        .order_by(x.code)
    )
    return {str(code): int(n) for code, n in rows}


def count(conn: Connection, entity_id: int, f: Filter) -> int:
    """How many exceptions match ``f``."""
    statement = select(func.count()).select_from(_joined())
    return int(conn.execute(_where(statement, entity_id, f)).scalar_one())


def get(conn: Connection, entity_id: int, exception_id: int) -> dict[str, Any] | None:
    """One exception with every column, its batch's reading facts and its record's."""
    x = exceptions.c
    row = conn.execute(
        select(
            exceptions,
            import_batches.c.source_name,
            import_batches.c.source_kind,
            import_batches.c.format,
            import_batches.c.columns.label("batch_columns"),
            import_batches.c.feed_zone,
            import_batches.c.layout.label("batch_layout"),
            customers.c.account.label("customer_account"),
        )
        .select_from(_joined())
        .where(x.entity_id == entity_id, x.id == exception_id)
    ).first()
    return None if row is None else dict(row._mapping)


def record(conn: Connection, record_pk: int) -> dict[str, Any] | None:
    """A stored usage record, every column."""
    row = conn.execute(select(usage_records).where(usage_records.c.id == record_pk)).first()
    return None if row is None else dict(row._mapping)


def set_state(conn: Connection, exception_ids: list[int], **values: Any) -> None:
    """Change exceptions' review columns (status, assignee, resolution, note, ...)."""
    if exception_ids:
        conn.execute(update(exceptions).where(exceptions.c.id.in_(exception_ids)).values(**values))


def set_reason(
    conn: Connection,
    exception_id: int,
    *,
    code: str,
    sub_code: str | None,
    field: str | None,
    reason: str,
) -> None:
    """Give a still-failing exception the reason it fails for now."""
    conn.execute(
        update(exceptions)
        .where(exceptions.c.id == exception_id)
        .values(code=code, sub_code=sub_code, field=field, reason=reason)
    )


def set_record_status(conn: Connection, record_pks: list[int], status: str) -> None:
    """Mark stored records rated, exception or written_off."""
    if record_pks:
        conn.execute(
            update(usage_records).where(usage_records.c.id.in_(record_pks)).values(status=status)
        )


def set_record_customers(conn: Connection, matched: list[tuple[int, int]]) -> None:
    """``(record_pk, customer_id)``: the customer a re-processed record now matches."""
    for record_pk, customer_id in matched:
        conn.execute(
            update(usage_records)
            .where(usage_records.c.id == record_pk)
            .values(customer_id=customer_id)
        )


def add_correction(conn: Connection, **values: Any) -> int:
    """Store a corrected copy's facts; returns its id."""
    result = conn.execute(insert(corrections).values(**values))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def corrections_of(conn: Connection, exception_id: int) -> list[dict[str, Any]]:
    """Corrections made to an exception, oldest first."""
    c = corrections.c
    rows = conn.execute(
        select(corrections).where(c.exception_id == exception_id).order_by(c.id)
    ).all()
    return [dict(r._mapping) for r in rows]


def counts(conn: Connection, entity_id: int, period: str | None = None) -> list[dict[str, Any]]:
    """Exceptions per period, code and status."""
    x = exceptions.c
    statement = (
        select(x.period, x.code, x.status, func.count().label("n"))
        .where(x.entity_id == entity_id)
        .group_by(x.period, x.code, x.status)
        .order_by(x.period, x.code, x.status)
    )
    if period is not None:
        statement = statement.where(x.period == period)
    return [dict(r._mapping) for r in conn.execute(statement)]


#: Kinds of batch that read no rows of their own (they book or post what is stored).
NO_ROWS = ("rerate", "review", "close", "credit")


def row_identity(
    conn: Connection, entity_id: int, *, last: int | None = None
) -> list[dict[str, Any]]:
    """Per import batch that read rows (the ``last`` ones only, when given): rows read, and
    where they are now: rated records, duplicates, exceptions pending, exceptions written off
    (``read`` must equal the sum)."""
    b, r, x = import_batches.c, usage_records.c, exceptions.c
    batches: list[ColumnElement[bool]] = [b.entity_id == entity_id, b.source_kind.not_in(NO_ROWS)]
    rated_where: list[ColumnElement[bool]] = [r.entity_id == entity_id, r.status == "rated"]
    open_where: list[ColumnElement[bool]] = [x.entity_id == entity_id]
    if last is not None:
        ids = list(
            conn.execute(select(b.id).where(*batches).order_by(b.id.desc()).limit(last)).scalars()
        )
        rated_where.append(r.batch_id.in_(ids))
        open_where.append(x.batch_id.in_(ids))
        batches.append(b.id.in_(ids))
    rated = (
        select(r.batch_id, func.count().label("n"))
        .where(*rated_where)
        .group_by(r.batch_id)
        .subquery()
    )
    open_ = (
        select(
            x.batch_id,
            func.sum(case((x.status.in_(PENDING), 1), else_=0)).label("pending"),
            func.sum(case((x.status == "rejected", 1), else_=0)).label("written_off"),
        )
        .where(*open_where)
        .group_by(x.batch_id)
        .subquery()
    )
    rows = conn.execute(
        select(
            b.id.label("batch_id"),
            b.started_at,
            b.source_name,
            b.rows_read.label("read"),
            func.coalesce(rated.c.n, 0).label("rated"),
            b.duplicates,
            func.coalesce(open_.c.pending, 0).label("pending"),
            func.coalesce(open_.c.written_off, 0).label("written_off"),
        )
        .select_from(
            import_batches.outerjoin(rated, rated.c.batch_id == b.id).outerjoin(
                open_, open_.c.batch_id == b.id
            )
        )
        # rows read by imports; a re-rating, review, close or credit batch reads no rows
        .where(*batches)
        .order_by(b.id)
    )
    text = ("source_name", "started_at")
    return [{k: (v if k in text else int(v)) for k, v in r._mapping.items()} for r in rows]


def attach_record(
    conn: Connection, exception_id: int, *, record_pk: int, record_id: str, period: str
) -> None:
    """Point an exception at the record its correction is (and that record's id and period)."""
    conn.execute(
        update(exceptions)
        .where(exceptions.c.id == exception_id)
        .values(record_pk=record_pk, record_id=record_id, period=period)
    )


def add_record(conn: Connection, values: dict[str, Any]) -> int:
    """Insert one usage record (a correction's copy of a row that never became one) and its
    key; its id."""
    result = conn.execute(insert(usage_records).values(**values))
    record_pk = int(result.inserted_primary_key[0])  # type: ignore[index]
    conn.execute(
        insert(record_keys).values(
            entity_id=values["entity_id"],
            origin=values["origin"],
            record_id=values["record_id"],
            digest=values["content_sha256"],
            record_pk=record_pk,
        )
    )
    return record_pk


def overwrite_record(conn: Connection, record_pk: int, values: dict[str, Any]) -> None:
    """Change a stored record to its corrected values (the original is kept with the
    correction), and its key's digest to the corrected content's. A corrected start in
    another month moves the record to that period (and its partition)."""
    conn.execute(update(usage_records).where(usage_records.c.id == record_pk).values(**values))
    if "content_sha256" in values:
        r, k = usage_records.c, record_keys.c
        entity_id, origin, record_id = conn.execute(
            select(r.entity_id, r.origin, r.record_id).where(r.id == record_pk)
        ).one()
        conn.execute(
            update(record_keys)
            .where(k.entity_id == entity_id, k.origin == origin, k.record_id == record_id)
            .values(digest=values["content_sha256"])
        )


def other_record(
    conn: Connection, entity_id: int, origin: str, record_id: str, *, besides: int | None
) -> dict[str, Any] | None:
    """Another record of the origin with this id (not ``besides``): its key, content digest
    and where it came from."""
    r, k = usage_records.c, record_keys.c
    row = conn.execute(
        select(r.id, r.content_sha256, r.source_line, import_batches.c.source_name)
        .select_from(
            record_keys.join(usage_records, r.id == k.record_pk).join(
                import_batches, import_batches.c.id == r.batch_id
            )
        )
        .where(
            k.entity_id == entity_id,
            k.origin == origin,
            k.record_id == record_id,
            r.id != (besides if besides is not None else -1),
        )
    ).first()
    return None if row is None else dict(row._mapping)
