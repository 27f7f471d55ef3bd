"""Setting up what a close bills besides usage: subscriptions (from a CSV file or one at a
time), an entity's tax rates, and its carry-forward policy.

Subscriptions file columns: ``reference,account,plan,fee,interval,billing,starts_on`` and
optionally ``ends_on,category``. ``interval`` is ``monthly`` or ``annual``; ``billing`` is
``advance`` or ``arrears``; dates are ``YYYY-MM-DD`` (``ends_on`` is the last day of service).
The file is imported whole or not at all; importing it again changes nothing, and a changed
``ends_on`` is the only change accepted for a known reference.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

from sqlalchemy import Connection, Engine

from ratebook.billing.recurring import Billing, Interval, Subscription
from ratebook.billing.tax import PPM, TaxRate, Treatment
from ratebook.errors import ConfigError, ConflictError, InputError, NotFoundError
from ratebook.model.parties import Entity
from ratebook.money import AMOUNT_SCALE, AmountError, parse_fixed
from ratebook.sources.csvread import reference_rows
from ratebook.store import audit, billing, parties, subscriptions
from ratebook.store.entities import get_entity, update_billing_policy

REQUIRED = ("reference", "account", "plan", "fee", "interval", "billing", "starts_on")


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionSpec:
    """A subscription as a user gives it (text already checked)."""

    reference: str
    account: str
    plan: str
    fee: int
    interval: Interval
    billing: Billing
    starts_on: date
    ends_on: date | None
    category: str = "recurring"


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionsResult:
    """What an import or an add did."""

    rows: int
    added: int
    ended: int
    unchanged: int


def _parse_date(text: str, *, path: Path | str, line: int | None, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(
            "BAD_DATE", f"{text!r} is not a date (YYYY-MM-DD)", path=path, line=line, field=field
        ) from None


def parse_spec(
    values: dict[str, str], *, path: Path | str = "--", line: int | None = None
) -> SubscriptionSpec:
    """Check one subscription's text fields; errors name the field (and file line)."""

    def need(name: str) -> str:
        text = (values.get(name) or "").strip()
        if not text:
            raise InputError("MISSING_VALUE", f"{name} is empty", path=path, line=line, field=name)
        return text

    try:
        fee = parse_fixed(need("fee"), AMOUNT_SCALE)
    except AmountError as exc:
        raise InputError(exc.code, str(exc), path=path, line=line, field="fee") from None
    choices = {"interval": [i.value for i in Interval], "billing": [b.value for b in Billing]}
    for name, allowed in choices.items():
        if need(name).lower() not in allowed:
            raise InputError(
                "UNKNOWN_VALUE",
                f"{values[name]!r} is not one of {', '.join(allowed)}",
                path=path,
                line=line,
                field=name,
            )
    starts_on = _parse_date(need("starts_on"), path=path, line=line, field="starts_on")
    end_text = (values.get("ends_on") or "").strip()
    ends_on = _parse_date(end_text, path=path, line=line, field="ends_on") if end_text else None
    if ends_on is not None and ends_on < starts_on:
        raise InputError(
            "BAD_RANGE", "ends_on is before starts_on", path=path, line=line, field="ends_on"
        )
    return SubscriptionSpec(
        reference=need("reference"),
        account=need("account"),
        plan=need("plan"),
        fee=fee,
        interval=Interval(values["interval"].strip().lower()),
        billing=Billing(values["billing"].strip().lower()),
        starts_on=starts_on,
        ends_on=ends_on,
        category=(values.get("category") or "").strip() or "recurring",
    )


def _read(path: Path) -> list[tuple[int, SubscriptionSpec]]:
    return [
        (line, parse_spec(row, path=path, line=line))
        for line, row in reference_rows(path, REQUIRED)
    ]


def _store(
    conn: Connection, entity: Entity, spec: SubscriptionSpec, *, path: Path | str, line: int | None
) -> str:
    """Add, end or keep one subscription: returns ``added``, ``ended`` or ``unchanged``."""
    customer = parties.customer_by_account(conn, entity.id, spec.account)
    if customer is None:
        raise InputError(
            "UNKNOWN_CUSTOMER",
            f"no customer {spec.account!r}",
            path=path,
            line=line,
            field="account",
        )
    known = subscriptions.find_subscription(conn, entity.id, spec.reference)
    if known is None:
        subscriptions.add_subscription(
            conn,
            entity.id,
            customer_id=customer[0],
            reference=spec.reference,
            plan=spec.plan,
            fee=spec.fee,
            interval=spec.interval,
            billing=spec.billing,
            starts_on=spec.starts_on,
            ends_on=spec.ends_on,
            category=spec.category,
        )
        return "added"
    terms = (customer[0], spec.plan, spec.fee, spec.interval, spec.billing, spec.starts_on)
    held = (known.customer_id, known.plan, known.fee, known.interval, known.billing)
    if terms != (*held, known.starts_on) or spec.category != known.category:
        raise ConflictError(
            "SUBSCRIPTION_CHANGED",
            f"subscription {spec.reference!r} exists with other terms; only its end date can "
            "change (end it and add a new one)",
        )
    if spec.ends_on == known.ends_on:
        return "unchanged"
    if spec.ends_on is None:
        raise ConflictError(
            "SUBSCRIPTION_CHANGED", f"subscription {spec.reference!r} has ended; it cannot reopen"
        )
    subscriptions.end_subscription(conn, known.id, spec.ends_on)
    return "ended"


def import_subscriptions(
    engine: Engine, path: Path, *, entity_code: str | None = None
) -> SubscriptionsResult:
    """Import a subscriptions file (whole or not at all)."""
    rows = _read(path)
    counts = {"added": 0, "ended": 0, "unchanged": 0}
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        for line, spec in rows:
            counts[_store(conn, entity, spec, path=path, line=line)] += 1
        _audit(
            conn, entity, "subscriptions.import", "file", str(path), {"rows": len(rows), **counts}
        )
    return SubscriptionsResult(rows=len(rows), **counts)


def add_subscription(
    engine: Engine, spec: SubscriptionSpec, *, entity_code: str | None = None
) -> SubscriptionsResult:
    """Add one subscription (or end a known one)."""
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        outcome = _store(conn, entity, spec, path="--", line=None)
        _audit(
            conn,
            entity,
            f"subscription.{outcome}",
            "subscription",
            spec.reference,
            {"account": spec.account, "plan": spec.plan, "outcome": outcome},
        )
    return SubscriptionsResult(
        rows=1, **{k: int(k == outcome) for k in ("added", "ended", "unchanged")}
    )


def end_subscription(
    engine: Engine, reference: str, ends_on: date, *, entity_code: str | None = None
) -> Subscription:
    """Set a subscription's last day of service."""
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        known = subscriptions.find_subscription(conn, entity.id, reference)
        if known is None:
            raise NotFoundError("SUBSCRIPTION_NOT_FOUND", f"no subscription {reference!r}")
        if ends_on < known.starts_on:
            raise InputError(
                "BAD_RANGE", "the end is before the start", path="--ends-on", field="ends_on"
            )
        subscriptions.end_subscription(conn, known.id, ends_on)
        _audit(
            conn,
            entity,
            "subscription.end",
            "subscription",
            reference,
            {"ends_on": ends_on.isoformat(), "was": str(known.ends_on) if known.ends_on else None},
        )
        return dataclasses.replace(known, ends_on=ends_on)


def list_subscriptions(
    engine: Engine, *, account: str | None = None, entity_code: str | None = None
) -> tuple[Entity, list[tuple[str, Subscription]]]:
    """The entity and its subscriptions as ``(account, subscription)``."""
    with engine.connect() as conn:
        entity = get_entity(conn, entity_code)
        return entity, subscriptions.list_subscriptions(conn, entity.id, account=account)


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
        billing.set_tax_rate(conn, entity.id, tax)
        _audit(
            conn,
            entity,
            "tax.set",
            "tax_rate",
            category,
            {"treatment": treatment.value, "rate_ppm": rate_ppm, "label": label},
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
    entity_code: str | None = None,
) -> Entity:
    """Change the entity's invoicing floor, carry limit, fiscal year end and what imports do
    with usage of a closed cycle (``bill`` or ``reject``)."""
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
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        update_billing_policy(
            conn,
            entity.id,
            invoicing_floor=floor_units,
            max_carry_cycles=max_carry_cycles,
            fiscal_year_end_month=fiscal_year_end_month,
            clear_max_carry_cycles=no_max_carry,
            clear_fiscal_year_end=no_fiscal_year_end,
            late_usage=late_usage,
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
        )
        return changed


def _policy(entity: Entity) -> dict[str, object]:
    return {
        "invoicing_floor": entity.invoicing_floor,
        "max_carry_cycles": entity.max_carry_cycles,
        "fiscal_year_end_month": entity.fiscal_year_end_month,
        "late_usage": entity.late_usage,
    }


def close_account(
    engine: Engine, account: str, closed_on: date, *, entity_code: str | None = None
) -> datetime:
    """Close a customer's account at the start of ``closed_on`` (entity's zone); the close of
    the cycle holding that day issues its final invoice, whatever the floor.

    Raises:
        NotFoundError: ``CUSTOMER_NOT_FOUND``.
    """
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        customer = parties.customer_by_account(conn, entity.id, account)
        if customer is None:
            raise NotFoundError("CUSTOMER_NOT_FOUND", f"no customer {account!r}")
        closed_at = datetime.combine(closed_on, time(), tzinfo=entity.zone).astimezone(UTC)
        parties.close_customer(conn, customer[0], closed_at)
        _audit(conn, entity, "customer.close", "customer", account, {"closed_at": str(closed_at)})
    return closed_at


def set_customer_floor(
    engine: Engine, account: str, floor: str | None, *, entity_code: str | None = None
) -> int | None:
    """Give one customer its own invoicing floor (``None`` returns it to the entity's).

    Raises:
        NotFoundError: ``CUSTOMER_NOT_FOUND``.
    """
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
        _audit(conn, entity, "customer.floor", "customer", account, {"invoicing_floor": units})
    return units


def _audit(
    conn: Connection, entity: Entity, action: str, kind: str, name: str, after: object
) -> None:
    audit.record(
        conn, entity_id=entity.id, action=action, object_type=kind, object_id=name, after=after
    )
