"""An API key as the store knows it: never its secret, only its digest's owner and powers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRow:
    """A stored key, without its secret.

    Attributes:
        id: store key.
        entity_id: the entity every request made with the key is confined to.
        entity_code: that entity's code.
        name: who holds the key; requests made with it are audited under this name.
        prefix: the key's first characters, to tell keys apart in listings and logs.
        scopes: what the key may do (``ingest``, ``read``, ``review``, ``admin``).
        created_by: who created it.
        created_at: when.
        revoked_at: when it was revoked, or None while it is live.
    """

    id: int
    entity_id: int
    entity_code: str
    name: str
    prefix: str
    scopes: frozenset[str]
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
