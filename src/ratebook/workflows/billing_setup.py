"""Setting up what a close needs besides usage and plans: an entity's tax rates, its
carry-forward and late-usage policy, a customer's own floor, and closing an account."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

from sqlalchemy import Connection, Engine

from ratebook.billing.tax import PPM, TaxRate, Treatment
from ratebook.errors import ConfigError, InputError, NotFoundError
from ratebook.model.parties import Entity
from ratebook.money import AMOUNT_SCALE, AmountError, parse_fixed
from ratebook.pipeline.numbers import entity_plan
from ratebook.store import audit, billing, parties
from ratebook.store.entities import get_entity, update_billing_policy

REQUIRED = ("reference", "account", "plan", "fee", "interval", "billing", "starts_on")


def set_tax(
    engine: Engine,
    category: str,
    *,
    rate: str | None,
    treatment: Treatment,
    label: str,
    entity_code: str | None = None,
) -> TaxRate:
    """Set the tax of an invoice line category (``*`` for every other one).

    ``rate`` is a percentage (``"8"``) for the standard treatment; zero-rated and exempt
    categories take none.
    """
    now = datetime.now(UTC)
    if treatment is Treatment.STANDARD:
        if rate is None:
            raise ConfigError("RATE_REQUIRED", "a standard tax needs --rate PERCENT")
        try:
            rate_ppm = parse_fixed(rate, 4)
        except AmountError as exc:
            raise InputError(exc.code, str(exc), path="--rate", field="rate") from None
        if not 0 < rate_ppm <= PPM:
            raise InputError("OUT_OF_RANGE", "a rate is between 0 and 100", path="--rate")
    else:
        if rate is not None:
            raise ConfigError("RATE_NOT_ALLOWED", f"a {treatment.value} category has no rate")
        rate_ppm = 0
    tax = TaxRate(category=category, treatment=treatment, rate_ppm=rate_ppm, label=label)
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        billing.set_tax_rate(conn, entity.id, tax, now=now)
        audit_setting(
            conn,
            entity,
            "tax.set",
            "tax_rate",
            category,
            {"treatment": treatment.value, "rate_ppm": rate_ppm, "label": label},
            now=now,
        )
    return tax


def list_tax(engine: Engine, *, entity_code: str | None = None) -> list[TaxRate]:
    """The entity's tax rates by category."""
    with engine.connect() as conn:
        entity = get_entity(conn, entity_code)
        rates = billing.load_tax_rates(conn, entity.id)
    return [rates[k] for k in sorted(rates)]


def set_policy(
    engine: Engine,
    *,
    floor: str | None = None,
    max_carry_cycles: int | None = None,
    fiscal_year_end_month: int | None = None,
    no_max_carry: bool = False,
    no_fiscal_year_end: bool = False,
    late_usage: str | None = None,
    retention_months: int | None = None,
    no_retention: bool = False,
    national_prefix: str | None = None,
    international_prefixes: list[str] | None = None,
    no_dial_plan: bool = False,
    entity_code: str | None = None,
) -> Entity:
    """Change the entity's invoicing floor, carry limit, fiscal year end, what imports do
    with usage of a closed cycle (``bill`` or ``reject``), how many months the raw content
    of call records is kept, and the prefixes its switches write before national and
    international numbers (``no_dial_plan``: the region's again)."""
    now = datetime.now(UTC)
    floor_units = None
    if floor is not None:
        try:
            floor_units = parse_fixed(floor, AMOUNT_SCALE)
        except AmountError as exc:
            raise InputError(exc.code, str(exc), path="--floor", field="floor") from None
    if max_carry_cycles is not None and max_carry_cycles < 0:
        raise InputError("OUT_OF_RANGE", "must be 0 or more", path="--max-carry-cycles")
    if fiscal_year_end_month is not None and not 1 <= fiscal_year_end_month <= 12:
        raise InputError("OUT_OF_RANGE", "a month is 1 to 12", path="--fiscal-year-end")
    if late_usage is not None and late_usage not in ("bill", "reject"):
        raise InputError("UNKNOWN_CHOICE", "late usage is 'bill' or 'reject'", path="--late-usage")
    if retention_months is not None and retention_months < 1:
        raise InputError("OUT_OF_RANGE", "must be 1 or more", path="--retention-months")
    for prefix in [*(international_prefixes or ()), national_prefix or "0"]:
        if not re.fullmatch(r"\d{1,4}", prefix):
            raise InputError(
                "BAD_PREFIX",
                f"{prefix!r} is not a dialling prefix (1 to 4 digits)",
                path="--international-prefix"
                if prefix in (international_prefixes or ())
                else "--national-prefix",
            )
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        plan: dict[str, object] | None = None
        if no_dial_plan:
            plan = {}
        elif national_prefix is not None or international_prefixes:
            plan = {
                "national_prefix": national_prefix or entity.national_prefix,
                "international_prefixes": list(
                    international_prefixes or entity.international_prefixes
                ),
            }
            plan = {key: value for key, value in plan.items() if value}
        update_billing_policy(
            conn,
            entity.id,
            invoicing_floor=floor_units,
            max_carry_cycles=max_carry_cycles,
            fiscal_year_end_month=fiscal_year_end_month,
            clear_max_carry_cycles=no_max_carry,
            clear_fiscal_year_end=no_fiscal_year_end,
            late_usage=late_usage,
            retention_months=retention_months,
            clear_retention=no_retention,
            dial_plan=plan,
        )
        changed = get_entity(conn, entity.code)
        if _policy(changed) == _policy(entity):
            return changed
        audit.record(
            conn,
            entity_id=entity.id,
            action="entity.policy",
            object_type="entity",
            object_id=entity.code,
            before=_policy(entity),
            after=_policy(changed),
            at=now,
        )
        return changed


def dial_prefixes(entity: Entity) -> tuple[str | None, str]:
    """The national prefix and the international prefixes (``00 or 011``) the entity's
    numbers are read with: its own where it set them, else its region's."""
    plan = entity_plan(entity)
    return plan.national_prefix, " or ".join(entity.international_prefixes) or (
        plan.international_prefix
    )


def _policy(entity: Entity) -> dict[str, object]:
    return {
        "invoicing_floor": entity.invoicing_floor,
        "max_carry_cycles": entity.max_carry_cycles,
        "fiscal_year_end_month": entity.fiscal_year_end_month,
        "late_usage": entity.late_usage,
        "retention_months": entity.retention_months,
        "national_prefix": entity.national_prefix,
        "international_prefixes": list(entity.international_prefixes),
    }


def close_account(
    engine: Engine, account: str, closed_on: date, *, entity_code: str | None = None
) -> datetime:
    """Close a customer's account at the start of ``closed_on`` (entity's zone); the close of
    the cycle holding that day issues its final invoice, whatever the floor.

    Raises:
        NotFoundError: ``CUSTOMER_NOT_FOUND``.
    """
    now = datetime.now(UTC)
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        customer = parties.customer_by_account(conn, entity.id, account)
        if customer is None:
            raise NotFoundError("CUSTOMER_NOT_FOUND", f"no customer {account!r}")
        closed_at = datetime.combine(closed_on, time(), tzinfo=entity.zone).astimezone(UTC)
        parties.close_customer(conn, customer[0], closed_at)
        audit_setting(
            conn,
            entity,
            "customer.close",
            "customer",
            account,
            {"closed_at": str(closed_at)},
            now=now,
        )
    return closed_at


def set_customer_floor(
    engine: Engine, account: str, floor: str | None, *, entity_code: str | None = None
) -> int | None:
    """Give one customer its own invoicing floor (``None`` returns it to the entity's).

    Raises:
        NotFoundError: ``CUSTOMER_NOT_FOUND``.
    """
    now = datetime.now(UTC)
    units = None
    if floor is not None:
        try:
            units = parse_fixed(floor, AMOUNT_SCALE)
        except AmountError as exc:
            raise InputError(exc.code, str(exc), path="--floor", field="floor") from None
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        customer = parties.customer_by_account(conn, entity.id, account)
        if customer is None:
            raise NotFoundError("CUSTOMER_NOT_FOUND", f"no customer {account!r}")
        parties.set_customer_floor(conn, customer[0], units)
        audit_setting(
            conn,
            entity,
            "customer.floor",
            "customer",
            account,
            {"invoicing_floor": units},
            now=now,
        )
    return units


def audit_setting(
    conn: Connection,
    entity: Entity,
    action: str,
    kind: str,
    name: str,
    after: object,
    *,
    now: datetime,
) -> None:
    """Audit a change of a setting (tax, policy, a customer's floor or closure, a plan)."""
    audit.record(
        conn,
        entity_id=entity.id,
        action=action,
        object_type=kind,
        object_id=name,
        after=after,
        at=now,
    )
