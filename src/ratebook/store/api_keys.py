"""API keys: stored as the SHA-256 of the key, never the key itself."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, insert, select, update

from ratebook.model.keys import KeyRow
from ratebook.store import driver
from ratebook.store.tables import api_keys, entities


def _select() -> Select[Any]:
    return select(
        api_keys.c.id,
        api_keys.c.entity_id,
        entities.c.code.label("entity_code"),
        api_keys.c.name,
        api_keys.c.prefix,
        api_keys.c.scopes,
        api_keys.c.created_by,
        api_keys.c.created_at,
        api_keys.c.revoked_at,
    ).join(entities, entities.c.id == api_keys.c.entity_id)


def _row(row: Any) -> KeyRow:
    values = row._mapping
    return KeyRow(
        id=values["id"],
        entity_id=values["entity_id"],
        entity_code=values["entity_code"],
        name=values["name"],
        prefix=values["prefix"],
        scopes=frozenset(s for s in values["scopes"].split(",") if s),
        created_by=values["created_by"],
        created_at=values["created_at"],
        revoked_at=values["revoked_at"],
    )


def add_key(
    conn: Connection,
    *,
    entity_id: int,
    name: str,
    prefix: str,
    secret_sha256: str,
    scopes: list[str],
    created_by: str,
    now: datetime,
) -> int:
    """Store a new key's digest; returns its id."""
    result = conn.execute(
        insert(api_keys).values(
            entity_id=entity_id,
            name=name,
            prefix=prefix,
            secret_sha256=secret_sha256,
            scopes=",".join(scopes),
            created_by=created_by,
            created_at=now,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def find_by_digest(conn: Connection, secret_sha256: str) -> KeyRow | None:
    """The key whose digest is ``secret_sha256`` (revoked or not), or None."""
    found = driver.rows(conn, _BY_DIGEST, (secret_sha256,))
    if not found:
        return None
    key_id, entity_id, code, name, prefix, scopes, by, created, revoked = found[0]
    return KeyRow(
        id=key_id,
        entity_id=entity_id,
        entity_code=code,
        name=name,
        prefix=prefix,
        scopes=frozenset(s for s in scopes.split(",") if s),
        created_by=by,
        created_at=driver.instant(created),  # type: ignore[arg-type]
        revoked_at=driver.instant(revoked),
    )


#: ``_select`` for one digest, as a request's read (the driver's own SQL).
_BY_DIGEST = (
    "SELECT k.id, k.entity_id, e.code, k.name, k.prefix, k.scopes, k.created_by, k.created_at,"
    " k.revoked_at FROM api_keys k JOIN entities e ON e.id = k.entity_id"
    " WHERE k.secret_sha256 = ?"
)


def is_live(conn: Connection, key_id: int) -> bool:
    """Whether the key exists and is not revoked."""
    found = driver.rows(conn, "SELECT revoked_at FROM api_keys WHERE id = ?", (key_id,))
    return bool(found) and found[0][0] is None


def find_by_name(conn: Connection, entity_id: int, name: str) -> KeyRow | None:
    """The entity's key called ``name``, or None."""
    row = conn.execute(
        _select().where(api_keys.c.entity_id == entity_id, api_keys.c.name == name)
    ).first()
    return _row(row) if row else None


def list_keys(conn: Connection, entity_id: int) -> list[KeyRow]:
    """The entity's keys, revoked ones included, by name."""
    rows = conn.execute(
        _select().where(api_keys.c.entity_id == entity_id).order_by(api_keys.c.name)
    )
    return [_row(r) for r in rows]


def revoke(conn: Connection, key_id: int, now: datetime) -> None:
    """Mark a key revoked (it stops working at once)."""
    conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=now))
