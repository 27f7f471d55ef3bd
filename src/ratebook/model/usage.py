"""The canonical usage record: its columns as the pipeline carries them, units and dispositions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import polars as pl

#: Units a record's quantity may be in. Quantities are integers at QUANTITY_SCALE of the unit.
UNITS: frozenset[str] = frozenset({"s", "msg", "B", "kWh", "m3", "call", "req"})

#: The instants a record may start at, half-open ``[EARLIEST, LATEST)`` (UTC): usage outside
#: it is an ``INVALID_RECORD`` (``TIME_OUT_OF_RANGE``), and billing periods are the months
#: inside it (``FIRST_PERIOD`` to ``LAST_PERIOD``). Years such as 0001 and 9999, which a
#: switch writes for a missing or a wrong clock, never reach a cycle.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
#: The one-record paths (``pipeline.scalar``, ``pipeline.event_record``) take instants before
#: this one only: Polars' time-zone tables end with 2099, Python's rules go on for ever, and
#: the two must agree on every local time they work out.
SCALAR_BEFORE = datetime(2099, 12, 1, tzinfo=UTC)
FIRST_PERIOD = "1970-01"
LAST_PERIOD = "2199-12"

#: Dispositions that are charged. Any other disposition, or a zero quantity, is rated at zero
#: (kept, never dropped).
CHARGED_DISPOSITIONS: frozenset[str] = frozenset({"ANSWERED"})

#: The canonical fields a pushed event may carry, in the order of the rows built from them.
EVENT_FIELDS = (
    "record_id",
    "start_time",
    "quantity",
    "unit",
    "service",
    "account",
    "caller",
    "destination",
    "disposition",
    "direction",
)

#: Text columns a feed format produces, before parsing. ``row_idx`` points into the chunk's rows.
RAW_COLUMNS: dict[str, pl.DataType] = {
    "row_idx": pl.Int64(),
    "line": pl.Int64(),
    "record_id": pl.String(),
    "start_time": pl.String(),
    "quantity": pl.String(),
    "unit": pl.String(),
    "service": pl.String(),
    "account": pl.String(),
    "caller": pl.String(),
    "destination": pl.String(),
    "disposition": pl.String(),
    "direction": pl.String(),
    "attributes": pl.String(),  # JSON object text, or null
}

#: The canonical record after ``normalise``: typed, E.164 numbers, UTC instant.
RECORD_COLUMNS: dict[str, pl.DataType] = {
    "row_idx": pl.Int64(),
    "line": pl.Int64(),
    "record_id": pl.String(),
    "start_time": pl.Datetime("us", "UTC"),
    "quantity": pl.Int64(),
    "unit": pl.String(),
    "service": pl.String(),
    "account": pl.String(),
    "caller": pl.String(),
    "destination": pl.String(),
    "disposition": pl.String(),
    "direction": pl.String(),
    "attributes": pl.String(),
    "content_sha256": pl.String(),
    "period": pl.String(),
}


#: The columns of a canonical record stored with it as they are (an intake's new records, a
#: corrected exception's copy).
STORED_FIELDS = (
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
    "period",
)


#: What the store knows of the ids in a batch: one row per known (id, content) version, an
#: id's first version (the stored record) ahead of its others.
KNOWN_SCHEMA: dict[str, pl.DataType] = {
    "record_id": pl.String(),
    "content_sha256": pl.String(),
    "seen_at": pl.String(),  # where it was first seen, e.g. "cdr-2026-10.csv:1234"
}


def with_extra_keys(
    attributes: Mapping[str, Any], extra: Mapping[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """An event's ``attributes`` with its ``extra`` keys (those no canonical field has) added
    as attributes, as pushes and streams keep them; and the first extra key that an
    attribute already names, blanks and case aside, if one does: such an event is refused,
    for neither value could be chosen over the other."""
    named = {str(k).strip().lower() for k in attributes}
    clash = next((k for k in extra if str(k).strip().lower() in named), None)
    return {**attributes, **extra}, clash
