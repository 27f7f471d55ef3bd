"""The lock that writers of reference data (customers' identifiers, rate assignments, rate
table versions and rows) hold, and the stamp that tells a reader whether that data changed.

The reference tables are append-only: identifiers and assignments are effective-dated and
end by new rows, and a rate table is corrected by a new revision of a version. A change is
therefore always a new row, and the largest id of each table (``reference_stamp``) changes
with any of them, provided ids become visible in the order they were drawn. Every writer
holds the entity's reference lock (``lock_reference``) from its first write to its commit,
so on PostgreSQL no two writers draw ids at once and a reader that gets the shared side of
the lock sees no write in flight; SQLite has one writer at a time anyway.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from ratebook.store import driver
from ratebook.store.tables import (
    customer_identifiers,
    rate_assignments,
    rate_rows,
    rate_table_versions,
)

#: The advisory lock class of reference writers, per schema (as ``billing.LOCK_CLASS_SQL``).
REFERENCE_LOCK_SQL = "hashtext(current_schema() || '/ratebook-reference')"
_HELD = "ratebook_reference_lock"


def lock_reference(conn: Connection, entity_id: int) -> None:
    """Hold the entity's reference lock until the transaction ends (PostgreSQL; taken once
    per transaction). Called by every function that adds reference rows."""
    if conn.dialect.name != "postgresql":
        return
    transaction = conn.get_transaction()
    held = conn.info.get(_HELD)
    # the transaction object itself is kept (not its id, which a later one could reuse)
    if held is not None and held[0] is transaction and held[1] == entity_id:
        return
    conn.execute(
        text(f"SELECT pg_advisory_xact_lock({REFERENCE_LOCK_SQL}, :k2)"), {"k2": entity_id}
    )
    conn.info[_HELD] = (transaction, entity_id)


def reference_stamp(conn: Connection, entity_id: int) -> tuple[int, ...] | None:
    """The largest id of each reference table, or None while a writer of the entity's
    reference data is in flight (PostgreSQL). On PostgreSQL the shared side of the reference
    lock is then held until the transaction ends, so the data cannot change under it."""
    if conn.dialect.name == "postgresql":
        ((free,),) = driver.rows(
            conn, f"SELECT pg_try_advisory_xact_lock_shared({REFERENCE_LOCK_SQL}, ?)", (entity_id,)
        )
        if not free:
            return None
    ((*stamp,),) = driver.rows(conn, _STAMP)
    return tuple(int(v) for v in stamp)


#: The largest id of each reference table, one column each (a request's read: in the driver's
#: own SQL).
STAMP_COLUMNS = tuple(
    f"(SELECT COALESCE(MAX(id), 0) FROM {t.name})"
    for t in (customer_identifiers, rate_assignments, rate_table_versions, rate_rows)
)
_STAMP = "SELECT " + ", ".join(STAMP_COLUMNS)
