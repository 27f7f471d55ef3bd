"""Loading every entity's reference data into a server's cache before its first request
asks for it, compiled, with the rate rows in force indexed: the first quotes and events after
a start then do not wait for it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import Engine

from ratebook.pipeline.compiled import rating_state
from ratebook.store.engine import reading
from ratebook.store.entities import list_entities
from ratebook.store.reference import ReferenceCache

log = logging.getLogger(__name__)


def warm_references(engine: Engine, references: ReferenceCache) -> list[str]:
    """Load each entity's reference data (and its compiled rating state) into
    ``references``; returns the codes of the entities loaded. A store that cannot be read
    yet (not migrated, unreachable) is left alone: requests load what they need."""
    loaded: list[str] = []
    store = reading(engine)
    try:
        with store.connect() as conn:
            found = list_entities(conn)
        for entity in found:
            with store.connect() as conn:
                reference = references.load(conn, entity.id)
            rating_state(reference).warm(datetime.now(UTC))
            loaded.append(entity.code)
    except Exception:  # a server starts whatever the store's state; requests tell it
        log.warning("reference data not loaded ahead of requests", exc_info=True)
    return loaded
