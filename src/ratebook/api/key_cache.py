"""Live API keys kept between requests, for the one route whose writes check the key again.

Checking a key in the store takes a worker thread per request, and handing the check to a
thread and back costs more than the rest of what a single pushed event does. ``POST
/v1/events`` therefore takes a key it has seen from here. Its writer checks the
key again inside the transaction that stores the events (``ingest_event_groups(key_id=)``), so
a key revoked in the meantime, by any process, stores nothing and gets 401, and is dropped
from here. Every other route checks the store on every request.

Only live keys that a request presented are kept, by the digest of their secret (never the
secret), so the cache is no larger than the keys in use.
"""

from __future__ import annotations

import threading

from ratebook.model.keys import KeyRow


class KeyCache:
    """Live keys by the SHA-256 of their secret."""

    def __init__(self) -> None:
        self._live: dict[str, KeyRow] = {}
        self._lock = threading.Lock()

    def get(self, secret_sha256: str) -> KeyRow | None:
        """The key kept for this digest, or None."""
        return self._live.get(secret_sha256)

    def keep(self, secret_sha256: str, key: KeyRow) -> None:
        """Keep a key the store has just confirmed live."""
        if key.revoked_at is None:
            with self._lock:
                self._live[secret_sha256] = key

    def drop(self, key_id: int) -> None:
        """Forget a key found revoked."""
        with self._lock:
            for digest in [d for d, k in self._live.items() if k.id == key_id]:
                del self._live[digest]
