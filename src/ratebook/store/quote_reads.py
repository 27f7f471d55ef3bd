"""What a quote, or a group of pushed events, reads before it prices, in one statement:
whether the API key asking is still live, the entity, the reference stamp
(``store.reference_lock``) and the closed cycles. On PostgreSQL each read is a round trip to
the server, which costs more than the read itself: four of them would be most of a quote's
time, and a sixth of a small group's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from ratebook.errors import AccessError, NotFoundError
from ratebook.model.parties import Entity
from ratebook.store import api_keys, cycles, driver
from ratebook.store.billing import LOCK_CLASS_SQL
from ratebook.store.entities import ENTITY_COLUMNS, entity_from
from ratebook.store.reference_lock import REFERENCE_LOCK_SQL, STAMP_COLUMNS


@dataclass(frozen=True, slots=True)
class QuoteContext:
    """A quote's first read.

    Attributes:
        entity: the entity quoted for.
        stamp: the reference stamp as ``store.reference_lock.reference_stamp`` gives it.
        closed: the entity's closed cycles.
    """

    entity: Entity
    stamp: tuple[int, ...]
    closed: frozenset[str]


def quote_context(conn: Connection, entity_code: str, key_id: int | None) -> QuoteContext:
    """The entity ``entity_code``'s quote context, read in one statement of ``conn``'s
    transaction, which must read one snapshot throughout (SQLite's, or REPEATABLE READ on
    PostgreSQL): in it a writer of reference data in flight is wholly unseen, so the stamp
    needs no lock. With ``key_id``, that API key must be live in the snapshot.

    Raises:
        AccessError: ``UNAUTHENTICATED``, the key is unknown or revoked.
        NotFoundError: ``ENTITY_NOT_FOUND``.
    """
    return _context(conn, entity_code, key_id, [])[0]


def _context(
    conn: Connection, entity_code: str, key_id: int | None, extra: list[tuple[str, tuple[Any, ...]]]
) -> tuple[QuoteContext, list[Any]]:
    """``quote_context``, and the value of each of ``extra``'s scalar subqueries (SQL and
    its parameters) read in the same statement."""
    closed = "string_agg" if conn.dialect.name == "postgresql" else "group_concat"
    live = (
        "1"
        if key_id is None
        else "(SELECT count(*) FROM api_keys WHERE id = ? AND revoked_at IS NULL)"
    )
    found = driver.rows(
        conn,
        f"SELECT {', '.join(ENTITY_COLUMNS)}, {live}, {', '.join(STAMP_COLUMNS)},"
        f" (SELECT {closed}(period, ',') FROM billing_cycles"
        "   WHERE billing_cycles.entity_id = entities.id AND status = 'closed')"
        + "".join(f", ({sql})" for sql, _ in extra)
        + " FROM entities WHERE code = ?",
        (
            *(() if key_id is None else (key_id,)),
            *(value for _, parameters in extra for value in parameters),
            entity_code,
        ),
    )
    if not found:
        if key_id is not None and not api_keys.is_live(conn, key_id):
            raise AccessError("UNAUTHENTICATED", "the API key is unknown or revoked")
        raise NotFoundError("ENTITY_NOT_FOUND", f"no entity {entity_code!r}")
    row = found[0]
    entity_end = len(ENTITY_COLUMNS)
    stamp_end = entity_end + 1 + len(STAMP_COLUMNS)
    if not row[entity_end]:
        raise AccessError("UNAUTHENTICATED", "the API key is unknown or revoked")
    periods = row[stamp_end]
    context = QuoteContext(
        entity=entity_from(row[:entity_end]),
        stamp=tuple(int(v) for v in row[entity_end + 1 : stamp_end]),
        closed=frozenset(periods.split(",") if periods else ()),
    )
    return context, list(row[stamp_end + 1 :])


def quote_context_and_usage(
    conn: Connection,
    entity_code: str,
    key_id: int | None,
    *,
    entity_id: int,
    places: list[tuple[tuple[int, str, str, str], tuple[datetime, str, str]]],
) -> tuple[QuoteContext, list[int]]:
    """``quote_context`` and, in the same statement, the usage ahead of each of ``places``
    (a customer-cycle of ``entity_id`` and a place in it, as ``store.cycles.usage_before``):
    a quote priced from reference data already held needs one round trip, and one
    statement reads one snapshot with no transaction around it. The caller checks that the
    context's entity is ``entity_id``'s (the usage read is of that entity).

    Raises:
        AccessError, NotFoundError: as ``quote_context``.
    """
    extra = [
        (cycles.USAGE_BEFORE, cycles.usage_before_parameters(conn, entity_id, group, key))
        for group, key in places
    ]
    context, values = _context(conn, entity_code, key_id, extra)
    return context, [0 if value is None else int(value) for value in values]


#: A posting transaction's locks (PostgreSQL), in one statement: the entity's close lock,
#: shared (as ``billing.lock_entity``), and the shared side of its reference lock if free
#: (as ``reference_lock.reference_stamp``).
_POSTING_LOCKS = (
    f"SELECT pg_advisory_xact_lock_shared({LOCK_CLASS_SQL}, id),"
    f" pg_try_advisory_xact_lock_shared({REFERENCE_LOCK_SQL}, id)"
    " FROM entities WHERE code = ?"
)
#: ``_POSTING_LOCKS`` that also has the transaction's prepared statements run on their
#: generic plans (``plan_cache_mode``, until the transaction ends). A push's statements are
#: the same every group and their constants change nothing worth re-planning for, yet the
#: planner keeps planning some of them anew (the known-id probe over the hash-partitioned
#: key table: over a millisecond to plan, a tenth of one to run).
_POSTING_LOCKS_GENERIC = _POSTING_LOCKS.replace(
    " FROM entities",
    ", set_config('plan_cache_mode', 'force_generic_plan', true) FROM entities",
)


def posting_context(
    conn: Connection, entity_code: str, key_id: int | None, *, generic_plans: bool = False
) -> tuple[QuoteContext, bool]:
    """What a transaction that posts usage to ``entity_code`` reads first, in READ COMMITTED:
    on PostgreSQL the entity's locks in one statement, then ``quote_context`` in the next,
    whose snapshot is taken after them (so a close that committed before the lock was
    granted is seen closed). Also whether the stamp may key the reference cache: False
    while a writer of the entity's reference data is in flight (PostgreSQL).
    ``generic_plans``: the rest of the transaction runs its prepared statements on their
    generic plans (PostgreSQL; for a few pushed events, whose statements repeat every group).

    Raises:
        AccessError, NotFoundError: as ``quote_context``.
    """
    free = True
    if conn.dialect.name == "postgresql":
        locks = _POSTING_LOCKS_GENERIC if generic_plans else _POSTING_LOCKS
        locked = driver.rows(conn, locks, (entity_code,))
        free = bool(locked and locked[0][1])
    return quote_context(conn, entity_code, key_id), free
