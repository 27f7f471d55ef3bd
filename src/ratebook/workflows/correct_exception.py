"""Correcting an exception: a clerk's copy of its row, read exactly as the import read the
original, stored (the original kept with the correction) and billed."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from ratebook.errors import ConflictError, InputError
from ratebook.model.actor import current_actor
from ratebook.model.parties import Entity
from ratebook.model.rejections import SubCode
from ratebook.model.usage import STORED_FIELDS
from ratebook.pipeline.destinations import stored_kind
from ratebook.pipeline.normalise import normalise
from ratebook.pipeline.numbers import entity_plan
from ratebook.pipeline.validate import validate
from ratebook.settings import Settings
from ratebook.sources.cdr_profiles import layout_format
from ratebook.sources.csvread import RawChunk, to_csv_line
from ratebook.sources.formats import get_format
from ratebook.store import billing, review, usage
from ratebook.store.entities import get_entity
from ratebook.workflows.reprocess_exceptions import _rebill, _require_billed
from ratebook.workflows.review_exceptions import (
    Outcome,
    audit_change,
    need_reason,
    pending_one,
)


def correct(
    engine: Engine,
    exception_id: int,
    *,
    changes: dict[str, str] | None = None,
    raw: str | None = None,
    reason: str,
    entity_code: str | None = None,
    settings: Settings | None = None,
    preview: bool = False,
) -> Outcome:
    """Store a corrected copy of an exception's row and bill it; the original is kept.

    With ``preview``, everything is done as for real and then rolled back: the outcome (the
    charge the copy would get) is what committing would give, and the store is unchanged.

    The copy is the original row with ``changes`` (column name of the feed: new text) applied,
    or the whole corrected row ``raw``; it is read exactly as the import read the original
    (format, columns, zone). A row that never became a record becomes one; a stored record is
    corrected in place and its original values are kept with the correction.

    Raises:
        InputError: the copy is still invalid (names the field), or a column is unknown.
        ConflictError: the copy duplicates or conflicts with another record, or still cannot
            be billed (``STILL_NOT_BILLABLE``); nothing is changed.
    """
    need_reason(reason)
    if not changes and raw is None:
        raise InputError(
            "MISSING_VALUE", "give the changes (--set FIELD=VALUE) or --raw", path="--set"
        )
    settings = settings or Settings()
    try:
        return _correct(engine, exception_id, changes, raw, reason, entity_code, settings, preview)
    except _Previewed as shown:
        return shown.outcome


class _Previewed(Exception):  # noqa: N818 - not an error: how a preview rolls back
    """Raised out of a previewed correction's transaction, which it rolls back."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__("previewed")
        self.outcome = outcome


def _correct(
    engine: Engine,
    exception_id: int,
    changes: dict[str, str] | None,
    raw: str | None,
    reason: str,
    entity_code: str | None,
    settings: Settings,
    preview: bool,
) -> Outcome:
    """``correct``'s one transaction (one function: reading the copy, storing it and billing
    it are its steps)."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        billing.lock_entity(conn, entity.id, shared=True)
        x = pending_one(conn, entity, exception_id)
        if x["sub_code"] == SubCode.BAD_MESSAGE.value:
            raise ConflictError(
                "NOT_CORRECTABLE",
                f"exception {exception_id} is a stream message that holds no event, so it has"
                " no fields to correct: reject it ('exceptions reject') and have the producer"
                " send the event again",
            )
        fmt = (
            get_format(x["format"])
            if x["batch_layout"] is None
            else layout_format(x["batch_layout"])
        )
        fields, columns = _corrected_fields(x, changes, raw, fmt.sources)
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
            plan=entity_plan(entity),
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
            author=current_actor(),
            reason=reason,
            created_at=now,
        )
        if stored is not None:
            _overwrite(conn, record_pk, copy, to_csv_line(fields))
        review.attach_record(
            conn,
            exception_id,
            record_pk=record_pk,
            record_id=copy["record_id"],
            period=copy["period"],
        )
        audit_change(
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
        if preview:
            raise _Previewed(outcome)
        return outcome


def _corrected_fields(
    x: dict[str, Any],
    changes: dict[str, str] | None,
    raw: str | None,
    sources: Mapping[str, str],
) -> tuple[list[str], list[str]]:
    """The corrected row's fields and the feed's columns. A change names a column of the
    feed, or the canonical field an exception names (``quantity`` for Asterisk's
    ``billsec``)."""
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
        key = key if key in columns else sources.get(key, key)
        if key not in columns:
            also = ", ".join(f"{c} ({s})" for c, s in sources.items())
            raise InputError(
                "UNKNOWN_COLUMN",
                f"the feed has no column {name!r}; its columns are {', '.join(columns)}"
                + (f"; fields by their names: {also}" if also else ""),
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
            made = review.add_record(
                conn,
                {
                    "entity_id": entity.id,
                    "origin": x["origin"],
                    **{c: copy[c] for c in STORED_FIELDS},
                    **stored_kind(copy["destination"]),
                    "customer_id": None,
                    "status": "exception",
                    "batch_id": x["batch_id"],
                    "source_sha256": x["source_sha256"],
                    "source_line": x["source_line"],
                    "raw": to_csv_line(fields),
                },
            )
    except IntegrityError as error:
        if not usage.stored_meanwhile(error):
            raise
        _refuse_clash(conn, entity, x, copy)
        raise
    return made


def _refuse_clash(
    conn: Connection, entity: Entity, x: dict[str, Any], copy: dict[str, Any]
) -> None:
    """Refuse a copy whose id another record of the origin already has."""
    clash = review.other_record(
        conn, entity.id, x["origin"], copy["record_id"], besides=x["record_pk"]
    )
    if clash is not None:
        same = clash["content_sha256"] == copy["content_sha256"]
        raise ConflictError(
            "CORRECTION_DUPLICATE" if same else "CORRECTION_ID_CONFLICT",
            f"record {copy['record_id']!r} is already billed from"
            f" {clash['source_name']}:{clash['source_line']}"
            + (
                " with the same content: reject this exception as a duplicate"
                if same
                else " with other content: correct the record id, or reject this exception"
            ),
        )


def _overwrite(conn: Connection, record_pk: int, copy: dict[str, Any], raw: str) -> None:
    review.overwrite_record(
        conn,
        record_pk,
        {**{c: copy[c] for c in STORED_FIELDS}, **stored_kind(copy["destination"]), "raw": raw},
    )


def _original_json(stored: dict[str, Any] | None) -> str | None:
    """A stored record's values before a correction, as JSON (None for a new record)."""
    if stored is None:
        return None
    return json.dumps(
        {c: _jsonable(stored[c]) for c in STORED_FIELDS}, sort_keys=True, ensure_ascii=False
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
