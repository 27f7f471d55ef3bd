"""The queue of a parallel run (``store.tables.work_items``): the coordinator puts the run's
items in; each worker claims some in the transaction that does them. On PostgreSQL a claim
skips the items other workers hold (``FOR UPDATE SKIP LOCKED``), so workers never wait for
each other's items; SQLite has one writer at a time, so a claim there is simply the next
items. A claimed item is deleted by the claim: it is done when that transaction commits, and
back in the queue if it rolls back."""

from __future__ import annotations

import uuid

from sqlalchemy import Connection, func, insert, select, text

from ratebook.store.tables import work_items


def new_run() -> str:
    """A fresh run id."""
    return uuid.uuid4().hex


def enqueue(conn: Connection, entity_id: int, run_id: str, items: list[int]) -> None:
    """Put ``items`` of the run in the queue."""
    if items:
        conn.execute(
            insert(work_items),
            [{"entity_id": entity_id, "run_id": run_id, "item": i} for i in sorted(items)],
        )


def claim(conn: Connection, run_id: str, limit: int) -> list[int]:
    """Up to ``limit`` of the run's items no other transaction holds, lowest first, taken
    out of the queue by this transaction."""
    skip = " FOR UPDATE SKIP LOCKED" if conn.dialect.name == "postgresql" else ""
    rows = conn.execute(
        text(
            "DELETE FROM work_items WHERE run_id = :run AND item IN (SELECT item FROM work_items"
            f" WHERE run_id = :run ORDER BY item LIMIT :limit{skip}) RETURNING item"
        ),
        {"run": run_id, "limit": limit},
    )
    return sorted(int(i) for i in rows.scalars())


def remaining(conn: Connection, run_id: str) -> int:
    """Items of the run not done yet (claimed ones count until their transaction commits)."""
    found = conn.execute(select(func.count()).where(work_items.c.run_id == run_id))
    return int(found.scalar_one())


def drop(conn: Connection, run_id: str) -> None:
    """Take a failed run's items out of the queue."""
    conn.execute(work_items.delete().where(work_items.c.run_id == run_id))
