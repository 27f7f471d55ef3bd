"""Entities: create, find by code (or the only one), list."""

from __future__ import annotations

import json
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from ratebook.errors import ConfigError, NotFoundError
from ratebook.model.parties import Entity
from ratebook.money import RoundingMode
from ratebook.store import driver
from ratebook.store.tables import entities


def _entity(row: Any) -> Entity:
    plan = json.loads(row.dial_plan) if row.dial_plan else {}
    return Entity(
        id=row.id,
        code=row.code,
        name=row.name,
        currency=row.currency,
        timezone=row.timezone,
        region=row.region,
        invoicing_floor=row.invoicing_floor,
        charge_places=row.charge_places,
        rounding_mode=RoundingMode(row.rounding_mode),
        mask_digits=row.mask_digits,
        max_carry_cycles=row.max_carry_cycles,
        fiscal_year_end_month=row.fiscal_year_end_month,
        late_usage=row.late_usage,
        retention_months=row.retention_months,
        national_prefix=plan.get("national_prefix"),
        international_prefixes=tuple(plan.get("international_prefixes", ())),
    )


#: The entity's columns ``entity_from`` reads, as one request's read (the driver's own SQL).
ENTITY_COLUMNS = (
    "id",
    "code",
    "name",
    "currency",
    "timezone",
    "region",
    "invoicing_floor",
    "charge_places",
    "rounding_mode",
    "mask_digits",
    "max_carry_cycles",
    "fiscal_year_end_month",
    "late_usage",
    "retention_months",
    "dial_plan",
)
_BY_CODE = f"SELECT {', '.join(ENTITY_COLUMNS)} FROM entities WHERE code = ?"


def entity_from(values: tuple[Any, ...]) -> Entity:
    """The entity of a row of ``ENTITY_COLUMNS`` read by ``driver.rows``."""
    return _entity(SimpleNamespace(**dict(zip(ENTITY_COLUMNS, values, strict=True))))


def find_entity(conn: Connection, code: str) -> Entity | None:
    """The entity with ``code``, or None."""
    found = driver.rows(conn, _BY_CODE, (code,))
    return entity_from(found[0]) if found else None


#: The first two entities (is there only one?), built once.
_FIRST_TWO = select(entities).order_by(entities.c.id).limit(2)


def get_entity(conn: Connection, code: str | None) -> Entity:
    """The entity named by ``code``, or the only entity when ``code`` is None.

    Raises:
        NotFoundError: ``ENTITY_NOT_FOUND``.
        ConfigError: ``NO_ENTITY`` (run ``ratebook init``) or ``ENTITY_REQUIRED`` (several).
    """
    if code is not None:
        found = find_entity(conn, code)
        if found is None:
            raise NotFoundError("ENTITY_NOT_FOUND", f"no entity {code!r}")
        return found
    rows = conn.execute(_FIRST_TWO).all()
    if not rows:
        raise ConfigError("NO_ENTITY", "no entity yet: run 'ratebook init' first")
    if len(rows) > 1:
        count = conn.execute(select(func.count()).select_from(entities)).scalar_one()
        raise ConfigError(
            "ENTITY_REQUIRED", f"there are {count} entities: name one with --entity CODE"
        )
    return _entity(rows[0])


def create_entity(
    conn: Connection,
    *,
    code: str,
    name: str,
    currency: str,
    timezone: str,
    region: str,
    invoicing_floor: int,
    charge_places: int = 4,
    rounding_mode: RoundingMode = RoundingMode.HALF_UP,
    mask_digits: int = 3,
    now: datetime,
) -> Entity:
    """Insert a new entity and return it."""
    result = conn.execute(
        insert(entities).values(
            code=code,
            name=name,
            currency=currency,
            timezone=timezone,
            region=region,
            invoicing_floor=invoicing_floor,
            charge_places=charge_places,
            rounding_mode=rounding_mode.value,
            mask_digits=mask_digits,
            created_at=now,
        )
    )
    entity_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
    row = conn.execute(select(entities).where(entities.c.id == entity_id)).one()
    return _entity(row)


def list_entities(conn: Connection) -> list[Entity]:
    """All entities, by code."""
    return [_entity(r) for r in conn.execute(select(entities).order_by(entities.c.code))]


def update_billing_policy(
    conn: Connection,
    entity_id: int,
    *,
    invoicing_floor: int | None = None,
    max_carry_cycles: int | None = None,
    fiscal_year_end_month: int | None = None,
    clear_max_carry_cycles: bool = False,
    clear_fiscal_year_end: bool = False,
    late_usage: str | None = None,
    retention_months: int | None = None,
    clear_retention: bool = False,
    dial_plan: dict[str, Any] | None = None,
) -> None:
    """Change an entity's carry-forward and retention policy and its dial plan (an empty
    one: the region's); None leaves a setting as it is."""
    values: dict[str, Any] = {}
    if invoicing_floor is not None:
        values["invoicing_floor"] = invoicing_floor
    if max_carry_cycles is not None or clear_max_carry_cycles:
        values["max_carry_cycles"] = max_carry_cycles
    if fiscal_year_end_month is not None or clear_fiscal_year_end:
        values["fiscal_year_end_month"] = fiscal_year_end_month
    if late_usage is not None:
        values["late_usage"] = late_usage
    if retention_months is not None or clear_retention:
        values["retention_months"] = retention_months
    if dial_plan is not None:
        values["dial_plan"] = json.dumps(dial_plan, sort_keys=True) if dial_plan else None
    if values:
        conn.execute(update(entities).where(entities.c.id == entity_id).values(**values))
