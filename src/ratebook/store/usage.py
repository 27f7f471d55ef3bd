"""Import batches (the file manifest), usage records, rated charges, ledger postings and
exceptions: writes for the importer, and the read queries behind balances, statements and the
exception log."""

from __future__ import annotations

import functools
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import polars as pl
from sqlalchemy import Connection, TextClause, bindparam, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from ratebook.errors import StoreError
from ratebook.model.frames import empty_frame
from ratebook.model.ledger import POSTING_COLUMNS, Posting
from ratebook.model.usage import EVENT_FIELDS, KNOWN_SCHEMA
from ratebook.money import QUANTITY_SCALE, format_fixed
from ratebook.store.bulk import FEW_ROWS, insert_frame, insert_rows
from ratebook.store.frames import query_frame
from ratebook.store.seals import Seal
from ratebook.store.tables import (
    customers,
    import_batches,
    ledger_postings,
    rate_rows,
    rated_charges,
    record_keys,
    usage_records,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    """An import batch as recorded in the manifest.

    Attributes:
        id: batch id.
        source_name: the file as the user named it.
        source_sha256: the file's digest.
        started_at: when the import started.
        rows_read, rated, duplicates, exceptions: the row identity's terms.
    """

    id: int
    source_name: str
    source_sha256: str | None
    started_at: datetime
    rows_read: int
    rated: int
    duplicates: int
    exceptions: int


log = logging.getLogger(__name__)

T = TypeVar("T")

#: The unique keys by which a file and a record are known.
_KNOWN_BY = frozenset(
    {
        "uq_import_batches_entity_id_source_sha256",
        "pk_record_keys",
    }
)


#: How often a writer tries when another stored the same file or record ids meanwhile (each
#: try after the first finds them stored: a file already imported, or duplicates), or when
#: the database ended it to break a deadlock or a serialisation conflict with another writer.
INTAKE_ATTEMPTS = 4

#: PostgreSQL's codes for a transaction it ended so that another could go on.
_CONTENDED = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure


def storing(transaction: Callable[[], T], *, what: str) -> T:
    """Run ``transaction`` (one whole intake transaction: an import, a group of events), and
    again, up to ``INTAKE_ATTEMPTS`` times in all, while it fails because another writer
    stored the same file or record ids meanwhile (``stored_meanwhile``: each new try finds
    them stored), or because the database ended it to break a deadlock (``contended``).
    ``what`` names it in the log and the error.

    Raises:
        StoreError: ``DB_CONTENTION`` when every try was ended by another writer.
    """
    for attempt in range(1, INTAKE_ATTEMPTS + 1):
        try:
            return transaction()
        except IntegrityError as error:
            if not stored_meanwhile(error) or attempt == INTAKE_ATTEMPTS:
                raise
            log.info("%s: stored meanwhile by another writer; trying again", what)
        except DBAPIError as error:
            if not contended(error):
                raise
            if attempt == INTAKE_ATTEMPTS:
                raise StoreError(
                    "DB_CONTENTION",
                    f"{what}: another writer kept ending this one ({INTAKE_ATTEMPTS} tries, the"
                    " last: deadlock or serialisation conflict); nothing was stored, run it again",
                ) from error
            log.info("%s: ended by the database to let another writer on; trying again", what)
            time.sleep(random.uniform(0.05, 0.2) * attempt)
    raise AssertionError("unreachable")  # the loop returns or raises


def contended(error: DBAPIError) -> bool:
    """Whether the database ended the transaction to break a deadlock or a serialisation
    conflict with another (PostgreSQL): running it again is safe and may succeed."""
    return getattr(error.orig, "sqlstate", None) in _CONTENDED


def stored_meanwhile(error: IntegrityError) -> bool:
    """Whether ``error`` is another writer having stored, while this transaction ran, the
    same file or records with the same ids (PostgreSQL; SQLite has one writer at a time).
    Both are looked up before they are stored, and PostgreSQL makes a second insert of the
    same key wait for the first writer's commit, then refuses it."""
    diag = getattr(error.orig, "diag", None)
    if getattr(diag, "constraint_name", None) in _KNOWN_BY:
        return True
    # PostgreSQL names the key of the record_keys partition the id hashed to
    table = getattr(diag, "table_name", None) or ""
    return table.startswith("record_keys_p") and getattr(error.orig, "sqlstate", None) == "23505"


def find_batch_by_sha(conn: Connection, entity_id: int, sha256: str) -> Batch | None:
    """The batch that imported a file with this digest, if any."""
    c = import_batches.c
    row = conn.execute(
        select(
            c.id,
            c.source_name,
            c.source_sha256,
            c.started_at,
            c.rows_read,
            c.rated,
            c.duplicates,
            c.exceptions,
        ).where(c.entity_id == entity_id, c.source_sha256 == sha256)
    ).first()
    if row is None:
        return None
    return Batch(
        id=row.id,
        source_name=row.source_name,
        source_sha256=row.source_sha256,
        started_at=row.started_at,
        rows_read=row.rows_read,
        rated=row.rated,
        duplicates=row.duplicates,
        exceptions=row.exceptions,
    )


def batch_sha256(conn: Connection, batch_id: int) -> str | None:
    """The file digest a batch was imported from."""
    return conn.execute(
        select(import_batches.c.source_sha256).where(import_batches.c.id == batch_id)
    ).scalar_one_or_none()


#: The statements of a batch's start and end, built once: the per-group path of pushed events
#: runs them for every group, and building one costs several times its execution.
_START_BATCH = insert(import_batches)
_FINISH_BATCH = update(import_batches).where(import_batches.c.id == bindparam("batch"))
_TOP_RECORD_ID = select(func.coalesce(func.max(usage_records.c.id), 0))


def start_batch(
    conn: Connection,
    *,
    entity_id: int,
    origin: str,
    fmt: str,
    source_name: str,
    source_sha256: str | None,
    size_bytes: int | None,
    source_kind: str = "file",
    columns: list[str] | None = None,
    feed_zone: str | None = None,
    layout: str | None = None,
    now: datetime,
) -> int:
    """Insert the batch's manifest row (counts filled in by :func:`finish_batch`).

    ``source_kind`` is ``file`` for an import, ``rerate`` for a re-rating run."""
    result = conn.execute(
        _START_BATCH,
        {
            "entity_id": entity_id,
            "origin": origin,
            "format": fmt,
            "source_kind": source_kind,
            "source_name": source_name,
            "source_sha256": source_sha256,
            "size_bytes": size_bytes,
            "started_at": now,
            "finished_at": now,
            "rows_read": 0,
            "rated": 0,
            "duplicates": 0,
            "exceptions": 0,
            "columns": None if columns is None else json.dumps(columns),
            "feed_zone": feed_zone,
            "layout": layout,
        },
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def finish_batch(
    conn: Connection,
    batch_id: int,
    *,
    rows_read: int,
    rated: int,
    duplicates: int,
    exceptions_count: int,
    now: datetime,
) -> None:
    """Record the batch's final counts (same transaction as its rows)."""
    conn.execute(
        _FINISH_BATCH,
        {
            "batch": batch_id,
            "finished_at": now,
            "rows_read": rows_read,
            "rated": rated,
            "duplicates": duplicates,
            "exceptions": exceptions_count,
        },
    )


@functools.cache
def _known_statement(postgres: bool, few: bool = False) -> TextClause:
    """``known_versions``'s statement on PostgreSQL or SQLite, built once; ``few``: for a
    push's few ids (PostgreSQL)."""
    # One probe of the narrow key table per id, so the cost follows the batch, not the
    # store; only an id it holds is looked at again (where its record was seen, its
    # corrections, its ID_CONFLICT copies: an id has those only once it has a record). On
    # PostgreSQL a LATERAL lookup forces a probe per id whatever the statistics (a table just
    # filled by COPY has none, and "= ANY(array)" then scans every key of the origin); SQLite
    # probes the key table's primary key for "IN (SELECT ... json_each)" by itself.
    if postgres:
        # The planner counts a constant array's elements, so each push of a few ids gets a
        # plan of its own (under a millisecond to plan, over ten times what it takes to run)
        # rather than the prepared one, which it costs as ten ids. A JSON array it costs as
        # a hundred whatever it holds, so a few ids reuse the prepared plan; a large batch
        # keeps the array, planned for its size.
        ids = (
            "jsonb_array_elements_text(CAST(:ids AS jsonb))"
            if few
            else "unnest(CAST(:ids AS text[]))"
        )
        keys = (
            "SELECT found.record_id, found.digest, found.record_pk"
            f" FROM {ids} AS k(record_id) CROSS JOIN LATERAL ("
            " SELECT t.record_id, t.digest, t.record_pk FROM record_keys t"
            " WHERE t.entity_id = :entity AND t.origin = :origin"
            # OFFSET 0 keeps the planner from flattening this into one big hash join
            " AND t.record_id = k.record_id OFFSET 0) AS found"
        )
        materialized = "MATERIALIZED "
    else:
        keys = (
            "SELECT t.record_id, t.digest, t.record_pk FROM record_keys t"
            " WHERE t.entity_id = :entity AND t.origin = :origin"
            " AND t.record_id IN (SELECT value FROM json_each(:ids))"
        )
        materialized = ""
    # a record a clerk corrected keeps its original content as a known version, so the
    # original row sent again is a duplicate, not a conflict with its own correction; that
    # version was first, seen where the record was
    return text(
        f"WITH key AS {materialized}({keys})"
        " SELECT key.record_id, key.digest, b.source_name || ':' || r.source_line AS seen_at,"
        " 1 AS version_rank FROM key JOIN usage_records r ON r.id = key.record_pk"
        " JOIN import_batches b ON b.id = r.batch_id"
        " UNION ALL SELECT e.record_id, e.content_sha256,"
        " b.source_name || ':' || e.source_line, 2 FROM key JOIN exceptions e"
        " ON e.entity_id = :entity AND e.origin = :origin AND e.record_id = key.record_id"
        " AND e.code = 'ID_CONFLICT' JOIN import_batches b ON b.id = e.batch_id"
        " UNION ALL SELECT key.record_id, c.original_sha256,"
        " b.source_name || ':' || r.source_line, 0 FROM key"
        " JOIN corrections c ON c.record_pk = key.record_pk"
        " JOIN usage_records r ON r.id = key.record_pk JOIN import_batches b ON b.id = r.batch_id"
        " WHERE c.original_sha256 IS NOT NULL"
    )


def known_versions(
    conn: Connection, entity_id: int, origin: str, record_ids: list[str]
) -> pl.DataFrame:
    """Versions already stored for these ids: records, and ``ID_CONFLICT`` copies, each id's
    record (its first version) ahead of the others."""
    if not record_ids:
        return empty_frame(KNOWN_SCHEMA)
    # probed in key order, the index pages come in order too
    record_ids = sorted(record_ids)
    postgres = conn.dialect.name == "postgresql"
    few = postgres and len(record_ids) < FEW_ROWS
    ids_param: object = record_ids if postgres and not few else json.dumps(record_ids)
    rows = conn.execute(
        _known_statement(postgres, few),
        {"entity": entity_id, "origin": origin, "ids": ids_param},
    ).all()
    if not rows:
        return empty_frame(KNOWN_SCHEMA)
    return (
        pl.DataFrame(
            [tuple(r) for r in rows],
            schema={**KNOWN_SCHEMA, "version_rank": pl.Int32()},
            orient="row",
        )
        .sort("version_rank", maintain_order=True)
        .drop("version_rank")
    )


#: A table is sampled again when its statistics describe fewer than this many times the
#: rows an import adds.
_STALE_RATIO = 10


#: The tables an import fills, in the one order every import samples them in, so that two
#: never wait on each other's samples.
IMPORT_TABLES = (
    "usage_records",
    "record_keys",
    "rated_charges",
    "usage_totals",
    "ledger_postings",
)


def refresh_statistics(
    conn: Connection, *, adding: int, tables: Sequence[str] = IMPORT_TABLES
) -> None:
    """On PostgreSQL, sample the ``tables`` (of ``IMPORT_TABLES``, in its order) an import is
    filling, its own rows included, so the planner probes their indexes instead of scanning
    them: right after a bulk COPY the statistics still describe nearly empty tables, and a
    usage-totals or postings table never sampled has each query of a customer-cycle scan
    every row of the period (a server without autovacuum never samples them at all). A table
    whose statistics already describe ten times the ``adding`` rows of this import is left
    as it is: a day's file into a month's store would otherwise spend much of its import
    sampling a million records for nothing. A table partitioned by period is sampled by its
    partitions, each judged so. A role that does not own the tables gets a
    warning from the server and the old statistics; nothing fails."""
    if conn.dialect.name != "postgresql":
        return
    names = [name for name in IMPORT_TABLES if name in tables]
    # a partitioned table is sampled by its leaves: by period, the import's rows fill one or
    # two of them and the others, described already, are left as they are; by hash (the
    # keys), they are spread evenly over every leaf
    rows = conn.execute(
        text(
            "SELECT c.relname, CAST(c.reltuples AS bigint), coalesce(p.partstrat, 'n'),"
            " count(*) OVER (PARTITION BY t.name)"
            " FROM unnest(CAST(:tables AS text[])) WITH ORDINALITY AS t(name, n)"
            # a table not partitioned has no tree: it is its own leaf
            " LEFT JOIN LATERAL pg_partition_tree(CAST(t.name AS regclass)) AS tree ON true"
            " JOIN pg_class c ON c.oid = coalesce(tree.relid, CAST(t.name AS regclass))"
            " LEFT JOIN pg_partitioned_table p ON p.partrelid = CAST(t.name AS regclass)"
            " WHERE coalesce(tree.isleaf, true) ORDER BY t.n, c.relname"
        ),
        {"tables": names},
    ).all()
    # reltuples is -1 for a table never sampled
    stale = [
        str(name)
        for name, count, strategy, leaves in rows
        if (adding // leaves if strategy == "h" else adding) * _STALE_RATIO > max(int(count), 0)
    ]
    if stale:
        conn.exec_driver_sql(f"ANALYZE {', '.join(stale)}")


def add_records(conn: Connection, records: pl.DataFrame, *, seal: Seal | None = None) -> pl.Series:
    """Insert usage records (columns named as in ``usage_records``, without ``id``; one
    batch, one record per ``source_line`` and ``record_id``) and return their ids, in the
    frame's order.
    ``seal`` seals them, in the order they are written, for the batch's audit entry.

    SQLite: the ids are counted on from the largest one and written with the rows, which is
    safe because a writing transaction there holds the database's only write lock from its
    start (``BEGIN IMMEDIATE``). PostgreSQL: the rows are copied and their ids read back by
    batch and line through ``ix_usage_records_batch``, which is far cheaper than drawing the
    ids from the sequence one ``nextval`` at a time. Fewer than ``FEW_ROWS`` records (a
    push's) are stored as rows (``add_record_rows``).
    """
    if records.is_empty():
        return pl.Series("id", [], dtype=pl.Int64)
    if records.height < FEW_ROWS:
        return _add_few_records(conn, records, seal)
    # in key order: two writers storing some of the same ids then wait for each other in one
    # order, instead of each holding a key the other waits for (a deadlock); and the keys go
    # into their index in order
    written = records.sort("record_id")
    if seal is not None:
        seal.add("records", written)
    if conn.dialect.name != "postgresql":
        top = conn.execute(_TOP_RECORD_ID).scalar_one()
        ids = pl.int_range(top + 1, top + 1 + written.height, dtype=pl.Int64, eager=True)
        written = written.with_columns(ids.alias("id"))
        insert_frame(conn, usage_records, written)
    else:
        insert_frame(conn, usage_records, written)
        (batch_id,) = records["batch_id"].unique().to_list()
        c = usage_records.c
        found = query_frame(
            conn,
            select(c.id, c.source_line, c.record_id).where(
                c.batch_id == batch_id,
                c.source_line.between(records["source_line"].min(), records["source_line"].max()),
            ),
            {"id": pl.Int64(), "source_line": pl.Int64(), "record_id": pl.String()},
        )
        # a line holds one record of the batch, or several with their own ids (a stream
        # message's array of events, all at its offset)
        written = written.join(
            found, on=["source_line", "record_id"], how="left", maintain_order="left"
        )
    insert_frame(
        conn,
        record_keys,
        written.select(
            "entity_id",
            "origin",
            "record_id",
            pl.col("content_sha256").alias("digest"),
            pl.col("id").alias("record_pk"),
        ),
    )
    return records.select("source_line", "record_id").join(
        written.select("source_line", "record_id", "id"),
        on=["source_line", "record_id"],
        how="left",
        maintain_order="left",
    )["id"]


def _add_few_records(conn: Connection, records: pl.DataFrame, seal: Seal | None) -> pl.Series:
    """``add_records`` of a few records (a push's), as rows (``add_record_rows``)."""
    rows = records.to_dicts()
    return pl.Series("id", add_record_rows(conn, rows, seal=seal), dtype=pl.Int64)


def add_record_rows(
    conn: Connection, rows: list[dict[str, Any]], *, seal: Seal | None = None
) -> list[int]:
    """``add_records`` for a few records given as rows of Python values (a push's): their
    ids, in the rows' order (each row gets its ``id`` too). On PostgreSQL the ids are drawn
    from the sequence in one statement, so nothing is read back."""
    # in key order, as add_records writes a frame
    written = sorted(rows, key=lambda row: row["record_id"])
    if seal is not None:
        seal.add_rows("records", written)
    if conn.dialect.name == "postgresql":
        ids: Iterable[int] = sorted(conn.execute(_NEXT_RECORD_IDS, {"n": len(written)}).scalars())
    else:
        top = conn.execute(_TOP_RECORD_ID).scalar_one()
        ids = range(top + 1, top + 1 + len(written))
    for row, n in zip(written, ids, strict=True):
        row["id"] = n
    insert_rows(conn, usage_records, written)
    insert_rows(
        conn,
        record_keys,
        [
            {
                "entity_id": row["entity_id"],
                "origin": row["origin"],
                "record_id": row["record_id"],
                "digest": row["content_sha256"],
                "record_pk": row["id"],
            }
            for row in written
        ],
    )
    return [row["id"] for row in rows]


#: ``n`` new record ids from the records' sequence (PostgreSQL).
_NEXT_RECORD_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('usage_records', 'id')) FROM generate_series(1, :n)"
)


#: A posting as it is written: its columns, the entity, the batch and when.
_STORED_POSTING: dict[str, pl.DataType] = {
    "entity_id": pl.Int64(),
    **POSTING_COLUMNS,
    "batch_id": pl.Int64(),
    "posted_at": pl.Datetime("us", "UTC"),
}


def add_postings(
    conn: Connection,
    postings: Sequence[Posting],
    *,
    entity_id: int,
    batch_id: int | None,
    posted_at: datetime,
    seal: Seal | None = None,
) -> None:
    """Append ledger postings (never updated, never deleted) of one batch in one bulk
    write; ``seal`` seals them for the batch's audit entry."""
    if not postings:
        return
    rows = [
        {
            "entity_id": entity_id,
            **{name: getattr(p, name) for name in POSTING_COLUMNS},
            "kind": p.kind.value,
            "batch_id": batch_id,
            "posted_at": posted_at,
        }
        for p in postings
    ]
    if len(rows) < FEW_ROWS:
        # a push's few postings, as rows
        if seal is not None:
            seal.add_rows("postings", rows)
        insert_rows(conn, ledger_postings, rows)
        return
    frame = pl.DataFrame(rows, schema=_STORED_POSTING)
    if seal is not None:
        seal.add("postings", frame)
    insert_frame(conn, ledger_postings, frame)


# ----------------------------------------------------------------------------- read side


def balances(conn: Connection, entity_id: int, period: str) -> pl.DataFrame:
    """Per customer and unit with usage in ``period``: records, billed quantity and charge
    (current ratings only), ordered by account and unit. Quantities of different units are
    never added together."""
    c, r = rated_charges.c, usage_records.c
    statement = (
        select(
            customers.c.account,
            customers.c.name,
            r.unit,
            func.count().label("records"),
            func.coalesce(func.sum(c.billed_quantity), 0).label("billed_quantity"),
            func.coalesce(func.sum(c.charge), 0).label("charge"),
        )
        .select_from(
            rated_charges.join(customers, customers.c.id == c.customer_id).join(
                usage_records, r.id == c.record_pk
            )
        )
        .where(c.entity_id == entity_id, c.period == period, c.superseded_by.is_(None))
        .group_by(customers.c.account, customers.c.name, r.unit)
        .order_by(customers.c.account, r.unit)
    )
    rows = conn.execute(statement).all()
    return pl.DataFrame(
        [tuple(x) for x in rows],
        schema={
            "account": pl.String,
            "name": pl.String,
            "unit": pl.String,
            "records": pl.Int64,
            "billed_quantity": pl.Int64,
            "charge": pl.Int64,
        },
        orient="row",
    )


def ledger_totals(conn: Connection, entity_id: int, period: str) -> dict[str, int]:
    """Sum of ledger postings per customer account in ``period``."""
    p = ledger_postings.c
    rows = conn.execute(
        select(customers.c.account, func.sum(p.amount))
        .select_from(ledger_postings.join(customers, customers.c.id == p.customer_id))
        .where(p.entity_id == entity_id, p.period == period)
        .group_by(customers.c.account)
    )
    return {str(account): int(total) for account, total in rows}


def statement_lines(
    conn: Connection,
    entity_id: int,
    customer_id: int,
    period: str,
    *,
    limit: int | None = None,
    offset: int = 0,
) -> pl.DataFrame:
    """One row per current rated record of a customer in a period, by start time (a page of
    ``limit`` from ``offset``, when given)."""
    r = usage_records.c
    c = rated_charges.c
    statement = (
        select(
            r.record_id,
            r.start_time,
            r.caller,
            r.destination,
            rate_rows.c.destination_name,
            r.quantity,
            c.billed_quantity,
            c.unit_price,
            c.rate_unit,
            c.charge,
            r.disposition,
            r.service,
            r.unit,
            c.band,
            c.tier_split,
            r.origin,
        )
        .select_from(
            rated_charges.join(usage_records, usage_records.c.id == c.record_pk).outerjoin(
                rate_rows, rate_rows.c.id == c.rate_row_id
            )
        )
        .where(
            c.entity_id == entity_id,
            c.customer_id == customer_id,
            c.period == period,
            c.superseded_by.is_(None),
        )
        .order_by(r.start_time, r.record_id)
    )
    if limit is not None:
        statement = statement.limit(limit).offset(offset)
    rows = conn.execute(statement).all()
    return pl.DataFrame(
        [tuple(x) for x in rows],
        schema={
            "record_id": pl.String,
            "start_time": pl.Datetime("us", "UTC"),
            "caller": pl.String,
            "destination": pl.String,
            "destination_name": pl.String,
            "quantity": pl.Int64,
            "billed_quantity": pl.Int64,
            "unit_price": pl.Int64,
            "rate_unit": pl.Int64,
            "charge": pl.Int64,
            "disposition": pl.String,
            "service": pl.String,
            "unit": pl.String,
            "band": pl.String,
            "tier_split": pl.String,
            "origin": pl.String,
        },
        orient="row",
    )


def customers_with_usage(conn: Connection, entity_id: int, period: str) -> list[tuple[int, str]]:
    """``(customer_id, account)`` of every customer with rated usage in ``period``."""
    c = rated_charges.c
    rows = conn.execute(
        select(customers.c.id, customers.c.account)
        .select_from(rated_charges.join(customers, customers.c.id == c.customer_id))
        .where(c.entity_id == entity_id, c.period == period, c.superseded_by.is_(None))
        .distinct()
        .order_by(customers.c.account)
    )
    return [(int(i), str(a)) for i, a in rows]


#: What ``newest_rated_event`` reads of a record: its origin and the canonical fields of an
#: event but its id.
_EVENT_COLUMNS = ("origin", *(name for name in EVENT_FIELDS if name != "record_id"))


def newest_rated_event(conn: Connection, entity_id: int) -> dict[str, Any] | None:
    """The entity's most recently stored rated record as the canonical event that would
    store it again (its feed's other attributes left out, no ``record_id``), or None."""
    c = usage_records.c
    row = conn.execute(
        select(*(c[name] for name in _EVENT_COLUMNS))
        .where(c.entity_id == entity_id, c.status == "rated")
        .order_by(c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    event = {name: value for name, value in row._mapping.items() if value is not None}
    event["start_time"] = row.start_time.isoformat()
    event["quantity"] = format_fixed(row.quantity, QUANTITY_SCALE)
    return event
