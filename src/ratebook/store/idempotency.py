"""Idempotency keys of API requests: claim, complete, release, and read back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ratebook.store.tables import idempotency_keys


def claim(
    conn: Connection,
    *,
    entity_id: int,
    key: str,
    request_sha256: str,
    now: datetime,
    expired_before: datetime,
) -> dict[str, Any] | None:
    """Record ``key`` as in flight; returns None when claimed, else the row already there.

    A key claimed before ``expired_before`` is forgotten first: its reuse is a new request.
    Runs in a savepoint so a lost race leaves the caller's transaction usable."""
    k = idempotency_keys.c
    conn.execute(
        delete(idempotency_keys).where(
            k.entity_id == entity_id, k.key == key, k.created_at < expired_before
        )
    )
    try:
        with conn.begin_nested():
            conn.execute(
                insert(idempotency_keys).values(
                    entity_id=entity_id,
                    key=key,
                    request_sha256=request_sha256,
                    status="in_flight",
                    created_at=now,
                )
            )
        return None
    except IntegrityError:
        pass
    row = conn.execute(
        select(idempotency_keys).where(k.entity_id == entity_id, k.key == key)
    ).first()
    return None if row is None else dict(row._mapping)


def take_over(conn: Connection, row_id: int, created_at: datetime, now: datetime) -> bool:
    """Claim an abandoned in-flight key (still as it was read); False if someone else did."""
    k = idempotency_keys.c
    result = conn.execute(
        update(idempotency_keys)
        .where(k.id == row_id, k.status == "in_flight", k.created_at == created_at)
        .values(created_at=now)
    )
    return result.rowcount == 1


def complete(
    conn: Connection,
    *,
    entity_id: int,
    key: str,
    status: int,
    media_type: str,
    body: str,
    now: datetime,
) -> None:
    """Store the response the key will replay."""
    k = idempotency_keys.c
    conn.execute(
        update(idempotency_keys)
        .where(k.entity_id == entity_id, k.key == key)
        .values(
            status="done",
            response_status=status,
            response_type=media_type,
            response_body=body,
            completed_at=now,
        )
    )


def release(conn: Connection, *, entity_id: int, key: str) -> None:
    """Forget an in-flight key whose request failed on the server, so a retry can run."""
    k = idempotency_keys.c
    conn.execute(
        delete(idempotency_keys).where(
            k.entity_id == entity_id, k.key == key, k.status == "in_flight"
        )
    )


def purge(conn: Connection, *, expired_before: datetime) -> int:
    """Forget every key claimed before ``expired_before`` (all entities); how many."""
    result = conn.execute(
        delete(idempotency_keys).where(idempotency_keys.c.created_at < expired_before)
    )
    return int(result.rowcount or 0)
