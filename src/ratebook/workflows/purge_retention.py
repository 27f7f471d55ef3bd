"""The retention purge: the raw content of call records older than the entity's retention
(its ``policy --retention-months``) is removed, audited, and the rest of the store kept whole.

What goes: each record's source line, caller, destination and attributes, and the raw rows of
its exceptions and corrections. What stays: the record's key (so a re-sent record is still a
duplicate), digest, service, time and quantity, its charges, the ledger, invoices, filed
reports and the audit chain, so ``audit verify --deep`` still passes. The cut is a month
boundary in the entity's zone: with 18 months kept, a purge in December 2026 removes what
started before June 2025."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from ratebook.errors import ConfigError
from ratebook.model.ledger import Period
from ratebook.store import audit, retention
from ratebook.store.entities import get_entity


@dataclass(frozen=True, slots=True, kw_only=True)
class Purge:
    """What a purge removes (or, dry, would).

    Attributes:
        first_kept: the first period whose records are kept whole.
        records: records whose raw content goes.
        kept_for_review: older records kept because an exception of theirs is open.
        exceptions: reviewed exceptions without a record whose raw rows go.
        applied: whether it was done.
    """

    months: int
    first_kept: str
    records: int
    kept_for_review: int
    exceptions: int
    applied: bool


def _first_kept(months: int, now: datetime, zone: str) -> Period:
    """The month ``months`` before the one ``now`` falls in, in ``zone``."""
    today = now.astimezone(ZoneInfo(zone))
    index = today.year * 12 + (today.month - 1) - months
    return Period(index // 12, index % 12 + 1)


def purge_retention(
    engine: Engine,
    *,
    apply: bool,
    entity_code: str | None = None,
    now: datetime | None = None,
) -> Purge:
    """Purge (``apply``) or count (dry run) the raw content past the entity's retention.

    Raises:
        ConfigError: ``RETENTION_NOT_SET`` when the entity keeps records for ever.
    """
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        months = entity.retention_months
        if months is None:
            raise ConfigError(
                "RETENTION_NOT_SET",
                f"{entity.code} keeps call records for ever: set a retention first with"
                " 'ratebook policy --retention-months N'",
            )
        first_kept = _first_kept(months, now, entity.timezone)
        cut = first_kept.bounds(entity.timezone)[0]
        due, kept = retention.count_due(conn, entity.id, cut)
        if not apply:
            return Purge(
                months=months,
                first_kept=str(first_kept),
                records=due,
                kept_for_review=kept,
                exceptions=0,
                applied=False,
            )
        ids = retention.purge(conn, entity.id, cut, at=now)
        loose = retention.purge_unrecorded(conn, entity.id, str(first_kept))
        if ids or loose:
            audit.record(
                conn,
                entity_id=entity.id,
                action="retention.purge",
                object_type="entity",
                object_id=entity.code,
                after={
                    "months": months,
                    "before": cut.isoformat(),
                    "purged_at": now.isoformat(),
                    "records": len(ids),
                    "records_sha256": retention.purged_digest(ids),
                    "exceptions": loose,
                },
                at=now,
            )
        return Purge(
            months=months,
            first_kept=str(first_kept),
            records=len(ids),
            kept_for_review=kept,
            exceptions=loose,
            applied=True,
        )
