"""API keys: create one (shown once), list, revoke, and authenticate a presented key.

A key is ``rbk_`` + 8 hex characters (its prefix, kept for listings) + ``_`` + 43 characters
of a 256-bit random secret. Only its SHA-256 is stored: the secret has full entropy, so a fast
digest is as strong as a slow password hash would be, and a request's check is one indexed
lookup.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from ratebook.errors import ConfigError, ConflictError, NotFoundError
from ratebook.model.actor import current_actor
from ratebook.model.keys import KeyRow
from ratebook.store import api_keys, audit
from ratebook.store.engine import reading
from ratebook.store.entities import get_entity

#: What a key may do; ``admin`` may do everything.
SCOPES = ("ingest", "read", "review", "admin")
KEY_PREFIX = "rbk_"


@dataclass(frozen=True, slots=True, kw_only=True)
class NewKey:
    """A key just created.

    Attributes:
        key: the stored row.
        secret: the full key text; shown once, never stored.
    """

    key: KeyRow
    secret: str


def digest(secret: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_scopes(text: str) -> list[str]:
    """``ingest,read`` as a list in canonical order.

    Raises:
        ConfigError: ``UNKNOWN_SCOPE`` or ``NO_SCOPE``.
    """
    asked = {s.strip().lower() for s in text.split(",") if s.strip()}
    if not asked:
        raise ConfigError("NO_SCOPE", f"name at least one scope ({', '.join(SCOPES)})")
    unknown = sorted(asked - set(SCOPES))
    if unknown:
        raise ConfigError(
            "UNKNOWN_SCOPE", f"unknown scope {unknown[0]!r} (scopes: {', '.join(SCOPES)})"
        )
    return [s for s in SCOPES if s in asked]


def create_key(
    engine: Engine, *, name: str, scopes: list[str], entity_code: str | None = None
) -> NewKey:
    """Create a key for the entity.

    Raises:
        ConflictError: ``KEY_NAME_TAKEN`` when the entity already has a key of that name.
    """
    if not name.strip() or len(name) > 100:
        raise ConfigError("BAD_KEY_NAME", "a key name is 1 to 100 characters")
    prefix = KEY_PREFIX + secrets.token_hex(4)
    secret = f"{prefix}_{secrets.token_urlsafe(32)}"
    now = datetime.now(UTC)
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        if api_keys.find_by_name(conn, entity.id, name) is not None:
            raise ConflictError("KEY_NAME_TAKEN", f"entity {entity.code} has a key {name!r}")
        key_id = api_keys.add_key(
            conn,
            entity_id=entity.id,
            name=name,
            prefix=prefix,
            secret_sha256=digest(secret),
            scopes=scopes,
            created_by=current_actor(),
            now=now,
        )
        audit.record(
            conn,
            entity_id=entity.id,
            action="key.create",
            object_type="api_key",
            object_id=key_id,
            after={"name": name, "prefix": prefix, "scopes": scopes},
            at=now,
        )
        row = api_keys.find_by_name(conn, entity.id, name)
    if row is None:
        raise RuntimeError(f"key {name!r} not found right after it was stored")
    return NewKey(key=row, secret=secret)


def list_keys(engine: Engine, *, entity_code: str | None = None) -> list[KeyRow]:
    """The entity's keys (without secrets)."""
    with reading(engine).connect() as conn:
        entity = get_entity(conn, entity_code)
        return api_keys.list_keys(conn, entity.id)


def revoke_key(engine: Engine, name: str, *, entity_code: str | None = None) -> KeyRow:
    """Revoke the entity's key called ``name``; it stops working at once.

    Raises:
        NotFoundError: ``KEY_NOT_FOUND``.
        ConflictError: ``KEY_REVOKED`` when it already is.
    """
    now = datetime.now(UTC)
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        row = api_keys.find_by_name(conn, entity.id, name)
        if row is None:
            raise NotFoundError("KEY_NOT_FOUND", f"entity {entity.code} has no key {name!r}")
        if row.revoked_at is not None:
            raise ConflictError("KEY_REVOKED", f"key {name!r} was revoked at {row.revoked_at}")
        api_keys.revoke(conn, row.id, now)
        audit.record(
            conn,
            entity_id=entity.id,
            action="key.revoke",
            object_type="api_key",
            object_id=row.id,
            before={"name": name, "prefix": row.prefix},
            at=now,
        )
        found = api_keys.find_by_name(conn, entity.id, name)
    if found is None:
        raise RuntimeError(f"key {name!r} not found right after it was revoked")
    return found


def well_formed(presented: str) -> bool:
    """Whether ``presented`` has the form of a key (checked before it is hashed)."""
    return presented.startswith(KEY_PREFIX) and len(presented) <= 200


def authenticate(engine: Engine, presented: str) -> KeyRow | None:
    """The live key ``presented`` is, or None (unknown, malformed or revoked)."""
    if not well_formed(presented):
        return None
    wanted = digest(presented)
    with reading(engine).connect() as conn:
        row = api_keys.find_by_digest(conn, wanted)
    if row is None or row.revoked_at is not None:
        return None
    return row


def key_is_live(engine: Engine, key_id: int) -> bool:
    """Whether the key is still live (not revoked), read beside any writer."""
    with reading(engine).connect() as conn:
        return api_keys.is_live(conn, key_id)
