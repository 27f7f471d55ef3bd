"""Meter definitions: how a CloudEvent of one ``type`` becomes a usage record when its
``data`` is a producer's own properties (OpenMeter's events) rather than Ratebook's fields.

A meter names the property holding the quantity (a JSON path into ``data``, or ``count``:
each event is one), the service and unit of its records, where the account is when the
event's ``subject`` is not it, and the properties kept as named dimensions. Properties a
meter does not name are kept as attributes under their own names, as for any CloudEvent.
Pure: no I/O (``sources.meters`` reads the file).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: A JSON path Ratebook reads: ``$`` and one or more ``.name`` steps (``$.usage.tokens``).
_PATH = re.compile(r"^\$(\.[A-Za-z_][A-Za-z0-9_-]*)+$")
#: Dimension names as attributes hold them.
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def _checked_path(value: str) -> str:
    if not _PATH.fullmatch(value):
        raise ValueError(f"{value!r} is not a JSON path of the form $.name or $.name.inner")
    return value


class Meter(BaseModel):
    """One event type's meter (``docs/api.md``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(min_length=1)
    #: ``count``, or the JSON path of the quantity in ``data`` (``$.tokens``).
    value: str
    service: str = Field(min_length=1, max_length=32)
    #: The unit the value is written in (``req``, ``s``, ``MB``, ``kWh``, ...); by default the
    #: service's own.
    unit: str | None = None
    #: The JSON path of the account, where the event's ``subject`` does not name it.
    account: str | None = None
    #: Attributes the record keeps under these names, from these JSON paths.
    dimensions: dict[str, str] = Field(default_factory=dict)

    @field_validator("value")
    @classmethod
    def _value(cls, value: str) -> str:
        return value if value == "count" else _checked_path(value)

    @field_validator("account")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        return None if value is None else _checked_path(value)

    @field_validator("dimensions")
    @classmethod
    def _dimensions(cls, value: dict[str, str]) -> dict[str, str]:
        for name, path in value.items():
            if not _NAME.fullmatch(name):
                raise ValueError(f"dimension name {name!r} is not lower-case letters and digits")
            _checked_path(path)
        return value


class Meters(BaseModel):
    """A meters file: one meter per event type."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    meters: tuple[Meter, ...]

    @field_validator("meters")
    @classmethod
    def _one_per_type(cls, value: tuple[Meter, ...]) -> tuple[Meter, ...]:
        seen: set[str] = set()
        for meter in value:
            if meter.type in seen:
                raise ValueError(f"event type {meter.type!r} has two meters")
            seen.add(meter.type)
        return value

    def of(self, kind: str) -> Meter | None:
        """The meter of events of type ``kind``, if one is defined."""
        return next((m for m in self.meters if m.type == kind), None)


def at_path(data: dict[str, Any], path: str) -> Any:
    """The value at a JSON path (``$.a.b``) in ``data``; None where there is none."""
    value: Any = data
    for step in path.split(".")[1:]:
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    return value


def metered(meter: Meter, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` read through ``meter``: its quantity (1 for ``count``; none where the value
    property is missing, so the event is refused for it), service and unit, its account
    where the meter names its path, and each dimension under its name. A top-level property
    the meter reads is not kept a second time under its own name; the rest of ``data`` is
    left as it is (kept as attributes)."""
    read: set[str] = set()

    def take(path: str) -> Any:
        if "." not in path[2:]:
            read.add(path[2:])
        return at_path(data, path)

    dimensions = {name: take(path) for name, path in meter.dimensions.items()}
    quantity = 1 if meter.value == "count" else take(meter.value)
    account = None if meter.account is None else take(meter.account)
    out = {key: value for key, value in data.items() if key not in read}
    out.update(dimensions)
    if quantity is not None:
        out["quantity"] = quantity
    out["service"] = meter.service
    if meter.unit is not None:
        out["unit"] = meter.unit
    if account is not None:
        out["account"] = account
    return out
