"""Reading back every sealed row, a page at a time in the order it was written, for
``audit verify --deep`` (memory stays bounded by a page whatever the store holds)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import polars as pl
from sqlalchemy import Connection, Select, select

from ratebook.store.frames import query_frame
from ratebook.store.seals import schema_of
from ratebook.store.tables import (
    corrections,
    invoice_lines,
    invoices,
    ledger_postings,
    rated_charges,
    subscription_charges,
    usage_records,
)

#: Rows read at a time.
PAGE = 50_000

_ID, _TEXT, _INSTANT = pl.Int64(), pl.String(), pl.Datetime("us", "UTC")

#: What a record's content digest is worked out from (``pipeline.normalise.content_digests``).
CONTENT: dict[str, pl.DataType] = {
    "start_time": _INSTANT,
    "quantity": _ID,
    **dict.fromkeys(
        ("unit", "service", "account", "caller", "destination", "disposition", "direction"),
        _TEXT,
    ),
    "attributes": _TEXT,
}


def _pages(
    conn: Connection, statement: Select[Any], key: Any, schema: dict[str, pl.DataType]
) -> Iterator[pl.DataFrame]:
    """``statement``'s rows in ``key`` order, ``PAGE`` at a time (keyset: ``key`` unique)."""
    after: int | None = None
    name = next(iter(schema))  # the key comes first
    while True:
        page = statement.order_by(key).limit(PAGE)
        if after is not None:
            page = page.where(key > after)
        frame = query_frame(conn, page, schema)
        if frame.is_empty():
            return
        yield frame
        after = int(frame[name][-1])


def records(conn: Connection) -> Iterator[pl.DataFrame]:
    """Every usage record: id, entity, its sealed columns, its content and when a retention
    purge removed its raw content (null if none did)."""
    r = usage_records.c
    schema = {"id": _ID, "entity_id": _ID, **schema_of("records"), **CONTENT, "purged_at": _INSTANT}
    return _pages(conn, select(*[r[name] for name in schema]), r.id, schema)


def charges(conn: Connection) -> Iterator[pl.DataFrame]:
    """Every rated charge: id, entity and its sealed columns."""
    c = rated_charges.c
    schema = {"id": _ID, "entity_id": _ID, **schema_of("charges")}
    return _pages(conn, select(*[c[name] for name in schema]), c.id, schema)


def postings(conn: Connection) -> Iterator[pl.DataFrame]:
    """Every ledger posting: id, entity and its sealed columns."""
    p = ledger_postings.c
    schema = {"id": _ID, "entity_id": _ID, **schema_of("postings")}
    return _pages(conn, select(*[p[name] for name in schema]), p.id, schema)


def supersedes(conn: Connection) -> Iterator[pl.DataFrame]:
    """Every superseded charge, as (charge, the charge superseding it, that one's batch), in
    the order the superseding charges were written."""
    old, new = rated_charges, rated_charges.alias("new")
    schema: dict[str, pl.DataType] = {"superseded_by": _ID, "charge_id": _ID, "batch_id": _ID}
    statement = select(old.c.superseded_by, old.c.id, new.c.batch_id).join(
        new, new.c.id == old.c.superseded_by
    )
    return _pages(conn, statement, old.c.superseded_by, schema)


def links(conn: Connection) -> Iterator[pl.DataFrame]:
    """Every invoiced charge, as (charge, invoice line, the invoice's entity and period)."""
    c, line, i = rated_charges.c, invoice_lines.c, invoices.c
    schema = {"charge_id": _ID, "invoice_line_id": _ID, "entity_id": _ID, "period": _TEXT}
    statement = (
        select(c.id, c.invoice_line_id, i.entity_id, i.period)
        .join(invoice_lines, line.id == c.invoice_line_id)
        .join(invoices, i.id == line.invoice_id)
    )
    return _pages(conn, statement, c.id, schema)


def subscription_intervals(conn: Connection) -> Iterator[pl.DataFrame]:
    """Every billed subscription interval: id, entity and its sealed columns."""
    s = subscription_charges.c
    schema = {"id": _ID, "entity_id": _ID, **schema_of("subscription_charges")}
    return _pages(conn, select(*[s[name] for name in schema]), s.id, schema)


def invoice_rows(conn: Connection) -> Iterator[pl.DataFrame]:
    """Every invoice: id, entity, its sealed columns and its document."""
    i = invoices.c
    schema = {"id": _ID, "entity_id": _ID, **schema_of("invoice"), "document": _TEXT}
    return _pages(conn, select(*[i[name] for name in schema]), i.id, schema)


def invoice_line_rows(conn: Connection) -> Iterator[pl.DataFrame]:
    """Every invoice line: id, invoice and its sealed columns."""
    line = invoice_lines.c
    schema = {"id": _ID, "invoice_id": _ID, **schema_of("invoice_lines")}
    return _pages(conn, select(*[line[name] for name in schema]), line.id, schema)


def first_corrections(conn: Connection) -> dict[int, str | None]:
    """Each corrected record's content digest before its first correction (None: the
    correction made the record)."""
    c = corrections.c
    found: dict[int, str | None] = {}
    for record_pk, original in conn.execute(select(c.record_pk, c.original_sha256).order_by(c.id)):
        found.setdefault(int(record_pk), original)
    return found
