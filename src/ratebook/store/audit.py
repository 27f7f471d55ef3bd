"""The append-only audit log: one entry per state change, written in the change's transaction.

Appends are serialised so the chain never forks: on PostgreSQL by a transaction-scoped advisory
lock, on SQLite by the database's single writer (every caller has written before it audits).
The ``prev_hash`` column is unique as a last line of defence.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, text

from ratebook.model.actor import current_actor
from ratebook.model.audit import GENESIS, Break, canonical, entry_hash, first_break
from ratebook.store.tables import audit_log

#: The advisory-lock key of the audit chain (PostgreSQL), apart from the entity locks and per
#: schema (advisory locks are the database's; each deployment's chain is its own).
_CHAIN_LOCK = "hashtext(current_schema() || '/ratebook-audit')"


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One state change to append to the log. ``before``/``after`` are JSON-able values."""

    entity_id: int | None
    action: str
    object_type: str
    object_id: object
    before: Any = None
    after: Any = None
    actor: str | None = None


def record(
    conn: Connection,
    *,
    entity_id: int | None,
    action: str,
    object_type: str,
    object_id: object,
    before: Any = None,
    after: Any = None,
    actor: str | None = None,
    at: datetime,
) -> int:
    """Append one entry, made at ``at``; returns its id. ``before``/``after`` are JSON-able
    values."""
    change = Change(
        entity_id=entity_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
        actor=actor,
    )
    return record_all(conn, [change], at=at)[0]


#: The newest entry (``head``) and an entry's insert, built once: every group of pushed
#: events writes one.
_HEAD = select(audit_log.c.id, audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1)
_INSERT = insert(audit_log)


def head(conn: Connection) -> tuple[int, str] | None:
    """The newest entry's id and hash, or None for an empty log."""
    last = conn.execute(_HEAD).first()
    return None if last is None else (int(last.id), str(last.hash))


def lock_chain(conn: Connection) -> None:
    """Take the audit chain's lock now, until the transaction ends (PostgreSQL; SQLite has one
    writer at a time). An import takes it at its first audit entry and the cycles' running
    totals after; a writer that would change those totals before it audits takes the lock
    first, so no two writers ever wait for each other in opposite orders (a deadlock)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"SELECT pg_advisory_xact_lock({_CHAIN_LOCK})"))


def record_all(conn: Connection, changes: list[Change], *, at: datetime) -> list[int]:
    """Append entries in order, chained as one at a time would be, by one statement (a close
    issues thousands of invoices); returns their ids."""
    if not changes:
        return []
    lock_chain(conn)
    last = head(conn)
    next_id, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)
    acting = current_actor()
    entries: list[dict[str, Any]] = []
    for change in changes:
        entry: dict[str, Any] = {
            "id": next_id,
            "at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "actor": change.actor or acting,
            "entity_id": change.entity_id,
            "action": change.action,
            "object_type": change.object_type,
            "object_id": str(change.object_id),
            "before": None if change.before is None else canonical(change.before),
            "after": None if change.after is None else canonical(change.after),
            "prev_hash": prev_hash,
        }
        entry["hash"] = prev_hash = entry_hash(entry)
        entries.append(entry)
        next_id += 1
    conn.execute(_INSERT, entries)
    return [int(entry["id"]) for entry in entries]


@dataclass(frozen=True, slots=True)
class Verified:
    """What ``verify`` found.

    Attributes:
        entries: entries checked.
        broken: the first broken entry, or None when the chain is whole.
    """

    entries: int
    broken: Break | None


def verify(conn: Connection, *, page: int = 10_000) -> Verified:
    """Walk the whole chain in id order, a page at a time."""
    count = int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())
    return Verified(entries=count, broken=first_break(walk(conn, page=page)))


def walk(conn: Connection, *, page: int = 10_000) -> Iterator[dict[str, Any]]:
    """Every entry in id order, read a page at a time."""
    after = 0
    while True:
        rows = conn.execute(
            select(audit_log).where(audit_log.c.id > after).order_by(audit_log.c.id).limit(page)
        ).all()
        if not rows:
            return
        for row in rows:
            yield dict(row._mapping)
        after = int(rows[-1].id)


def entries(
    conn: Connection,
    *,
    entity_id: int | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    actor: str | None = None,
    since: str | None = None,
    limit: int | None = None,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """Entries in order, filtered; ``action`` matches a prefix (``exception`` matches
    ``exception.reject``); ``since`` is an ISO date or instant (UTC); with ``limit``, the
    latest that many (before the entry ``before_id``, when given)."""
    a = audit_log.c
    statement = select(audit_log).order_by(a.id)
    if before_id is not None:
        statement = statement.where(a.id < before_id)
    if entity_id is not None:
        statement = statement.where(a.entity_id == entity_id)
    if action is not None:
        statement = statement.where((a.action == action) | a.action.startswith(action + "."))
    if object_type is not None:
        statement = statement.where(a.object_type == object_type)
    if object_id is not None:
        statement = statement.where(a.object_id == object_id)
    if actor is not None:
        statement = statement.where(a.actor == actor)
    if since is not None:
        statement = statement.where(a.at >= since)
    if limit is not None:
        statement = statement.order_by(None).order_by(a.id.desc()).limit(limit)
        return [dict(r._mapping) for r in reversed(conn.execute(statement).all())]
    return [dict(r._mapping) for r in conn.execute(statement).all()]
