"""Resolving a dispute: upheld (with an optional credit, posted as a batch of its own to the
next open cycle, where the next invoice shows it) or rejected."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from ratebook.errors import ConflictError, InputError
from ratebook.model.disputes import Outcome, Status
from ratebook.model.ledger import Posting, PostingKind
from ratebook.money import AMOUNT_SCALE, AmountError, parse_fixed
from ratebook.store import billing, usage
from ratebook.store import disputes as store
from ratebook.store.entities import get_entity
from ratebook.store.seals import Seal
from ratebook.workflows.disputes import (
    audit_dispute,
    get_dispute,
    money_text_of,
    move_dispute,
    public_view,
    short_text,
)


def resolve(
    engine: Engine,
    number: int,
    *,
    outcome: str,
    note: str = "",
    credit: str | None = None,
    entity_code: str | None = None,
    today: str | None = None,
) -> dict[str, Any]:
    """Resolve a dispute: ``upheld`` (optionally with a credit, in the entity's currency,
    before tax, at most the disputed amount) or ``rejected``.

    ``today`` (YYYY-MM) is the current cycle when no cycle holds postings yet (default: now in
    the entity's zone).

    Raises:
        ConflictError: ``ILLEGAL_TRANSITION`` for a resolved dispute; ``CREDIT_TOO_LARGE``.
        InputError: a credit on a rejected dispute, or a bad amount.

    One function: the state change, the credit and its audit belong to one transaction.
    """
    try:
        end = Outcome(outcome)
    except ValueError:
        raise InputError("UNKNOWN_OUTCOME", "upheld or rejected", path="--outcome") from None
    amount = None
    if credit is not None:
        if end is Outcome.REJECTED:
            raise InputError(
                "CREDIT_ON_REJECTED", "a rejected dispute gets no credit", path="--credit"
            )
        try:
            amount = parse_fixed(credit, AMOUNT_SCALE)
        except AmountError as exc:
            raise InputError(exc.code, str(exc), path="--credit", field="credit") from None
        if amount <= 0:
            raise InputError("OUT_OF_RANGE", "a credit is more than zero", path="--credit")
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        billing.lock_entity(conn, entity.id, shared=True)
        found = get_dispute(conn, entity, number)
        move_dispute(conn, entity, found, Status.RESOLVED, note, outcome=end.value)
        now = datetime.now(UTC)
        period = None
        sealed: dict[str, Any] = {}
        if amount is not None:
            if amount > int(found["disputed"]):
                raise ConflictError(
                    "CREDIT_TOO_LARGE",
                    f"a credit of {credit} is more than the disputed"
                    f" {money_text_of(entity, int(found['disputed']))} {entity.currency}",
                )
            period = billing.next_open_period(
                conn, entity.id, today or now.astimezone(entity.zone).strftime("%Y-%m")
            )
            # the credit is a batch of its own, sealed in the resolution's audit entry
            batch_id = usage.start_batch(
                conn,
                entity_id=entity.id,
                origin="dispute",
                fmt="credit",
                source_kind="credit",
                source_name=f"dispute {number}",
                source_sha256=None,
                size_bytes=None,
                now=now,
            )
            seal = Seal()
            usage.add_postings(
                conn,
                [
                    Posting(
                        customer_id=found["customer_id"],
                        period=period,
                        kind=PostingKind.CREDIT,
                        amount=-amount,
                        category=found["category"],
                        memo=f"Credit for dispute {number}: {short_text(found['reason'])}",
                    )
                ],
                entity_id=entity.id,
                batch_id=batch_id,
                posted_at=now,
                seal=seal,
            )
            sealed = {"batch": batch_id, "sealed": seal.summary()}
        store.update_dispute(
            conn,
            found["id"],
            status=Status.RESOLVED.value,
            outcome=end.value,
            credit=amount,
            credit_period=period,
            resolved_at=now,
        )
        resolved = store.get(conn, entity.id, number)
        assert resolved is not None
        audit_dispute(
            conn,
            entity,
            "dispute.resolve",
            number,
            before=public_view(found),
            after={**public_view(resolved), **sealed},
        )
        return resolved
