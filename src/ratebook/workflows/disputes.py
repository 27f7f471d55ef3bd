"""The dispute log: open a dispute on a record, an invoice line or an invoice; comment; move
it through its states; resolve it upheld with a credit, or rejected.

Comments and status changes are appended to the dispute's history, with author and UTC time,
never changed. An upheld dispute's credit is a ``credit`` posting (negative, in the disputed
charge's category so tax follows it) into the cycle the next close bills, so it shows on the
customer's next invoice. Every change also writes an audit entry in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine

from ratebook.errors import ConflictError, InputError, NotFoundError
from ratebook.model.actor import current_actor
from ratebook.model.disputes import Status, allowed
from ratebook.model.parties import Entity
from ratebook.money import AMOUNT_SCALE, format_fixed
from ratebook.store import audit
from ratebook.store import disputes as store
from ratebook.store.entities import get_entity


@dataclass(frozen=True, slots=True, kw_only=True)
class Subject:
    """What a dispute is about: exactly one of a record (its id, and origin when several feeds
    use the id), an invoice line (its id), or an invoice (its number)."""

    record_id: str | None = None
    origin: str | None = None
    invoice_line: int | None = None
    invoice: int | None = None


def open_dispute(
    engine: Engine, subject: Subject, reason: str, *, entity_code: str | None = None
) -> dict[str, Any]:
    """Open a dispute; returns it as stored.

    Raises:
        InputError: no subject, several, or no reason.
        NotFoundError: the record, line or invoice does not exist.
        ConflictError: ``NOT_BILLED`` for a record with no charge.
    """
    given = [
        subject.record_id is not None,
        subject.invoice_line is not None,
        subject.invoice is not None,
    ]
    if sum(given) != 1:
        raise InputError(
            "ONE_SUBJECT", "dispute one of --record, --invoice-line or --invoice", path="--record"
        )
    _need_text(reason, "--reason")
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        facts = _subject_facts(conn, entity, subject)
        now = datetime.now(UTC)
        actor = current_actor()
        number = store.next_number(conn, entity.id)
        dispute_id = store.add(
            conn,
            entity_id=entity.id,
            number=number,
            reason=reason,
            status=Status.OPEN.value,
            opened_by=actor,
            opened_at=now,
            **facts,
        )
        store.add_event(
            conn,
            entity_id=entity.id,
            dispute_id=dispute_id,
            kind="opened",
            author=actor,
            at=now,
            body=reason,
            to_status=Status.OPEN.value,
        )
        found = store.get(conn, entity.id, number)
        assert found is not None
        audit_dispute(conn, entity, "dispute.open", number, after=public_view(found))
        return found


def comment(
    engine: Engine, number: int, text: str, *, entity_code: str | None = None
) -> dict[str, Any]:
    """Append a comment to a dispute's history."""
    _need_text(text, "--text")
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        found = get_dispute(conn, entity, number)
        now = datetime.now(UTC)
        store.add_event(
            conn,
            entity_id=entity.id,
            dispute_id=found["id"],
            kind="comment",
            author=current_actor(),
            at=now,
            body=text,
        )
        audit_dispute(conn, entity, "dispute.comment", number, after={"comment": text})
        return found


def set_status(
    engine: Engine,
    number: int,
    status: str,
    *,
    note: str | None = None,
    entity_code: str | None = None,
) -> dict[str, Any]:
    """Move a dispute to ``open`` or ``investigating`` (``resolve`` resolves it).

    Raises:
        ConflictError: ``ILLEGAL_TRANSITION``.
    """
    try:
        target = Status(status)
    except ValueError:
        raise InputError(
            "UNKNOWN_STATUS", f"{status!r}: a dispute is open or investigating", path="status"
        ) from None
    if target is Status.RESOLVED:
        raise InputError("USE_RESOLVE", "resolve a dispute with 'disputes resolve'", path="status")
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        found = get_dispute(conn, entity, number)
        move_dispute(conn, entity, found, target, note or "")
        store.update_dispute(conn, found["id"], status=target.value)
        return {**found, "status": target.value}


def show(engine: Engine, number: int, *, entity_code: str | None = None) -> dict[str, Any]:
    """A dispute with its full history in order."""
    with engine.connect() as conn:
        entity = get_entity(conn, entity_code)
        found = get_dispute(conn, entity, number)
        return {**found, "history": store.events(conn, found["id"])}


def list_disputes(
    engine: Engine,
    *,
    status: str | None = None,
    account: str | None = None,
    entity_code: str | None = None,
) -> list[dict[str, Any]]:
    """Disputes by number."""
    with engine.connect() as conn:
        entity = get_entity(conn, entity_code)
        return store.find(conn, entity.id, status=status, account=account)


# ----------------------------------------------------------------------------- internals


def _subject_facts(conn: Connection, entity: Entity, subject: Subject) -> dict[str, Any]:
    """The dispute's customer, subject link, category and disputed amount."""
    if subject.record_id is not None:
        found = store.records_by_id(conn, entity.id, subject.record_id, subject.origin)
        if not found:
            raise NotFoundError("RECORD_NOT_FOUND", f"no record {subject.record_id!r}")
        if len(found) > 1:
            origins = ", ".join(str(r["origin"]) for r in found)
            raise InputError(
                "AMBIGUOUS_RECORD",
                f"record {subject.record_id!r} exists in several feeds ({origins}): add --origin",
                path="--record",
            )
        record = found[0]
        if record["charge"] is None or record["customer_id"] is None:
            raise ConflictError(
                "NOT_BILLED",
                f"record {subject.record_id!r} has no charge (it is {record['status']});"
                " an unbilled record is reviewed in the exception queue",
            )
        return {
            "subject": "record",
            "record_pk": record["record_pk"],
            "customer_id": record["customer_id"],
            "category": record["service"],
            "disputed": int(record["charge"]),
        }
    if subject.invoice_line is not None:
        line = store.invoice_line(conn, entity.id, subject.invoice_line)
        if line is None:
            raise NotFoundError("INVOICE_LINE_NOT_FOUND", f"no invoice line {subject.invoice_line}")
        return {
            "subject": "invoice_line",
            "invoice_line_id": line["id"],
            "invoice_id": line["invoice_id"],
            "customer_id": line["customer_id"],
            "category": line["category"],
            "disputed": max(int(line["amount"]), 0),
        }
    assert subject.invoice is not None
    invoice = store.invoice_facts(conn, entity.id, subject.invoice)
    if invoice is None:
        raise NotFoundError("INVOICE_NOT_FOUND", f"no invoice {subject.invoice}")
    return {
        "subject": "invoice",
        "invoice_id": invoice["id"],
        "customer_id": invoice["customer_id"],
        "category": invoice["category"],
        "disputed": max(int(invoice["net"]), 0),
    }


def get_dispute(conn: Connection, entity: Entity, number: int) -> dict[str, Any]:
    found = store.get(conn, entity.id, number)
    if found is None:
        raise NotFoundError("DISPUTE_NOT_FOUND", f"no dispute {number}")
    return found


def move_dispute(
    conn: Connection,
    entity: Entity,
    found: dict[str, Any],
    target: Status,
    note: str,
    *,
    outcome: str | None = None,
) -> None:
    current = Status(found["status"])
    if not allowed(current, target):
        raise ConflictError(
            "ILLEGAL_TRANSITION",
            f"dispute {found['number']} is {current.value}"
            + (f" ({found['outcome']})" if found["outcome"] else "")
            + f"; it cannot become {target.value}"
            + ("; open a new dispute instead" if current is Status.RESOLVED else ""),
        )
    store.add_event(
        conn,
        entity_id=entity.id,
        dispute_id=found["id"],
        kind="resolved" if target is Status.RESOLVED else "status",
        author=current_actor(),
        at=datetime.now(UTC),
        body=(f"{outcome}: {note}" if outcome and note else outcome or note),
        from_status=current.value,
        to_status=target.value,
    )
    if target is not Status.RESOLVED:
        audit_dispute(
            conn,
            entity,
            "dispute.status",
            found["number"],
            before={"status": current.value},
            after={"status": target.value, "note": note},
        )


def public_view(found: dict[str, Any]) -> dict[str, Any]:
    keys = ("number", "subject", "account", "category", "disputed", "status", "outcome", "credit")
    return {k: found.get(k) for k in keys}


def audit_dispute(
    conn: Connection,
    entity: Entity,
    action: str,
    number: int,
    *,
    before: Any = None,
    after: Any = None,
) -> None:
    now = datetime.now(UTC)
    audit.record(
        conn,
        entity_id=entity.id,
        action=action,
        object_type="dispute",
        object_id=number,
        before=before,
        after=after,
        at=now,
    )


def _need_text(text: str, option: str) -> None:
    if not text or not text.strip():
        raise InputError(
            "MISSING_VALUE", "say why (it goes into the dispute's history)", path=option
        )


def short_text(text: str, limit: int = 80) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def money_text_of(entity: Entity, amount: int) -> str:
    return format_fixed(amount, AMOUNT_SCALE, entity.charge_places)
