"""Working through the exception queue: assign, re-process, correct, accept, reject, count and
export. One code path for the CLI now and the API and web UI later.

Every action runs in one transaction that also writes an audit entry per exception it changes.
A resolved exception's record is rated (its charges booked and posted like an import's) or,
for a write-off, marked ``written_off``; so ``read == rated + duplicates + pending + written
off`` holds for every import after every action (``row_identity``).
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from ratebook.errors import ConflictError, InputError, NotFoundError
from ratebook.intake.book import Ledger, assess
from ratebook.intake.place import CycleUsage
from ratebook.model.parties import Entity
from ratebook.model.rejections import Code
from ratebook.model.usage import RECORD_COLUMNS
from ratebook.pipeline.normalise import normalise
from ratebook.pipeline.numbers import number_plan
from ratebook.pipeline.validate import validate
from ratebook.render.listing import SafeCsvWriter
from ratebook.settings import Settings
from ratebook.sources.csvread import RawChunk, to_csv_line
from ratebook.sources.formats import get_format
from ratebook.store import audit, billing, review, usage
from ratebook.store.entities import get_entity
from ratebook.store.reference import load_reference
from ratebook.store.review import PENDING, Filter
from ratebook.store.tables import exceptions, import_batches, usage_records

#: Codes a clerk may accept as they are (priced beyond the limits / billed late).
ACCEPTABLE = (Code.OUT_OF_POLICY.value, Code.LATE_FOR_CLOSED_CYCLE.value)

#: The record columns a correction may change, as stored.
_RECORD_FIELDS = (
    "record_id",
    "content_sha256",
    "service",
    "start_time",
    "quantity",
    "unit",
    "account",
    "caller",
    "destination",
    "disposition",
    "direction",
    "attributes",
)


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
    engine: Engine, f: Filter, *, entity_code: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Exceptions matching ``f`` (see ``store.review.LISTED``)."""
    with engine.connect() as conn:
        entity = get_entity(conn, entity_code)
        return review.find(conn, entity.id, f, limit=limit)


def show_exception(
    engine: Engine, exception_id: int, *, entity_code: str | None = None
) -> dict[str, Any]:
    """One exception with its record, its corrections and its audit history.

    Raises:
        NotFoundError: ``EXCEPTION_NOT_FOUND``.
    """
    with engine.connect() as conn:
        entity = get_entity(conn, entity_code)
        found = _get(conn, entity, exception_id)
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
        targets = _pending(conn, entity, f)
        for x in targets:
            review.set_state(conn, [x["id"]], assignee=assignee, status="in_review")
            _audit(conn, entity, "exception.assign", x, after={"assignee": assignee})
        return _outcome(entity, selected=len(targets), assigned=len(targets))


def reprocess(
    engine: Engine, f: Filter, *, entity_code: str | None = None, note: str | None = None
) -> Outcome:
    """Run pending exceptions through matching and rating again (after a customer number or a
    rate row was added); those that now rate are resolved, the others get their current
    reason. Rows that never became a record need ``correct``."""
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        billing.lock_entity(conn, entity.id, shared=True)
        targets = _pending(conn, entity, f)
        stored = [x for x in targets if x["record_pk"] is not None]
        outcome = _rebill(
            conn,
            entity,
            stored,
            resolution="reprocessed",
            note=note,
            enforce_policy=True,
            late_usage=entity.late_usage,
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
    _need_reason(reason)
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        billing.lock_entity(conn, entity.id, shared=True)
        x = _pending_one(conn, entity, exception_id)
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


def reject(engine: Engine, f: Filter, reason: str, *, entity_code: str | None = None) -> Outcome:
    """Write off pending exceptions with a reason; their rows are never billed."""
    _need_reason(reason)
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        targets = _pending(conn, entity, f)
        now = datetime.now(UTC)
        actor = audit.current_actor()
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
            _audit(
                conn,
                entity,
                "exception.reject",
                x,
                after={"status": "rejected", "resolution": "written_off", "note": reason},
            )
        return _outcome(entity, selected=len(targets), rejected=len(targets))


def correct(
    engine: Engine,
    exception_id: int,
    *,
    changes: dict[str, str] | None = None,
    raw: str | None = None,
    reason: str,
    entity_code: str | None = None,
    settings: Settings | None = None,
) -> Outcome:
    """Store a corrected copy of an exception's row and bill it; the original is kept.

    The copy is the original row with ``changes`` (column name of the feed: new text) applied,
    or the whole corrected row ``raw``; it is read exactly as the import read the original
    (format, columns, zone). A row that never became a record becomes one; a stored record is
    corrected in place and its original values are kept with the correction.

    Raises:
        InputError: the copy is still invalid (names the field), or a column is unknown.
        ConflictError: the copy duplicates or conflicts with another record, or still cannot
            be billed (``STILL_NOT_BILLABLE``); nothing is changed.
    """
    _need_reason(reason)
    if not changes and raw is None:
        raise InputError(
            "MISSING_VALUE", "give the changes (--set FIELD=VALUE) or --raw", path="--set"
        )
    settings = settings or Settings()
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        billing.lock_entity(conn, entity.id, shared=True)
        x = _pending_one(conn, entity, exception_id)
        fields, columns = _corrected_fields(x, changes, raw)
        fmt = get_format(x["format"])
        chunk = RawChunk.from_rows(
            [x["source_line"] or 0], [fields], width=len(columns), utf8_checked=False
        )
        frame, shape = fmt.to_frame(chunk, columns, settings.max_field_chars)
        where = f"exception {exception_id}"
        if not shape.is_empty():
            _still_invalid(shape.row(0, named=True), where)
        normal = normalise(
            frame,
            time_layout=fmt.time_layout,
            feed_zone=x["feed_zone"] or entity.timezone,
            plan=number_plan(entity.region),
        )
        records, invalid = validate(normal, entity_zone=entity.timezone)
        if not invalid.is_empty():
            _still_invalid(invalid.row(0, named=True), where)
        copy = records.row(0, named=True)
        stored = review.record(conn, x["record_pk"]) if x["record_pk"] is not None else None
        record_pk = _store_copy(conn, entity, x, stored, copy, fields)
        before_fields = next(csv.reader([x["raw"]])) if x["raw"] else []
        review.add_correction(
            conn,
            entity_id=entity.id,
            exception_id=exception_id,
            record_pk=record_pk,
            changes=json.dumps(_diff(columns, before_fields, fields), ensure_ascii=False),
            raw=to_csv_line(fields),
            original=_original_json(stored),
            original_sha256=None if stored is None else str(stored["content_sha256"]),
            author=audit.current_actor(),
            reason=reason,
            created_at=datetime.now(UTC),
        )
        if stored is not None:
            _overwrite(conn, record_pk, copy, to_csv_line(fields))
        conn.execute(
            update(exceptions)
            .where(exceptions.c.id == exception_id)
            .values(record_pk=record_pk, record_id=copy["record_id"], period=copy["period"])
        )
        _audit(
            conn,
            entity,
            "exception.correct",
            x,
            before={"raw": x["raw"]},
            after={
                "raw": to_csv_line(fields),
                "record_pk": record_pk,
                "content_sha256": copy["content_sha256"],
                "reason": reason,
            },
        )
        x = {**x, "record_pk": record_pk}
        outcome = _rebill(
            conn,
            entity,
            [x],
            resolution="corrected",
            note=reason,
            enforce_policy=True,
            late_usage=entity.late_usage,
        )
        _require_billed(outcome, exception_id)
        return outcome


def counts(
    engine: Engine, *, period: str | None = None, entity_code: str | None = None
) -> list[dict[str, Any]]:
    """Exceptions per period, code and status (``period`` None for rows never understood)."""
    with engine.connect() as conn:
        entity = get_entity(conn, entity_code)
        return review.counts(conn, entity.id, period)


def row_identity(engine: Engine, *, entity_code: str | None = None) -> list[dict[str, Any]]:
    """Per import: rows read, rated, duplicates, pending and written off, and ``ok`` when
    they add up."""
    with engine.connect() as conn:
        entity = get_entity(conn, entity_code)
        rows = review.row_identity(conn, entity.id)
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


def _get(conn: Connection, entity: Entity, exception_id: int) -> dict[str, Any]:
    found = review.get(conn, entity.id, exception_id)
    if found is None:
        raise NotFoundError("EXCEPTION_NOT_FOUND", f"no exception {exception_id}")
    return found


def _pending_one(conn: Connection, entity: Entity, exception_id: int) -> dict[str, Any]:
    found = _get(conn, entity, exception_id)
    if found["status"] not in PENDING:
        raise ConflictError(
            "EXCEPTION_CLOSED",
            f"exception {exception_id} is already {found['status']}"
            f" ({found['resolution']}); only open or in-review exceptions can change",
        )
    return found


def _pending(conn: Connection, entity: Entity, f: Filter) -> list[dict[str, Any]]:
    """Pending exceptions matching ``f``; naming a closed one by id is an error."""
    if f.status is not None and f.status not in (*PENDING, "pending"):
        raise ConflictError(
            "EXCEPTION_CLOSED", f"{f.status} exceptions are final; only pending ones can change"
        )
    found = review.find(conn, entity.id, dataclasses.replace(f, status=f.status or "pending"))
    if f.ids is not None:
        missing = set(f.ids) - {x["id"] for x in found}
        for exception_id in sorted(missing):
            _pending_one(conn, entity, exception_id)  # raises: unknown or closed
    return found


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
) -> Outcome:
    """Price the stored records of ``targets`` and book those that rate, like an import."""
    outcome = _outcome(entity, selected=len(targets))
    if not targets:
        return outcome
    records = _records(conn, entity, targets)
    reference = load_reference(conn, entity.id)
    cycle = CycleUsage(conn, entity_id=entity.id, rows=reference.rows)
    actor = audit.current_actor()
    batch_id = usage.start_batch(
        conn,
        entity_id=entity.id,
        origin="review",
        fmt="review",
        source_name=f"{resolution} by {actor}",
        source_sha256=None,
        size_bytes=None,
        source_kind="review",
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
    now = datetime.now(UTC)
    ledger = Ledger(cycle)
    ledger.book(conn, rated, placed, entity_id=entity.id, batch_id=batch_id, now=now)
    ledger.post(conn, entity_id=entity.id, batch_id=batch_id, source="review", now=now)
    cycle.save()
    matched = assessed.matched.join(by_idx, on="row_idx")
    review.set_record_customers(
        conn, [(int(pk), int(c)) for pk, c in matched.select("record_pk", "customer_id").rows()]
    )
    review.set_record_status(conn, rated["record_pk"].to_list(), "rated")
    charges = dict(zip(rated["row_idx"].to_list(), rated["charge"].to_list(), strict=True))
    failing = {int(r["row_idx"]): r for r in assessed.rejections.iter_rows(named=True)}
    for i, x in enumerate(targets):
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
            _audit(
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
                _audit(
                    conn,
                    entity,
                    "exception.reason",
                    x,
                    after={"code": now_failing["code"], "reason": now_failing["reason"]},
                )
    usage.finish_batch(conn, batch_id, rows_read=0, rated=0, duplicates=0, exceptions_count=0)
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


def _corrected_fields(
    x: dict[str, Any], changes: dict[str, str] | None, raw: str | None
) -> tuple[list[str], list[str]]:
    if x["batch_columns"] is None:
        raise ConflictError(
            "CANNOT_CORRECT",
            f"exception {x['id']} comes from a file imported before corrections were"
            " possible (its columns were not recorded); reject it and import a corrected file",
        )
    columns: list[str] = json.loads(x["batch_columns"])
    if raw is not None:
        parsed = next(csv.reader([raw]), [])
        return parsed, columns
    fields = next(csv.reader([x["raw"] or ""]), [])
    for name, value in (changes or {}).items():
        key = name.strip().lower()
        if key not in columns:
            raise InputError(
                "UNKNOWN_COLUMN",
                f"the feed has no column {name!r}; its columns are {', '.join(columns)}",
                path="--set",
                field=name,
            )
        index = columns.index(key)
        if index >= len(fields):
            raise InputError(
                "FIELD_COUNT",
                f"the row has {len(fields)} fields, so it has no {name!r};"
                " give the whole corrected row with --raw",
                path="--set",
                field=name,
            )
        fields[index] = value
    return fields, columns


def _still_invalid(problem: dict[str, Any], where: str) -> None:
    raise InputError(
        problem["sub_code"] or problem["code"],
        f"the corrected row is still invalid: {problem['reason']}; nothing was changed",
        path=where,
        field=problem["field"],
    )


def _store_copy(
    conn: Connection,
    entity: Entity,
    x: dict[str, Any],
    stored: dict[str, Any] | None,
    copy: dict[str, Any],
    fields: list[str],
) -> int:
    """The record the copy is: the exception's own ``stored`` one (checked), or a new one."""
    own = x["record_pk"]
    if stored is not None and copy["record_id"] != stored["record_id"]:
        raise InputError(
            "RECORD_ID_FIXED",
            f"record {stored['record_id']!r} is stored; its id cannot change",
            path=f"exception {x['id']}",
            field="record_id",
        )
    _refuse_clash(conn, entity, x, copy)
    if own is not None:
        return int(own)
    try:
        # a savepoint: if an import stores the id meanwhile (PostgreSQL), the insert meets
        # its unique key, and the transaction can still look again and say whose it is
        with conn.begin_nested():
            result = conn.execute(
                insert(usage_records).values(
                    entity_id=entity.id,
                    origin=x["origin"],
                    **{c: copy[c] for c in _RECORD_FIELDS},
                    customer_id=None,
                    status="exception",
                    batch_id=x["batch_id"],
                    source_sha256=x["source_sha256"],
                    source_line=x["source_line"],
                    raw=to_csv_line(fields),
                )
            )
    except IntegrityError as error:
        if not usage.stored_meanwhile(error):
            raise
        _refuse_clash(conn, entity, x, copy)
        raise
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def _refuse_clash(
    conn: Connection, entity: Entity, x: dict[str, Any], copy: dict[str, Any]
) -> None:
    """Refuse a copy whose id another record of the origin already has."""
    r = usage_records.c
    own = x["record_pk"]
    clash = conn.execute(
        select(r.id, r.content_sha256, r.source_line, import_batches.c.source_name)
        .select_from(usage_records.join(import_batches, import_batches.c.id == r.batch_id))
        .where(
            r.entity_id == entity.id,
            r.origin == x["origin"],
            r.record_id == copy["record_id"],
            r.id != (own if own is not None else -1),
        )
    ).first()
    if clash is not None:
        same = clash.content_sha256 == copy["content_sha256"]
        raise ConflictError(
            "CORRECTION_DUPLICATE" if same else "CORRECTION_ID_CONFLICT",
            f"record {copy['record_id']!r} is already billed from"
            f" {clash.source_name}:{clash.source_line}"
            + (
                " with the same content: reject this exception as a duplicate"
                if same
                else " with other content: correct the record id, or reject this exception"
            ),
        )


def _overwrite(conn: Connection, record_pk: int, copy: dict[str, Any], raw: str) -> None:
    conn.execute(
        update(usage_records)
        .where(usage_records.c.id == record_pk)
        .values(**{c: copy[c] for c in _RECORD_FIELDS}, raw=raw)
    )


def _original_json(stored: dict[str, Any] | None) -> str | None:
    """A stored record's values before a correction, as JSON (None for a new record)."""
    if stored is None:
        return None
    return json.dumps(
        {c: _jsonable(stored[c]) for c in _RECORD_FIELDS}, sort_keys=True, ensure_ascii=False
    )


def _jsonable(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def _diff(columns: list[str], before: list[str], after: list[str]) -> dict[str, list[str | None]]:
    width = max(len(before), len(after))
    out: dict[str, list[str | None]] = {}
    for i in range(width):
        old = before[i] if i < len(before) else None
        new = after[i] if i < len(after) else None
        if old != new:
            name = columns[i] if i < len(columns) else f"field {i + 1}"
            out[name] = [old, new]
    return out


def _audit(
    conn: Connection,
    entity: Entity,
    action: str,
    x: dict[str, Any],
    *,
    before: Any = None,
    after: Any = None,
) -> None:
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
    )


def _outcome(entity: Entity, *, selected: int = 0, assigned: int = 0, rejected: int = 0) -> Outcome:
    return Outcome(
        currency=entity.currency,
        charge_places=entity.charge_places,
        selected=selected,
        assigned=assigned,
        rejected=rejected,
    )


def _need_reason(reason: str) -> None:
    if not reason or not reason.strip():
        raise InputError("MISSING_VALUE", "say why (--reason)", path="--reason")
