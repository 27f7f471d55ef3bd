"""``ratebook check``: every ledger invariant of the store, each violation named
(``store.checks``), read from one snapshot beside any writer."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from ratebook.model.parties import Entity
from ratebook.store.checks import Checked, check_store
from ratebook.store.engine import snapshot
from ratebook.store.entities import get_entity, list_entities


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityCheck:
    """One entity's check. ``checked.violations`` is empty when every invariant holds."""

    entity: Entity
    checked: Checked


def check_ledger(engine: Engine, *, entity_code: str | None = None) -> list[EntityCheck]:
    """Check the named entity, or every entity when ``entity_code`` is None."""
    with snapshot(engine) as conn:
        chosen = [get_entity(conn, entity_code)] if entity_code else list_entities(conn)
        return [EntityCheck(entity=e, checked=check_store(conn, e.id)) for e in chosen]
