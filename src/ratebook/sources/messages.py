"""A stream's messages as events: canonical JSON (the schema of ``POST /v1/events``) or
CloudEvents 1.0, structured (a JSON object with ``specversion``) or binary (``ce_`` headers,
the data as the message's value). One message holds one event or a JSON array of them.

A message that holds no event (not UTF-8, not JSON, not objects, a field of the wrong shape)
is not dropped: it is ``Unreadable``, with the reason, and becomes an exception.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ratebook.model.meters import Meters, metered
from ratebook.model.usage import EVENT_FIELDS, with_extra_keys

#: The keys of a canonical event besides the canonical fields.
_EXTRA_KEYS = frozenset({"origin", "attributes"})
#: The scalar JSON values an event field may hold.
_SCALARS = (str, int, Decimal, type(None))


@dataclass(frozen=True, slots=True)
class StreamMessage:
    """One message as the broker gave it.

    Attributes:
        headers: by name; a header given twice keeps its last value.
    """

    topic: str
    partition: int
    offset: int
    value: bytes | None
    headers: dict[str, bytes] = field(default_factory=dict)

    @property
    def where(self) -> str:
        """``topic:partition:offset``, how lineage and errors name it."""
        return f"{self.topic}:{self.partition}:{self.offset}"

    def header(self, name: str) -> str | None:
        """A header's value as text (None when absent or not UTF-8)."""
        raw = self.headers.get(name)
        if raw is None:
            return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return None


@dataclass(frozen=True, slots=True)
class Unreadable:
    """Why a message holds no event."""

    reason: str


def decode(
    message: StreamMessage, meters: Meters | None = None
) -> list[dict[str, Any]] | Unreadable:
    """The canonical events of ``message`` (numbers kept exact), or why it holds none; a
    CloudEvent whose type has one of ``meters`` and whose data has no quantity is read
    through its meter."""
    if message.value is None:
        return Unreadable("the message has no value (a tombstone)")
    try:
        text = message.value.decode("utf-8")
    except UnicodeDecodeError as error:
        return Unreadable(f"the message is not UTF-8 (byte {error.start})")
    try:
        payload = json.loads(text, parse_float=Decimal, object_pairs_hook=_no_repeats)
    except (ValueError, _RepeatedKeyError) as error:
        return Unreadable(f"the message is not JSON: {error}")
    if message.header("ce_specversion") is not None:
        return _binary_cloudevent(message, payload, meters)
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        return Unreadable("the message is an empty array")
    events: list[dict[str, Any]] = []
    for place, item in enumerate(items):
        where = f"event {place}" if isinstance(payload, list) else "the event"
        if not isinstance(item, dict):
            return Unreadable(f"{where} is a JSON {_kind(item)}, not an object")
        event = _from_cloud(item, meters) if "specversion" in item else _canonical(item)
        if isinstance(event, Unreadable):
            return Unreadable(f"{where}: {event.reason}")
        events.append(event)
    return events


class _RepeatedKeyError(ValueError):
    pass


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _RepeatedKeyError(f"key {key!r} given twice")
        found[key] = value
    return found


def _kind(value: object) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


def _canonical(item: dict[str, Any]) -> dict[str, Any] | Unreadable:
    """A canonical event, its unknown keys kept as attributes (a producer's extra fields are
    kept with the record, not a reason to refuse the event)."""
    attributes = item.get("attributes") or {}
    if not isinstance(attributes, dict):
        return Unreadable(f"attributes is a JSON {_kind(attributes)}, not an object")
    event: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in item.items():
        if key in EVENT_FIELDS:
            if not isinstance(value, _SCALARS) or isinstance(value, bool):
                return Unreadable(f"{key} is a JSON {_kind(value)}")
            event[key] = value
        elif key == "origin":
            if not isinstance(value, str | type(None)):
                return Unreadable(f"origin is a JSON {_kind(value)}, not a string")
            event[key] = value
        elif key != "attributes":
            extra[key] = value
    merged, clash = with_extra_keys(attributes, extra)
    if clash is not None:
        return Unreadable(f"{clash!r} is both a key and an attribute")
    if merged:
        event["attributes"] = merged
    return event


def _from_cloud(item: dict[str, Any], meters: Meters | None) -> dict[str, Any] | Unreadable:
    """A structured CloudEvent: ``id`` is the record id and ``source`` the origin; ``time``
    the start unless ``data.start_time`` says, ``subject`` the account unless
    ``data.account`` does; other keys of ``data`` are kept as attributes."""
    if item.get("specversion") != "1.0":
        return Unreadable(f"specversion {item.get('specversion')!r} is not 1.0")
    for name in ("id", "source", "type"):
        if not isinstance(item.get(name), str) or not item[name]:
            return Unreadable(f"the CloudEvent has no {name}")
    data = item.get("data")
    if not isinstance(data, dict):
        return Unreadable(f"the CloudEvent's data is a JSON {_kind(data)}, not an object")
    return _cloud_event(
        item["id"],
        item["source"],
        item["type"],
        item.get("time"),
        item.get("subject"),
        data,
        meters,
    )


def _binary_cloudevent(
    message: StreamMessage, data: Any, meters: Meters | None
) -> list[dict[str, Any]] | Unreadable:
    """A binary-mode CloudEvent: its attributes in ``ce_`` headers, its data the value."""
    if message.header("ce_specversion") != "1.0":
        return Unreadable(f"ce_specversion {message.header('ce_specversion')!r} is not 1.0")
    found = {name: message.header(f"ce_{name}") for name in ("id", "source", "type")}
    missing = [name for name, value in found.items() if not value]
    if missing:
        return Unreadable(f"the CloudEvent has no ce_{missing[0]} header")
    if not isinstance(data, dict):
        return Unreadable(f"the CloudEvent's data is a JSON {_kind(data)}, not an object")
    event = _cloud_event(
        str(found["id"]),
        str(found["source"]),
        str(found["type"]),
        message.header("ce_time"),
        message.header("ce_subject"),
        data,
        meters,
    )
    return event if isinstance(event, Unreadable) else [event]


def _cloud_event(
    event_id: str,
    source: str,
    kind: str,
    time: object,
    subject: object,
    data: dict[str, Any],
    meters: Meters | None,
) -> dict[str, Any] | Unreadable:
    meter = None if meters is None or "quantity" in data else meters.of(kind)
    if meter is not None:
        data = metered(meter, data)
    body = _canonical({k: v for k, v in data.items() if k not in ("record_id", "origin")})
    if isinstance(body, Unreadable):
        return body
    attributes = dict(body.pop("attributes", None) or {})
    attributes["ce_type"] = kind
    return {
        **body,
        "record_id": event_id,
        "origin": source,
        "start_time": body.get("start_time") or time,
        "account": body.get("account") or subject,
        "attributes": attributes,
    }
