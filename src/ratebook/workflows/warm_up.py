"""Readying a server before its first requests: every entity's reference data loaded into
its cache, compiled, with the rate rows in force indexed, and the event writer's path
rehearsed, so that the first quotes and events after a start wait for neither."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from sqlalchemy import Engine

from ratebook.pipeline.compiled import rating_state
from ratebook.settings import Settings
from ratebook.store.engine import reading
from ratebook.store.entities import list_entities
from ratebook.store.reference import ReferenceCache
from ratebook.store.usage import newest_rated_event
from ratebook.workflows.ingest_events import EventGroup, ingest_event_groups

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


def rehearse_events(engine: Engine, references: ReferenceCache, settings: Settings) -> int:
    """Store each entity's newest rated record again as pushed events under new ids, one
    group of one and one of two, and roll every group back (``dry_run``): the event writer's
    statements, caches and plans are then ready before the first real group, which would
    otherwise take several times as long as the next ones. Returns the groups rehearsed. A
    store that cannot be read or written yet is left alone."""
    rehearsed = 0
    try:
        with reading(engine).connect() as conn:
            entities = list_entities(conn)
            events = {entity.code: newest_rated_event(conn, entity.id) for entity in entities}
        for code, event in events.items():
            if event is None:
                continue
            for size in (1, 2):
                group = EventGroup(
                    events=[
                        {**event, "record_id": f"rehearsal-{uuid.uuid4()}"} for _ in range(size)
                    ]
                )
                ingest_event_groups(
                    engine,
                    [group],
                    entity_code=code,
                    settings=settings,
                    dry_run=True,
                    references=references,
                )
                rehearsed += 1
    except Exception:  # a server starts whatever the store's state; requests tell it
        log.warning("the event path was not rehearsed ahead of requests", exc_info=True)
    return rehearsed
