"""Loading the reference data rating reads (customers' identifiers, assignments, rate tables).

Its writers hold the reference lock and its readers may keep it between requests: see
``store.reference_lock``.
"""

from __future__ import annotations

import threading

from sqlalchemy import Connection

from ratebook.model.parties import Entity
from ratebook.pipeline.compiled import rating_state, require_loading_allowed
from ratebook.pipeline.price import Reference
from ratebook.store import parties, tariffs
from ratebook.store.reference_lock import reference_stamp


def load_reference(conn: Connection, entity_id: int) -> Reference:
    """All of an entity's reference data, as the pricing stages want it."""
    return Reference(
        identifiers=parties.load_identifiers(conn, entity_id),
        assignments=parties.load_assignments(conn, entity_id),
        versions=tariffs.load_versions(conn, entity_id),
        rows=tariffs.load_rows(conn, entity_id),
    )


def reference_for(
    conn: Connection,
    entity_id: int,
    references: ReferenceCache | None,
    *,
    stamp: tuple[int, ...] | None = None,
) -> Reference:
    """The entity's reference data: from ``references`` when a caller keeps one between
    transactions (``ReferenceCache.load``, given ``stamp``), else loaded."""
    if references is not None:
        return references.load(conn, entity_id, stamp=stamp)
    return load_reference(conn, entity_id)


class ReferenceCache:
    """Each entity's reference data, kept between transactions while it is unchanged: a
    request of the API then reads one stamp (``store.reference_lock.reference_stamp``)
    instead of every customer identifier and rate row of the entity. One per app, shared by
    its threads; the frames it hands out are never modified. When the data changes, one
    thread loads it anew and the others that want the same stamp wait for that load rather
    than each loading it again."""

    def __init__(self) -> None:
        self._held: dict[int, tuple[tuple[int, ...], Reference]] = {}
        self._lock = threading.Lock()
        self._loading: dict[int, threading.Lock] = {}
        self._entities: dict[str, Entity] = {}

    def latest(self, entity_id: int) -> tuple[tuple[int, ...], Reference] | None:
        """The entity's reference data last kept, with the stamp it was loaded under, or
        None: for a caller that prices first and then checks that stamp against the
        store's (``workflows.quote_in_cycle``)."""
        with self._lock:
            return self._held.get(entity_id)

    def note_entity(self, entity: Entity) -> None:
        """Keep ``entity`` as the store last gave it, for ``entity`` to hand out by code."""
        with self._lock:
            self._entities[entity.code] = entity

    def entity(self, code: str) -> Entity | None:
        """The entity ``code`` as last noted (checked against the store by the caller), or
        None."""
        with self._lock:
            return self._entities.get(code)

    def _kept(self, entity_id: int, stamp: tuple[int, ...]) -> Reference | None:
        with self._lock:
            held = self._held.get(entity_id)
        return held[1] if held is not None and held[0] == stamp else None

    def load(
        self, conn: Connection, entity_id: int, *, stamp: tuple[int, ...] | None = None
    ) -> Reference:
        """The entity's reference data as ``conn``'s transaction sees it: the kept copy when
        the stamp is the one it was loaded under, else loaded (and kept, unless a writer is
        in flight; inside ``pipeline.compiled.warm_only``, ``NotWarmError`` instead).
        ``stamp``: the stamp already read in ``conn``'s transaction, one snapshot throughout
        (``store.quote_reads``); without it, ``reference_stamp`` reads it."""
        stamp = stamp or reference_stamp(conn, entity_id)
        kept = None if stamp is None else self._kept(entity_id, stamp)
        if kept is not None:
            return kept
        require_loading_allowed()
        if stamp is None:
            return load_reference(conn, entity_id)
        with self._lock:
            loading = self._loading.setdefault(entity_id, threading.Lock())
        with loading:
            kept = self._kept(entity_id, stamp)  # loaded meanwhile by another thread
            if kept is not None:
                return kept
            reference = load_reference(conn, entity_id)
            rating_state(reference)  # compiled once, for the scalar path of every request
            with self._lock:
                self._held[entity_id] = (stamp, reference)
        return reference
