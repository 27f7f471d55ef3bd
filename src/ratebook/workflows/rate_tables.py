"""Rate tables as a caller sees them: the list with their versions, and one table's rows."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine

from ratebook.errors import NotFoundError
from ratebook.model.tariffs import prefix_text
from ratebook.money import AMOUNT_SCALE, PRICE_SCALE, QUANTITY_SCALE, format_fixed
from ratebook.pipeline.steps import decode as decode_steps
from ratebook.store import tariffs
from ratebook.store.entities import get_entity


def list_rate_tables(engine: Engine, *, entity_code: str | None = None) -> list[dict[str, Any]]:
    """Every rate table of the entity with its versions (every revision), by name."""
    with engine.connect() as conn:
        entity = get_entity(conn, entity_code)
        tables = tariffs.table_list(conn, entity.id)
        versions = tariffs.versions(conn, entity.id)
    return [
        {
            "name": table["name"],
            "description": table["description"],
            "versions": [_version(v) for v in versions if v["rate_table_id"] == table["id"]],
        }
        for table in tables
    ]


def _version(v: dict[str, Any]) -> dict[str, Any]:
    return {
        "version_id": v["id"],
        "effective_from": v["effective_from"].isoformat(),
        "revision": v["revision"],
        "currency": v["currency"],
        "timezone": v["timezone"],
        "rounding": {
            "mode": v["rounding_mode"],
            "places": v["rounding_places"],
            "point": v["rounding_point"],
        },
        "source": v["source_name"],
        "rows": v["rows"],
    }


def _steps(text: str | None) -> list[dict[str, str]] | None:
    """Stored steps within a record (integers at their scales) as exact decimal text."""
    steps = decode_steps(text)
    if steps is None:
        return None
    return [
        {
            "from": format_fixed(after, QUANTITY_SCALE),
            "price": format_fixed(price, PRICE_SCALE),
            "increment": format_fixed(increment, QUANTITY_SCALE),
        }
        for after, price, increment in steps
    ]


def _tiers(text: str | None) -> list[dict[str, Any]] | None:
    """Stored tiers (integers at their scales) as exact decimal text."""
    if not text:
        return None
    return [
        {
            "from": format_fixed(int(t["from"]), QUANTITY_SCALE),
            "price": format_fixed(int(t["price"]), PRICE_SCALE),
        }
        for t in json.loads(text)
    ]


def show_rate_table(engine: Engine, name: str, *, entity_code: str | None = None) -> dict[str, Any]:
    """One rate table: its versions, each with its rows (prices as exact decimal text).

    Raises:
        NotFoundError: ``RATE_TABLE_NOT_FOUND``.
    """
    with engine.connect() as conn:
        entity = get_entity(conn, entity_code)
        table = next((t for t in tariffs.table_list(conn, entity.id) if t["name"] == name), None)
        if table is None:
            raise NotFoundError("RATE_TABLE_NOT_FOUND", f"no rate table {name!r}")
        versions = tariffs.versions(conn, entity.id, table["id"])
        rows = tariffs.rows_of(conn, [v["id"] for v in versions])
    by_version: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_version.setdefault(row.version_id, []).append(
            {
                "service": row.service,
                "prefix": prefix_text(row.prefix),
                "destination": row.destination_name,
                "band": row.band,
                "unit": row.unit,
                "price": format_fixed(row.price, PRICE_SCALE),
                "rate_unit": format_fixed(row.rate_unit, QUANTITY_SCALE),
                "connect_fee": format_fixed(row.connect_fee, AMOUNT_SCALE),
                "increment": [
                    format_fixed(row.increment_initial, QUANTITY_SCALE),
                    format_fixed(row.increment_subsequent, QUANTITY_SCALE),
                ],
                "minimum_charge": format_fixed(row.minimum_charge, AMOUNT_SCALE),
                "max_cost": None
                if row.max_cost is None
                else format_fixed(row.max_cost, AMOUNT_SCALE),
                "grace": None if row.grace is None else format_fixed(row.grace, QUANTITY_SCALE),
                "included": None
                if row.included is None
                else format_fixed(row.included, QUANTITY_SCALE),
                "rounding": None
                if row.rounding_mode is None
                else {"places": row.rounding_places, "mode": row.rounding_mode},
                "steps": _steps(row.steps),
                "tier_kind": row.tier_kind,
                "tiers": _tiers(row.tiers),
            }
        )
    return {
        "name": table["name"],
        "description": table["description"],
        "versions": [{**_version(v), "rates": by_version.get(v["id"], [])} for v in versions],
    }
