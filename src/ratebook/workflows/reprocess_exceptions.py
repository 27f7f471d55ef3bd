"""Re-processing and accepting exceptions: their stored records priced again through the
stages an import uses, and those that now rate booked like an import's (a batch of kind
``review``, sealed), each resolved exception audited."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine, select

from ratebook.errors import ConflictError
from ratebook.intake.book import Ledger, assess
from ratebook.intake.place import CycleUsage
from ratebook.model.actor import current_actor
from ratebook.model.parties import Entity
from ratebook.model.rejections import Code
from ratebook.model.review import Filter
from ratebook.model.usage import RECORD_COLUMNS
from ratebook.store import audit, billing, review, usage
from ratebook.store.entities import get_entity
from ratebook.store.reference import load_reference
from ratebook.store.tables import usage_records
from ratebook.workflows.review_exceptions import (
    ACCEPTABLE,
    Outcome,
    audit_change,
    need_reason,
    new_outcome,
    pending,
    pending_one,
)


def reprocess(
    engine: Engine,
    f: Filter,
    *,
    entity_code: str | None = None,
    note: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Outcome:
    """Run pending exceptions through matching and rating again (after a customer number or a
    rate row was added); those that now rate are resolved, the others get their current
    reason. Rows that never became a record need ``correct``. ``progress(done, total)`` is
    told of the exceptions settled."""
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        billing.lock_entity(conn, entity.id, shared=True)
        targets = pending(conn, entity, f)
        stored = [x for x in targets if x["record_pk"] is not None]
        outcome = _rebill(
            conn,
            entity,
            stored,
            resolution="reprocessed",
            note=note,
            enforce_policy=True,
            late_usage=entity.late_usage,
            progress=progress,
        )
        outcome.selected = len(targets)
        outcome.needs_correction = len(targets) - len(stored)
        return outcome


def accept(
    engine: Engine, exception_id: int, reason: str, *, entity_code: str | None = None
) -> Outcome:
    """Bill an ``OUT_OF_POLICY`` record as it is, or a ``LATE_FOR_CLOSED_CYCLE`` one as late
    usage, with the clerk's reason.

    Raises:
        ConflictError: ``NOT_ACCEPTABLE`` for other codes; ``STILL_NOT_BILLABLE`` when the
            record fails for another reason (nothing is changed).
    """
    need_reason(reason)
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        billing.lock_entity(conn, entity.id, shared=True)
        x = pending_one(conn, entity, exception_id)
        if x["code"] not in ACCEPTABLE:
            raise ConflictError(
                "NOT_ACCEPTABLE",
                f"exception {exception_id} is {x['code']}: only {' and '.join(ACCEPTABLE)}"
                " can be accepted as they are; fix the cause and re-process, correct it,"
                " or reject it",
            )
        late = x["code"] == Code.LATE_FOR_CLOSED_CYCLE.value
        outcome = _rebill(
            conn,
            entity,
            [x],
            resolution="accepted",
            note=reason,
            enforce_policy=late,  # a late record is billed late, still within the limits
            late_usage="bill" if late else entity.late_usage,
        )
        _require_billed(outcome, exception_id)
        return outcome


def accept_many(
    engine: Engine, f: Filter, reason: str, *, entity_code: str | None = None
) -> Outcome:
    """``accept`` every pending exception ``f`` takes, each in its own transaction; those
    that cannot be accepted stay pending, counted in ``failing`` by the reason's code."""
    need_reason(reason)
    with engine.connect() as conn:
        entity = get_entity(conn, entity_code)
        targets = pending(conn, entity, f)
    total = new_outcome(entity, selected=len(targets))
    for x in targets:
        if x["code"] not in ACCEPTABLE:
            total.failing["NOT_ACCEPTABLE"] += 1
            continue
        try:
            one = accept(engine, x["id"], reason, entity_code=entity.code)
        except ConflictError as refused:
            total.failing[refused.code] += 1
            continue
        total.resolved += one.resolved
        total.charge += one.charge
    return total


def _records(conn: Connection, entity: Entity, targets: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """The stored records of ``targets`` as canonical records (``row_idx`` = position)."""
    pks = [int(x["record_pk"]) for x in targets]
    r = usage_records.c
    rows = (
        {int(row.id): row for row in conn.execute(select(usage_records).where(r.id.in_(pks))).all()}
        if pks
        else {}
    )
    columns = [c for c in RECORD_COLUMNS if c not in ("row_idx", "line", "period")]
    data = [
        {
            "row_idx": i,
            "line": rows[pk].source_line,
            **{c: getattr(rows[pk], c) for c in columns},
            "origin": rows[pk].origin,
            "record_pk": pk,
        }
        for i, pk in enumerate(pks)
    ]
    schema = {
        **{k: v for k, v in RECORD_COLUMNS.items() if k != "period"},
        "origin": pl.String(),
        "record_pk": pl.Int64(),
    }
    frame = pl.DataFrame(data, schema=schema, orient="row") if data else pl.DataFrame(schema=schema)
    return frame.with_columns(
        pl.col("start_time")
        .dt.convert_time_zone(entity.timezone)
        .dt.strftime("%Y-%m")
        .alias("period")
    )


def _rebill(
    conn: Connection,
    entity: Entity,
    targets: Sequence[dict[str, Any]],
    *,
    resolution: str,
    note: str | None,
    enforce_policy: bool,
    late_usage: str,
    progress: Callable[[int, int], None] | None = None,
) -> Outcome:
    """Price the stored records of ``targets`` and book those that rate, like an import.

    One function: pricing, booking and settling each exception share one batch and one ledger."""
    now = datetime.now(UTC)
    outcome = new_outcome(entity, selected=len(targets))
    if not targets:
        return outcome
    records = _records(conn, entity, targets)
    reference = load_reference(conn, entity.id)
    cycle = CycleUsage(conn, entity_id=entity.id, rows=reference.rows)
    actor = current_actor()
    batch_id = usage.start_batch(
        conn,
        entity_id=entity.id,
        origin="review",
        fmt="review",
        source_name=f"{resolution} by {actor}",
        source_sha256=None,
        size_bytes=None,
        source_kind="review",
        now=now,
    )
    assessed = assess(
        records.drop("record_pk"),
        reference=reference,
        cycle=cycle,
        zone=entity.timezone,
        late_usage=late_usage,
        enforce_policy=enforce_policy,
    )
    placed = assessed.placed
    by_idx = records.select("row_idx", "record_pk")
    rated = placed.rated.join(by_idx, on="row_idx", how="left")
    ledger = Ledger(cycle)
    ledger.book(conn, rated, placed, entity_id=entity.id, batch_id=batch_id, now=now)
    ledger.post(conn, entity_id=entity.id, batch_id=batch_id, source="review", now=now)
    audit.lock_chain(conn)  # before the cycles' totals, as an import takes the two
    cycle.save()
    matched = assessed.matched.join(by_idx, on="row_idx")
    review.set_record_customers(
        conn, [(int(pk), int(c)) for pk, c in matched.select("record_pk", "customer_id").rows()]
    )
    review.set_record_status(conn, rated["record_pk"].to_list(), "rated")
    charges = dict(zip(rated["row_idx"].to_list(), rated["charge"].to_list(), strict=True))
    failing = {int(r["row_idx"]): r for r in assessed.rejections.iter_rows(named=True)}
    for i, x in enumerate(targets):
        if progress is not None and i % 200 == 0:
            progress(i, len(targets))
        if i in charges:
            review.set_state(
                conn,
                [x["id"]],
                status="resolved",
                resolution=resolution,
                note=note,
                resolved_by=actor,
                resolved_at=now,
            )
            audit_change(
                conn,
                entity,
                f"exception.{_VERB[resolution]}",
                x,
                after={
                    "status": "resolved",
                    "resolution": resolution,
                    "note": note,
                    "charge": int(charges[i]),
                    "batch_id": batch_id,
                },
            )
            outcome.resolved += 1
            outcome.charge += int(charges[i])
        elif i in failing:
            now_failing = failing[i]
            outcome.failing[now_failing["code"]] += 1
            if (now_failing["code"], now_failing["reason"]) != (x["code"], x["reason"]):
                review.set_reason(
                    conn,
                    x["id"],
                    code=now_failing["code"],
                    sub_code=now_failing["sub_code"],
                    field=now_failing["field"],
                    reason=now_failing["reason"],
                )
                audit_change(
                    conn,
                    entity,
                    "exception.reason",
                    x,
                    after={"code": now_failing["code"], "reason": now_failing["reason"]},
                )
    if progress is not None:
        progress(len(targets), len(targets))
    usage.finish_batch(
        conn, batch_id, rows_read=0, rated=0, duplicates=0, exceptions_count=0, now=now
    )
    audit.record(
        conn,
        entity_id=entity.id,
        action="review.book",
        object_type="batch",
        object_id=batch_id,
        after={
            "resolution": resolution,
            "rated": outcome.resolved,
            "charge": outcome.charge,
            "batch": batch_id,
            "sealed": ledger.seal.summary(),
        },
        at=now,
    )
    return outcome


_VERB = {"reprocessed": "reprocess", "corrected": "resolve", "accepted": "accept"}


def _require_billed(outcome: Outcome, exception_id: int) -> None:
    if outcome.resolved != 1:
        code = next(iter(outcome.failing), "UNKNOWN")
        raise ConflictError(
            "STILL_NOT_BILLABLE",
            f"exception {exception_id} still cannot be billed ({code}); nothing was changed",
        )
