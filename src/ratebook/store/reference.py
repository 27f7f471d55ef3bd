"""Loading the reference data rating reads (customers' identifiers, assignments, rate tables)."""

from __future__ import annotations

from sqlalchemy import Connection

from ratebook.pipeline.price import Reference
from ratebook.store import parties, tariffs


def load_reference(conn: Connection, entity_id: int) -> Reference:
    """All of an entity's reference data, as the pricing stages want it."""
    return Reference(
        identifiers=parties.load_identifiers(conn, entity_id),
        assignments=parties.load_assignments(conn, entity_id),
        versions=tariffs.load_versions(conn, entity_id),
        rows=tariffs.load_rows(conn, entity_id),
    )
