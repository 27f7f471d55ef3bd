"""One pushed event's fields to a canonical record without frames: the generic format's
shaping, ``normalise`` and ``validate`` for a single well-formed event.

Only the usual event takes this path: valid UTF-8 and printable attributes, an ISO 8601
start time to the second or microsecond (``Z``, an offset, or local and not in a
daylight-saving gap) inside the billed time window, a plain decimal quantity, a known unit and
every field within its length. Anything else gives ``None``, and the caller reads the event
with the vectorized stages, which word its rejection; a differential property test holds the
two to the same record.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ratebook.model.tariffs import service_unit
from ratebook.model.usage import EARLIEST, EVENT_FIELDS, SCALAR_BEFORE, UNITS
from ratebook.money import QUANTITY_SCALE
from ratebook.pipeline.numbers import NumberPlan, parse_with_library
from ratebook.pipeline.validate import MAX_LENGTHS

_START = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:\d{2})?$"
)
_QUANTITY = re.compile(r"^([0-9]{1,12})(?:\.([0-9]{0,3}))?$")
#: Attribute text the frames encode to JSON exactly as ``json.dumps`` does.
_PLAIN = re.compile(r"^[\x20-\x21\x23-\x5b\x5d-\x7e]*$")
_SEPARATORS = re.compile(r"[\s\-().]")
_E164 = re.compile(r"^\+\d{4,15}$")


def _start(text: str, zone: ZoneInfo) -> datetime | None:
    """The UTC instant of start-time text, or None (not the fast path's, or no such time)."""
    match = _START.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    micro = int((match.group(7) or "").ljust(6, "0"))
    offset = match.group(8)
    try:
        wall = datetime(year, month, day, hour, minute, second, micro)  # noqa: DTZ001
    except ValueError:
        return None
    if offset is not None:
        east = 0
        if offset != "Z":
            hours, minutes = int(offset[1:3]), int(offset[4:6])
            if hours >= 24 or minutes >= 60:
                return None
            east = (hours * 60 + minutes) * (-1 if offset[0] == "-" else 1)
        return (wall - timedelta(minutes=east)).replace(tzinfo=UTC)
    local = wall.replace(tzinfo=zone)  # fold 0: the earlier instant of an overlap
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall:
        return None  # in a daylight-saving gap: the frames word the rejection
    return instant


def _quantity(text: str) -> int | None:
    match = _QUANTITY.match(text.strip())
    if match is None:
        return None
    fraction = (match.group(2) or "").ljust(QUANTITY_SCALE, "0")
    whole: int = int(match.group(1)) * 10**QUANTITY_SCALE
    return whole + int(fraction)


def e164_number(raw: str, plan: NumberPlan) -> str:
    """``numbers.e164`` for one number (not null)."""
    if _E164.match(raw):
        return raw
    cleaned = _SEPARATORS.sub("", raw.strip())
    if _E164.match(cleaned):
        return cleaned
    if (m := re.match(f"^(?:{plan.international_prefix})(\\d{{4,15}})$", cleaned)) is not None:
        return "+" + m.group(1)
    if plan.national_prefix and (
        m := re.match(f"^{re.escape(plan.national_prefix)}(\\d{{6,14}})$", cleaned)
    ):
        return "+" + plan.country_code + m.group(1)
    cc_len = len(plan.country_code)
    if re.match(f"^{plan.country_code}\\d{{{max(8 - cc_len, 1)},{15 - cc_len}}}$", cleaned):
        return "+" + cleaned
    if re.match(r"^\d{7,15}$", cleaned):
        found = parse_with_library(cleaned, plan.region)
        if found is not None:
            return found
    return raw.strip()


def content_digest(record: dict[str, Any]) -> str:
    """``normalise.content_digests`` for one record."""
    epoch_us = (record["start_time"] - EARLIEST) // timedelta(microseconds=1)
    parts = [record["record_id"], str(epoch_us), str(record["quantity"])]
    for name in (
        "unit",
        "service",
        "account",
        "caller",
        "destination",
        "disposition",
        "direction",
        "attributes",
    ):
        value = record[name]
        parts.append("\x00" if value is None else value)
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def canonical(
    fields: dict[str, str],
    columns: list[str],
    *,
    row_idx: int,
    line: int,
    feed_zone: str,
    entity_zone: str,
    plan: NumberPlan,
    max_field_chars: int,
) -> dict[str, Any] | None:
    """The canonical record (``model.usage.RECORD_COLUMNS``) of one event's fields as its
    batch's ``columns`` hold them, or None where the event is not the fast path's."""
    cells = [fields.get(c, "") for c in columns]
    if any(len(cell) > max_field_chars or not cell.isascii() for cell in cells):
        return None

    def value(name: str) -> str | None:
        text = fields.get(name, "").strip()
        return text or None

    attributes = [c for c in columns if c not in EVENT_FIELDS]
    if any(not _PLAIN.match(fields.get(c, "")) for c in attributes):
        return None
    record: dict[str, Any] = {name: value(name) for name in EVENT_FIELDS}
    record["service"] = (record["service"] or "voice").lower()
    record["unit"] = record["unit"] or service_unit(record["service"])
    record["attributes"] = (
        json.dumps({c: fields.get(c, "") for c in attributes}, separators=(",", ":"))
        if attributes
        else None
    )
    start_text, quantity_text = record["start_time"], record["quantity"]
    if record["record_id"] is None or start_text is None or quantity_text is None:
        return None
    start = _start(start_text, ZoneInfo(feed_zone))
    quantity = _quantity(quantity_text)
    if start is None or quantity is None or not EARLIEST <= start < SCALAR_BEFORE:
        return None
    if record["unit"] not in UNITS:
        return None
    for name in ("caller", "destination"):
        if record[name] is not None:
            record[name] = e164_number(record[name], plan)
    if any(
        record[name] is not None and len(record[name]) > limit
        for name, limit in MAX_LENGTHS.items()
    ):
        return None
    record.update(row_idx=row_idx, line=line, start_time=start, quantity=quantity)
    record["content_sha256"] = content_digest(record)
    record["period"] = f"{start.astimezone(ZoneInfo(entity_zone)):%Y-%m}"
    return record
