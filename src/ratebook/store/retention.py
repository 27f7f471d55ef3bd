"""The retention purge's reads and writes: the raw content of call records past the entity's
retention (the source line, the numbers, the attributes) and of their exceptions and
corrections, removed in place. The records' keys, digests, quantities and charges, the ledger
and the audit chain stay."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, and_, func, or_, select, update

from ratebook.store.tables import corrections, exceptions, usage_records

#: Records purged per statement.
_PAGE = 5_000


def _due(entity_id: int, before: datetime) -> Select[Any]:
    """Records of the entity that started before ``before``, not yet purged, with no
    exception still waiting for review (its raw row is what a reviewer corrects)."""
    r, e = usage_records.c, exceptions.c
    waiting = select(e.record_pk).where(
        e.entity_id == entity_id,
        e.record_pk.is_not(None),
        e.status.in_(("open", "in_review")),
    )
    return select(r.id).where(
        r.entity_id == entity_id,
        r.start_time < before,
        r.purged_at.is_(None),
        r.id.not_in(waiting),
    )


def count_due(conn: Connection, entity_id: int, before: datetime) -> tuple[int, int]:
    """``(records due, records kept for review)``: what a purge of content before ``before``
    would remove, and the older records it keeps because an exception of theirs is open."""
    r = usage_records.c
    due = conn.execute(select(func.count()).select_from(_due(entity_id, before).subquery()))
    older = conn.execute(
        select(func.count()).where(
            r.entity_id == entity_id, r.start_time < before, r.purged_at.is_(None)
        )
    )
    n = int(due.scalar_one())
    return n, int(older.scalar_one()) - n


def purge(conn: Connection, entity_id: int, before: datetime, *, at: datetime) -> list[int]:
    """Remove the raw content of the records due (``count_due``), of their exceptions and of
    their corrections, marking each record ``purged_at``; returns the records' ids, in
    order."""
    ids = [
        int(i) for i in conn.execute(_due(entity_id, before).order_by(usage_records.c.id)).scalars()
    ]
    r, e, k = usage_records.c, exceptions.c, corrections.c
    for start in range(0, len(ids), _PAGE):
        page = ids[start : start + _PAGE]
        conn.execute(
            update(usage_records)
            .where(r.id.in_(page))
            .values(raw=None, caller=None, destination=None, attributes=None, purged_at=at)
        )
        conn.execute(update(exceptions).where(e.record_pk.in_(page)).values(raw=None, payload=None))
        conn.execute(update(corrections).where(k.record_pk.in_(page)).values(raw="", original=None))
    return ids


def purge_unrecorded(conn: Connection, entity_id: int, before_period: str) -> int:
    """Remove the raw rows of reviewed exceptions that hold no record (rows that could not be
    read as one) of periods before ``before_period``; returns how many."""
    e = exceptions.c
    where = and_(
        e.entity_id == entity_id,
        e.record_pk.is_(None),
        e.period < before_period,
        e.status.in_(("resolved", "rejected")),
        or_(e.raw.is_not(None), e.payload.is_not(None)),
    )
    n = int(conn.execute(select(func.count()).where(where)).scalar_one())
    if n:
        conn.execute(update(exceptions).where(where).values(raw=None, payload=None))
    return n


def purged_since(conn: Connection) -> dict[datetime, list[int]]:
    """Every purged record's id, by the instant of the purge that removed its content."""
    r = usage_records.c
    out: dict[datetime, list[int]] = {}
    for record_id, at in conn.execute(
        select(r.id, r.purged_at).where(r.purged_at.is_not(None)).order_by(r.id)
    ):
        out.setdefault(at, []).append(int(record_id))
    return out


def purged_digest(ids: list[int]) -> str:
    """The SHA-256 of purged record ids, in order, a line each: what a purge's audit entry
    commits, and ``audit verify --deep`` recomputes."""
    return hashlib.sha256("".join(f"{i}\n" for i in ids).encode("ascii")).hexdigest()
