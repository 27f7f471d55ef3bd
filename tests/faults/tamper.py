"""Tamperings of a store's billing rows, audit chain and invoices, as someone with write access
to the database would make them, each inside the caller's transaction (rolled back after)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable

from sqlalchemy import Connection, text

from ratebook.model.audit import entry_hash

Tampering = Callable[[Connection, random.Random], str]


def _ids(conn: Connection, table: str, where: str = "1 = 1") -> list[int]:
    return [int(i) for i in conn.execute(text(f"SELECT id FROM {table} WHERE {where}")).scalars()]


def _pick(conn: Connection, rng: random.Random, table: str, where: str = "1 = 1") -> int:
    ids = _ids(conn, table, where)
    if not ids:
        raise LookupError(f"no {table} row where {where}")
    return rng.choice(sorted(ids))


def _set(conn: Connection, table: str, row: int, assignment: str) -> None:
    conn.execute(text(f"UPDATE {table} SET {assignment} WHERE id = :id"), {"id": row})


def charge_amount(conn: Connection, rng: random.Random) -> str:
    row = _pick(conn, rng, "rated_charges", "charge <> 0")
    _set(conn, "rated_charges", row, f"charge = charge + {rng.choice([-100, 1, 10_000])}")
    return f"charge {row}: amount"


def charge_quantity(conn: Connection, rng: random.Random) -> str:
    row = _pick(conn, rng, "rated_charges")
    _set(conn, "rated_charges", row, "billed_quantity = billed_quantity + 1000")
    return f"charge {row}: billed quantity"


def charge_customer(conn: Connection, rng: random.Random) -> str:
    row = _pick(conn, rng, "rated_charges")
    other = conn.execute(
        text(
            "SELECT MIN(id) FROM customers WHERE id <> (SELECT customer_id FROM rated_charges"
            " WHERE id = :id)"
        ),
        {"id": row},
    ).scalar_one()
    _set(conn, "rated_charges", row, f"customer_id = {int(other)}")
    return f"charge {row}: customer"


def charge_moved(conn: Connection, rng: random.Random) -> str:
    row = _pick(conn, rng, "rated_charges")
    _set(conn, "rated_charges", row, "record_id = record_id || '-moved'")
    return f"charge {row}: place in its cycle"


def charge_deleted(conn: Connection, rng: random.Random) -> str:
    row = _pick(conn, rng, "rated_charges", "superseded_by IS NULL")
    conn.execute(text("DELETE FROM rated_charges WHERE id = :id"), {"id": row})
    return f"charge {row}: deleted"


def charge_added(conn: Connection, rng: random.Random) -> str:
    row = _pick(conn, rng, "rated_charges")
    columns = (
        "entity_id, record_pk, customer_id, period, posted_period, service, unit, start_time,"
        " origin, record_id, billed_quantity, unit_price,"
        " rate_unit, connect_fee, discount_ppm, charge, rounding_mode, rounding_places,"
        " batch_id, rated_at"
    )
    conn.execute(
        text(
            f"INSERT INTO rated_charges ({columns}) SELECT {columns} FROM rated_charges"
            " WHERE id = :id"
        ),
        {"id": row},
    )
    return f"charge {row}: copied"


def charge_unsuperseded(conn: Connection, rng: random.Random) -> str:
    row = _pick(conn, rng, "rated_charges", "superseded_by IS NOT NULL")
    _set(conn, "rated_charges", row, "superseded_by = NULL")
    return f"charge {row}: superseded_by cleared"


def charge_relinked(conn: Connection, rng: random.Random) -> str:
    row = _pick(conn, rng, "rated_charges", "invoice_line_id IS NOT NULL")
    if rng.random() < 0.5:
        _set(conn, "rated_charges", row, "invoice_line_id = NULL")
        return f"charge {row}: invoice line cleared"
    line = _pick(
        conn,
        rng,
        "invoice_lines",
        f"id <> (SELECT invoice_line_id FROM rated_charges WHERE id = {row})",
    )
    _set(conn, "rated_charges", row, f"invoice_line_id = {line}")
    return f"charge {row}: linked to line {line}"


def posting_amount(conn: Connection, rng: random.Random) -> str:
    row = _pick(conn, rng, "ledger_postings", "amount <> 0")
    _set(conn, "ledger_postings", row, f"amount = amount + {rng.choice([-1, 100, 5_000_000])}")
    return f"posting {row}: amount"


def posting_deleted(conn: Connection, rng: random.Random) -> str:
    row = _pick(conn, rng, "ledger_postings")
    conn.execute(text("DELETE FROM ledger_postings WHERE id = :id"), {"id": row})
    return f"posting {row}: deleted"


def posting_forged(conn: Connection, rng: random.Random) -> str:
    customer = _pick(conn, rng, "customers")
    batch = rng.choice([None, _pick(conn, rng, "import_batches")])
    conn.execute(
        text(
            "INSERT INTO ledger_postings (entity_id, customer_id, period, kind, amount, records,"
            " batch_id, memo, category, posted_at) SELECT entity_id, :c, '2026-11', 'credit',"
            " -5000000, 0, :b, 'goodwill', 'voice', created_at FROM customers WHERE id = :c"
        ),
        {"c": customer, "b": batch},
    )
    return f"posting forged for customer {customer} in batch {batch}"


def record_quantity(conn: Connection, rng: random.Random) -> str:
    row = _pick(conn, rng, "usage_records")
    _set(conn, "usage_records", row, "quantity = quantity * 2 + 1000")
    return f"record {row}: quantity"


def record_rehashed(conn: Connection, rng: random.Random) -> str:
    """The quantity changed and the content digest made to match it, as a careful forger
    would: only the batch's seal can tell."""
    from ratebook.pipeline.normalise import content_digests
    from ratebook.store.sealed_rows import records

    row = _pick(conn, rng, "usage_records")
    _set(conn, "usage_records", row, "quantity = quantity + 7000")
    for page in records(conn):
        mine = page.filter(page["id"] == row)
        if mine.height:
            _set(conn, "usage_records", row, f"content_sha256 = '{content_digests(mine)[0]}'")
    return f"record {row}: quantity with its digest recomputed"


def record_deleted(conn: Connection, rng: random.Random) -> str:
    # a record the exception queue, a correction or a dispute refers to is kept by a
    # foreign key
    row = _pick(
        conn,
        rng,
        "usage_records",
        "id NOT IN (SELECT record_pk FROM exceptions WHERE record_pk IS NOT NULL)"
        " AND id NOT IN (SELECT record_pk FROM corrections)"
        " AND id NOT IN (SELECT record_pk FROM disputes WHERE record_pk IS NOT NULL)",
    )
    conn.execute(text("DELETE FROM usage_records WHERE id = :id"), {"id": row})
    return f"record {row}: deleted"


def invoice_total(conn: Connection, rng: random.Random) -> str:
    row = _pick(conn, rng, "invoices")
    _set(conn, "invoices", row, "total = total - 10000")
    return f"invoice {row}: total"


def invoice_document(conn: Connection, rng: random.Random) -> str:
    row = _pick(conn, rng, "invoices")
    document = conn.execute(
        text("SELECT document FROM invoices WHERE id = :id"), {"id": row}
    ).scalar_one()
    changed = document.replace('"MYR"', '"USD"', 1)
    digest = hashlib.sha256(changed.encode()).hexdigest()
    if rng.random() < 0.5:
        digest = conn.execute(
            text("SELECT document_sha256 FROM invoices WHERE id = :id"), {"id": row}
        ).scalar_one()
    conn.execute(
        text("UPDATE invoices SET document = :d, document_sha256 = :h WHERE id = :id"),
        {"d": changed, "h": digest, "id": row},
    )
    return f"invoice {row}: document"


def invoice_line(conn: Connection, rng: random.Random) -> str:
    row = _pick(conn, rng, "invoice_lines")
    _set(conn, "invoice_lines", row, "amount = amount + 10000")
    return f"invoice line {row}: amount"


def subscription_amount(conn: Connection, rng: random.Random) -> str:
    row = _pick(conn, rng, "subscription_charges")
    _set(conn, "subscription_charges", row, "amount = amount - 1000000")
    return f"subscription interval {row}: amount"


def batch_counts(conn: Connection, rng: random.Random) -> str:
    row = _pick(conn, rng, "import_batches", "rows_read > 0")
    _set(conn, "import_batches", row, "rows_read = rows_read - 1")
    return f"batch {row}: rows read"


def audit_edited(conn: Connection, rng: random.Random) -> str:
    row = _pick(conn, rng, "audit_log")
    _set(conn, "audit_log", row, "actor = 'nobody'")
    return f"audit entry {row}: actor"


def audit_tail_cut(conn: Connection, rng: random.Random) -> str:
    last = max(_ids(conn, "audit_log"))
    keep = last - rng.randint(1, 3)
    conn.execute(text("DELETE FROM audit_log WHERE id > :k"), {"k": keep})
    return f"audit entries after {keep}: deleted"


def audit_rewritten(conn: Connection, rng: random.Random) -> str:
    """An entry changed in the middle and every later hash recomputed (only an anchor, or the
    seals the changed entry held, can tell)."""
    rows = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM audit_log ORDER BY id"))]
    at = rng.randrange(len(rows))
    rows[at]["actor"] = "forger"
    previous = rows[at - 1]["hash"] if at else "0" * 64
    for entry in rows[at:]:
        entry["prev_hash"] = previous
        entry["hash"] = previous = entry_hash(entry)
    # two passes keep the unique prev_hash free of clashes while rows change
    for entry in rows[at:]:
        conn.execute(
            text("UPDATE audit_log SET prev_hash = :p, hash = :h WHERE id = :id"),
            {"p": f"x{entry['id']:063d}", "h": "-", "id": entry["id"]},
        )
    for entry in rows[at:]:
        conn.execute(
            text("UPDATE audit_log SET actor = :a, prev_hash = :p, hash = :h WHERE id = :id"),
            {"a": entry["actor"], "p": entry["prev_hash"], "h": entry["hash"], "id": entry["id"]},
        )
    return f"audit entry {rows[at]['id']}: rewritten and the chain rehashed"


#: Every kind of tampering a campaign draws from.
TAMPERINGS: tuple[Tampering, ...] = (
    charge_amount,
    charge_quantity,
    charge_customer,
    charge_moved,
    charge_deleted,
    charge_added,
    charge_unsuperseded,
    charge_relinked,
    posting_amount,
    posting_deleted,
    posting_forged,
    record_quantity,
    record_rehashed,
    record_deleted,
    invoice_total,
    invoice_document,
    invoice_line,
    subscription_amount,
    batch_counts,
    audit_edited,
    audit_tail_cut,
    audit_rewritten,
)
