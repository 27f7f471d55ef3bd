"""Recurring plans: subscriptions imported from a file or added one at a time, ended and
listed; a close bills them (``billing.recurring``).

Subscriptions file columns: ``reference,account,plan,fee,interval,billing,starts_on`` and
optionally ``ends_on,category``. ``interval`` is ``monthly`` or ``annual``; ``billing`` is
``advance`` or ``arrears``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine

from ratebook.billing.recurring import Billing, Interval, Subscription
from ratebook.errors import ConflictError, InputError, NotFoundError
from ratebook.model.parties import Entity
from ratebook.money import AMOUNT_SCALE, AmountError, parse_fixed
from ratebook.sources.csvread import reference_rows
from ratebook.store import parties, subscriptions
from ratebook.store.entities import get_entity
from ratebook.workflows.billing_setup import audit_setting

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
    now = datetime.now(UTC)
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
            now=now,
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
    now = datetime.now(UTC)
    rows = _read(path)
    counts = {"added": 0, "ended": 0, "unchanged": 0}
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        for line, spec in rows:
            counts[_store(conn, entity, spec, path=path, line=line)] += 1
        audit_setting(
            conn,
            entity,
            "subscriptions.import",
            "file",
            str(path),
            {"rows": len(rows), **counts},
            now=now,
        )
    return SubscriptionsResult(rows=len(rows), **counts)


def add_subscription(
    engine: Engine, spec: SubscriptionSpec, *, entity_code: str | None = None
) -> SubscriptionsResult:
    """Add one subscription (or end a known one)."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        outcome = _store(conn, entity, spec, path="--", line=None)
        audit_setting(
            conn,
            entity,
            f"subscription.{outcome}",
            "subscription",
            spec.reference,
            {"account": spec.account, "plan": spec.plan, "outcome": outcome},
            now=now,
        )
    return SubscriptionsResult(
        rows=1, **{k: int(k == outcome) for k in ("added", "ended", "unchanged")}
    )


def end_subscription(
    engine: Engine, reference: str, ends_on: date, *, entity_code: str | None = None
) -> Subscription:
    """Set a subscription's last day of service."""
    now = datetime.now(UTC)
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
        audit_setting(
            conn,
            entity,
            "subscription.end",
            "subscription",
            reference,
            {"ends_on": ends_on.isoformat(), "was": str(known.ends_on) if known.ends_on else None},
            now=now,
        )
        return dataclasses.replace(known, ends_on=ends_on)


def list_subscriptions(
    engine: Engine, *, account: str | None = None, entity_code: str | None = None
) -> tuple[Entity, list[tuple[str, Subscription]]]:
    """The entity and its subscriptions as ``(account, subscription)``."""
    with engine.connect() as conn:
        entity = get_entity(conn, entity_code)
        return entity, subscriptions.list_subscriptions(conn, entity.id, account=account)
