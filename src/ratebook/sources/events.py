"""Events pushed as JSON (the API's ``POST /v1/events``, a stream's messages) as rows of the
generic format: each event's canonical fields and attributes as the text a file's cells would
hold, so a pushed event and the same event in a file are read, rated, rejected and
deduplicated alike.

An event is a JSON object with the canonical fields (``record_id``, ``start_time``,
``quantity``, ``unit``, ``service``, ``account``, ``caller``, ``destination``,
``disposition``, ``direction``), an optional ``origin`` and free ``attributes``. Numbers come
as ``int`` or ``Decimal``, never float.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ratebook.errors import InputError
from ratebook.model.usage import EVENT_FIELDS as FIELDS

DEFAULT_ORIGIN = "api"
_MAX_ORIGIN = 64


@dataclass(slots=True)
class EventRow:
    """One pushed event as the row of the generic format it is stored as."""

    index: int  # place among all the events of the transaction
    position: int  # place in its own request
    origin: str
    record_id: str | None
    fields: dict[str, str]
    utf8_ok: bool
    digest: str
    shape: tuple[str, ...]  # the attribute names, which make the columns of the row's batch
    line: int | None = None  # where its source puts it (a stream's offset); default index + 1


def _text(value: Any) -> tuple[str, bool]:
    """An event value as the text a CSV cell would hold; False when it held a lone surrogate
    (JSON can escape one; it is not text and is refused like invalid UTF-8 in a file)."""
    if value is None:
        return "", True
    if isinstance(value, bool):
        return ("true" if value else "false"), True
    if isinstance(value, Decimal):
        return format(value, "f"), True
    if isinstance(value, int):
        return str(value), True
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(
            value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=_exact
        )
    if text.isascii():
        return text, True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # the shape stage flags U+DCxx as bytes that were not UTF-8
        return "".join("\udcff" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text), False
    return text, True


def _exact(value: object) -> str:
    """A number inside a nested attribute, kept exact as decimal text."""
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"{type(value).__name__} is not JSON")


#: An epoch number this large or larger is in milliseconds, not seconds (10^11 seconds is in
#: the year 5138; 10^11 milliseconds is in 1973).
_MILLISECONDS_FROM = 10**11
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_text(value: int) -> str:
    """An epoch start time (whole seconds, or milliseconds from 10^11 on) as the ISO 8601
    text a file would hold, in UTC; a number no date has stays as written, for the
    validation to refuse."""
    try:
        if abs(value) >= _MILLISECONDS_FROM:
            instant = _EPOCH + timedelta(milliseconds=value)
        else:
            instant = _EPOCH + timedelta(seconds=value)
    except OverflowError:
        return str(value)
    return instant.isoformat()


def event_rows(
    events: list[dict[str, Any]], default_origin: str, digest: str, offset: int
) -> list[EventRow]:
    """Events as rows, numbered on from ``offset`` among the events of one transaction.

    Raises:
        InputError: an attribute or origin that cannot be stored (names the event).
    """
    rows: list[EventRow] = []
    for index, event in enumerate(events):
        origin_value = event.get("origin")
        origin = default_origin if origin_value in (None, "") else str(origin_value)
        if len(origin) > _MAX_ORIGIN:
            raise InputError(
                "ORIGIN_TOO_LONG",
                f"origin is longer than {_MAX_ORIGIN} characters",
                path=f"events[{index}]",
                field="origin",
            )
        fields: dict[str, str] = {}
        ok = True
        for name in FIELDS:
            value = event.get(name)
            if name == "start_time" and value.__class__ is int:
                value = epoch_text(value)  # OpenMeter's and many producers' epoch times
            if value.__class__ is str and value.isascii():  # most values: kept as they are
                fields[name] = value
            else:
                fields[name], good = _text(value)
                ok = ok and good
        attributes = event.get("attributes") or {}
        for key, value in attributes.items():
            name = str(key).strip().lower()
            if not name or name in FIELDS or name == "origin" or name in fields:
                raise InputError(
                    "BAD_ATTRIBUTE",
                    f"attribute {key!r} is empty, repeats another, or is a canonical field",
                    path=f"events[{index}].attributes",
                    field=str(key),
                )
            fields[name], good = _text(value)
            ok = ok and good
        record_id = fields["record_id"].strip() or None
        shape = tuple(sorted(set(fields).difference(FIELDS))) if attributes else ()
        rows.append(EventRow(offset + index, index, origin, record_id, fields, ok, digest, shape))
    return rows


def by_batch(rows: list[EventRow]) -> dict[tuple[str, tuple[str, ...]], list[EventRow]]:
    """Events by the batch they are stored in: one per origin and attribute set, in order."""
    batches: dict[tuple[str, tuple[str, ...]], list[EventRow]] = {}
    for row in rows:
        batches.setdefault((row.origin, row.shape), []).append(row)
    return batches
