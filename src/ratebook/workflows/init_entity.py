"""Create the database (migrated to the current schema) and an entity; harmless when repeated."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from ratebook.errors import ConfigError
from ratebook.model.parties import Entity
from ratebook.money import AMOUNT_SCALE, AmountError, RoundingMode, parse_fixed
from ratebook.pipeline.numbers import number_plan
from ratebook.sources.dates import is_zone
from ratebook.store import audit
from ratebook.store.engine import reading, schema_versions
from ratebook.store.entities import create_entity, find_entity, get_entity
from ratebook.store.entities import list_entities as store_entities


@dataclass(frozen=True, slots=True, kw_only=True)
class InitResult:
    """The entity, and whether this call created it."""

    entity: Entity
    created: bool


def init_entity(
    engine: Engine,
    *,
    code: str,
    name: str,
    currency: str,
    timezone: str,
    region: str,
    floor: str,
    charge_places: int = 4,
    rounding: str = "half-up",
    mask_digits: int = 3,
) -> InitResult:
    """Create entity ``code`` unless it exists (then nothing changes).

    Raises:
        ConfigError: a setting that cannot work (unknown zone, region, rounding; bad floor).

    One function: each setting is checked in turn, then stored in one transaction.
    """
    now = datetime.now(UTC)
    if not is_zone(timezone):
        raise ConfigError("UNKNOWN_TIME_ZONE", f"{timezone!r} is not an IANA time zone")
    try:
        number_plan(region)
    except ValueError:
        raise ConfigError("UNKNOWN_REGION", f"{region!r} is not a known region code") from None
    if len(currency) != 3 or not currency.isalpha():
        raise ConfigError("BAD_CURRENCY", f"{currency!r} is not an ISO 4217 currency code")
    try:
        mode = RoundingMode(rounding)
    except ValueError:
        modes = ", ".join(m.value for m in RoundingMode)
        raise ConfigError("BAD_ROUNDING", f"rounding must be one of {modes}") from None
    if not 0 <= mask_digits <= 15:
        raise ConfigError("BAD_MASK", "masked digits must be 0 to 15")
    if not 0 <= charge_places <= AMOUNT_SCALE:
        raise ConfigError("BAD_PLACES", f"charge places must be 0 to {AMOUNT_SCALE}")
    try:
        floor_units = parse_fixed(floor, AMOUNT_SCALE)
    except AmountError as exc:
        raise ConfigError("BAD_FLOOR", f"--floor {exc}") from None
    with engine.begin() as conn:
        existing = find_entity(conn, code)
        if existing is not None:
            return InitResult(entity=existing, created=False)
        entity = create_entity(
            conn,
            code=code,
            name=name,
            currency=currency.upper(),
            timezone=timezone,
            region=region.upper(),
            invoicing_floor=floor_units,
            charge_places=charge_places,
            rounding_mode=mode,
            mask_digits=mask_digits,
            now=now,
        )
        audit.record(
            conn,
            entity_id=entity.id,
            action="entity.create",
            object_type="entity",
            object_id=entity.code,
            after={
                "name": entity.name,
                "currency": entity.currency,
                "timezone": entity.timezone,
                "region": entity.region,
                "invoicing_floor": entity.invoicing_floor,
                "charge_places": entity.charge_places,
                "rounding_mode": entity.rounding_mode.value,
                "mask_digits": entity.mask_digits,
            },
            at=now,
        )
    return InitResult(entity=entity, created=True)


def list_entities(engine: Engine) -> list[Entity]:
    """Every entity of the store, by code."""
    with engine.connect() as conn:
        return store_entities(conn)


def entity_named(engine: Engine, code: str) -> Entity:
    """The entity of that code.

    Raises:
        NotFoundError: ``ENTITY_NOT_FOUND``.
    """
    with reading(engine).connect() as conn:
        return get_entity(conn, code)


def store_schema(engine: Engine) -> str:
    """The schema the store is at."""
    return ", ".join(schema_versions(engine))
