"""Working through the exception queue: list, show, assign, reject, count and export; the
helpers every review action shares. Re-processing and accepting are in
``reprocess_exceptions``, correcting in ``correct_exception``.

Every action runs in one transaction that also writes an audit entry per exception it changes.
A resolved exception's record is rated (its charges booked and posted like an import's) or,
for a write-off, marked ``written_off``; so ``read == rated + duplicates + pending + written
off`` holds for every import after every action (``row_identity``).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from ratebook.errors import ConflictError, InputError, NotFoundError
from ratebook.model.actor import current_actor
from ratebook.model.parties import Entity
from ratebook.model.rejections import Code
from ratebook.model.review import PENDING, Filter
from ratebook.render.listing import SafeCsvWriter
from ratebook.store import audit, review
from ratebook.store.entities import get_entity

#: Codes a clerk may accept as they are (priced beyond the limits / billed late).
ACCEPTABLE = (Code.OUT_OF_POLICY.value, Code.LATE_FOR_CLOSED_CYCLE.value)


@dataclass(slots=True, kw_only=True)
class Outcome:
    """What an action did.

    Attributes:
        selected: pending exceptions the filter took.
        resolved: of those, resolved (their records now rated).
        rejected: of those, written off.
        assigned: of those, assigned.
        failing: still failing after re-processing, by their current code.
        needs_correction: rows that never became a record (invalid, id conflicts): only a
            corrected copy can bill them.
        charge: charges booked for the resolved records, AMOUNT_SCALE.
        currency: the entity's currency.
        charge_places: places to show ``charge`` with.
    """

    selected: int = 0
    resolved: int = 0
    rejected: int = 0
    assigned: int = 0
    failing: Counter[str] = field(default_factory=Counter)
    needs_correction: int = 0
    charge: int = 0
    currency: str = ""
    charge_places: int = 4


def list_exceptions(
    engine: Engine,
    f: Filter,
    *,
    entity_code: str | None = None,
    limit: int | None = None,
    before_id: int | None = None,
    newest_first: bool = False,
) -> list[dict[str, Any]]:
    """Exceptions matching ``f`` (see ``store.review.LISTED``), by batch and line; or,
    ``newest_first``, a page of the newest before ``before_id``."""
    with engine.connect() as conn:
        entity = get_entity(conn, entity_code)
        return review.find(
            conn, entity.id, f, limit=limit, before_id=before_id, newest_first=newest_first
        )


def pending_by_code(
    engine: Engine, *, entity_code: str | None = None, cap: int | None = None
) -> dict[str, int]:
    """Pending exceptions (open or in review) by code; with ``cap``, a count over it is
    ``cap + 1`` (read as "more than ``cap``")."""
    with engine.connect() as conn:
        entity = get_entity(conn, entity_code)
        return review.pending_by_code(conn, entity.id, cap=cap)


def count_exceptions(engine: Engine, f: Filter, *, entity_code: str | None = None) -> int:
    """How many exceptions match ``f``."""
    with engine.connect() as conn:
        entity = get_entity(conn, entity_code)
        return review.count(conn, entity.id, f)


def show_exception(
    engine: Engine, exception_id: int, *, entity_code: str | None = None
) -> dict[str, Any]:
    """One exception with its record, its corrections and its audit history.

    Raises:
        NotFoundError: ``EXCEPTION_NOT_FOUND``.
    """
    with engine.connect() as conn:
        entity = get_entity(conn, entity_code)
        found = get_exception(conn, entity, exception_id)
        record = review.record(conn, found["record_pk"]) if found["record_pk"] else None
        return {
            **found,
            "record": record,
            "corrections": review.corrections_of(conn, exception_id),
            "history": audit.entries(
                conn, entity_id=entity.id, object_type="exception", object_id=str(exception_id)
            ),
        }


def assign(engine: Engine, f: Filter, assignee: str, *, entity_code: str | None = None) -> Outcome:
    """Give pending exceptions to ``assignee``; open ones move to ``in_review``."""
    if not assignee.strip():
        raise InputError("MISSING_VALUE", "name someone to assign to", path="--to")
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        targets = pending(conn, entity, f)
        for x in targets:
            review.set_state(conn, [x["id"]], assignee=assignee, status="in_review")
            audit_change(conn, entity, "exception.assign", x, after={"assignee": assignee})
        return new_outcome(entity, selected=len(targets), assigned=len(targets))


def reject(engine: Engine, f: Filter, reason: str, *, entity_code: str | None = None) -> Outcome:
    """Write off pending exceptions with a reason; their rows are never billed."""
    need_reason(reason)
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        targets = pending(conn, entity, f)
        now = datetime.now(UTC)
        actor = current_actor()
        ids = [x["id"] for x in targets]
        review.set_state(
            conn,
            ids,
            status="rejected",
            resolution="written_off",
            note=reason,
            resolved_by=actor,
            resolved_at=now,
        )
        review.set_record_status(
            conn, [x["record_pk"] for x in targets if x["record_pk"] is not None], "written_off"
        )
        for x in targets:
            audit_change(
                conn,
                entity,
                "exception.reject",
                x,
                after={"status": "rejected", "resolution": "written_off", "note": reason},
            )
        return new_outcome(entity, selected=len(targets), rejected=len(targets))


def counts(
    engine: Engine, *, period: str | None = None, entity_code: str | None = None
) -> list[dict[str, Any]]:
    """Exceptions per period, code and status (``period`` None for rows never understood)."""
    with engine.connect() as conn:
        entity = get_entity(conn, entity_code)
        return review.counts(conn, entity.id, period)


def row_identity(
    engine: Engine, *, entity_code: str | None = None, last: int | None = None
) -> list[dict[str, Any]]:
    """Per import (the ``last`` ones only, when given): rows read, rated, duplicates,
    pending and written off, and ``ok`` when they add up."""
    with engine.connect() as conn:
        entity = get_entity(conn, entity_code)
        rows = review.row_identity(conn, entity.id, last=last)
    for row in rows:
        row["ok"] = row["read"] == (
            row["rated"] + row["duplicates"] + row["pending"] + row["written_off"]
        )
    return rows


#: Columns of the CSV export, in order.
EXPORT_COLUMNS = (
    "id",
    "code",
    "sub_code",
    "field",
    "status",
    "assignee",
    "origin",
    "record_id",
    "period",
    "account",
    "source_name",
    "source_line",
    "reason",
    "raw",
    "resolution",
    "note",
)


def export_csv(engine: Engine, f: Filter, out: Path, *, entity_code: str | None = None) -> int:
    """Write the exceptions matching ``f`` as CSV; returns the rows written. Text a
    spreadsheet would run as a formula is made inert (``render.listing.spreadsheet_safe``)."""
    rows = list_exceptions(engine, f, entity_code=entity_code)
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = SafeCsvWriter(handle)
        writer.writerow(EXPORT_COLUMNS)
        for row in rows:
            writer.writerow([row[c] for c in EXPORT_COLUMNS])
    return len(rows)


# ----------------------------------------------------------------------------- internals


def get_exception(conn: Connection, entity: Entity, exception_id: int) -> dict[str, Any]:
    """The exception, or ``EXCEPTION_NOT_FOUND``."""
    found = review.get(conn, entity.id, exception_id)
    if found is None:
        raise NotFoundError("EXCEPTION_NOT_FOUND", f"no exception {exception_id}")
    return found


def pending_one(conn: Connection, entity: Entity, exception_id: int) -> dict[str, Any]:
    """The exception, if it is still pending (``EXCEPTION_CLOSED`` if not)."""
    found = get_exception(conn, entity, exception_id)
    if found["status"] not in PENDING:
        raise ConflictError(
            "EXCEPTION_CLOSED",
            f"exception {exception_id} is already {found['status']}"
            f" ({found['resolution']}); only open or in-review exceptions can change",
        )
    return found


def pending(conn: Connection, entity: Entity, f: Filter) -> list[dict[str, Any]]:
    """Pending exceptions matching ``f``; naming a closed one by id is an error."""
    if f.status is not None and f.status not in (*PENDING, "pending"):
        raise ConflictError(
            "EXCEPTION_CLOSED", f"{f.status} exceptions are final; only pending ones can change"
        )
    found = review.find(conn, entity.id, dataclasses.replace(f, status=f.status or "pending"))
    if f.ids is not None:
        missing = set(f.ids) - {x["id"] for x in found}
        for exception_id in sorted(missing):
            pending_one(conn, entity, exception_id)  # raises: unknown or closed
    return found


def audit_change(
    conn: Connection,
    entity: Entity,
    action: str,
    x: dict[str, Any],
    *,
    before: Any = None,
    after: Any = None,
) -> None:
    now = datetime.now(UTC)
    audit.record(
        conn,
        entity_id=entity.id,
        action=action,
        object_type="exception",
        object_id=x["id"],
        before=before
        if before is not None
        else {"status": x["status"], "code": x["code"], "assignee": x.get("assignee")},
        after=after,
        at=now,
    )


def new_outcome(
    entity: Entity, *, selected: int = 0, assigned: int = 0, rejected: int = 0
) -> Outcome:
    return Outcome(
        currency=entity.currency,
        charge_places=entity.charge_places,
        selected=selected,
        assigned=assigned,
        rejected=rejected,
    )


def need_reason(reason: str) -> None:
    """Refuse an action with no reason given (``MISSING_VALUE``)."""
    if not reason or not reason.strip():
        raise InputError("MISSING_VALUE", "say why (--reason)", path="--reason")
