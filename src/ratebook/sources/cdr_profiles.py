"""Mapping profiles: a switch's CDR layout named in a small YAML file, read as a feed format.

A profile says which kind of record a file holds (``generic``, ``asterisk`` or
``freeswitch``: how its call key and disposition are worked out), which columns it has
(with a header, or in order without one: a list, an Asterisk ``cdr_custom`` mapping line or
a FreeSWITCH ``mod_cdr_csv`` template line), which column holds each canonical field, how
start times are written (ISO 8601, a layout, or epoch seconds), their zone, the text's
encoding, and, for FreeSWITCH, which legs and directions are billed. Ratebook ships profiles
for the layouts switches write out of the box (``ratebook formats list``); a site writes its
own (``docs/formats.md``).
"""

from __future__ import annotations

import codecs
import json
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ratebook.errors import InputError
from ratebook.sources.formats import (
    ASTERISK_COLUMNS,
    FREESWITCH_COLUMNS,
    AsteriskFormat,
    FeedFormat,
    FreeSwitchFormat,
    GenericFormat,
    cdr_custom_columns,
    template_columns,
)
from ratebook.sources.yamlfile import load_model

_SHIPPED = resources.files("ratebook.sources") / "cdr_profiles"

#: The canonical fields a profile may say the column of: the generic format's columns.
CANONICAL = (*GenericFormat().required, *GenericFormat().optional)


class CdrProfile(BaseModel):
    """One layout of usage records, as its YAML file writes it (``docs/formats.md``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,31}$")
    description: str = ""
    kind: Literal["generic", "asterisk", "freeswitch"]
    #: A switch layout's columns in order (no header); or ``line``; or neither, for the
    #: kind's stock layout.
    columns: tuple[str, ...] | None = None
    #: An Asterisk ``cdr_custom.conf`` mapping line, or a FreeSWITCH template line.
    line: str | None = None
    #: The column each canonical field is read from, where it is not the kind's own: a
    #: generic file's header names (``record_id: CallID``), or a switch column.
    fields: dict[str, str] = Field(default_factory=dict)
    #: ``iso8601``, ``epoch`` (seconds, up to six places), ``epoch_ms``, or a strftime
    #: layout (``%d/%m/%Y %H:%M:%S``) of local times; None for the kind's own.
    time: str | None = None
    #: The IANA zone of local start times, unless ``--tz`` says otherwise.
    zone: str | None = None
    #: Asterisk: the columns whose values, joined by ``/``, are the record id.
    key: tuple[str, ...] | None = None
    #: FreeSWITCH: ``a`` to bill A legs only (B legs kept as ``B_LEG`` records), or ``ab``.
    legs: Literal["a", "ab"] = "ab"
    #: FreeSWITCH: the directions billed (``inbound``, ``outbound``); None for all.
    directions: tuple[str, ...] | None = None
    #: The file's text encoding (``utf-8``, ``cp1251``, ``latin-1``, ...).
    encoding: str = "utf-8"

    @field_validator("fields")
    @classmethod
    def _canonical(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = [name for name in value if name not in CANONICAL]
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not a field: {', '.join(CANONICAL)}")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            return codecs.lookup(value).name
        except LookupError:
            raise ValueError(f"{value!r} is not an encoding Python knows") from None

    @field_validator("time")
    @classmethod
    def _time_layout(cls, value: str | None) -> str | None:
        if value is None or value in ("iso8601", "epoch", "epoch_ms") or "%" in value:
            return value
        raise ValueError(
            f"{value!r} is not a time layout: iso8601, epoch, epoch_ms, or a strftime layout"
        )

    @field_validator("directions")
    @classmethod
    def _lower(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else tuple(v.strip().lower() for v in value)

    @model_validator(mode="after")
    def _fits_kind(self) -> CdrProfile:
        if self.columns is not None and self.line is not None:
            raise ValueError("give the columns or the line, not both")
        if self.kind == "generic" and (self.columns is not None or self.line is not None):
            raise ValueError("a generic file names its columns in its header: no columns or line")
        if self.key is not None and self.kind != "asterisk":
            raise ValueError("key is for asterisk profiles")
        if self.kind != "freeswitch" and (self.legs != "ab" or self.directions is not None):
            raise ValueError("legs and directions are for freeswitch profiles")
        if self.columns is not None and len(set(self.columns)) != len(self.columns):
            raise ValueError("a column is named twice")
        return self


def shipped_layouts() -> list[CdrProfile]:
    """The profiles Ratebook ships, by name."""
    return [
        load_cdr_profile(p.name.removesuffix(".yaml"))
        for p in sorted(_SHIPPED.iterdir(), key=lambda p: p.name)
        if p.name.endswith(".yaml")
    ]


def load_cdr_profile(name_or_path: str) -> CdrProfile:
    """A shipped profile by name (``asterisk-18``), or the profile in a YAML file.

    Raises:
        InputError: ``UNKNOWN_PROFILE``; the file's errors, or ``BAD_PROFILE`` naming the key
            at fault; ``BAD_TEMPLATE`` for a line that cannot be read.
    """
    shipped = _SHIPPED / f"{name_or_path}.yaml"
    if "/" not in name_or_path and shipped.is_file():
        with resources.as_file(shipped) as path:
            profile = load_model(path, CdrProfile, "BAD_PROFILE")
    else:
        path = Path(name_or_path)
        if not (path.suffix in (".yaml", ".yml") or path.exists()):
            known = ", ".join(
                p.name.removesuffix(".yaml")
                for p in sorted(_SHIPPED.iterdir(), key=lambda p: p.name)
                if p.name.endswith(".yaml")
            )
            raise InputError(
                "UNKNOWN_PROFILE",
                f"no profile {name_or_path!r}: Ratebook ships {known}, or give the path of a"
                " profile's YAML file",
                path="--profile",
            )
        profile = load_model(path, CdrProfile, "BAD_PROFILE")
    profile_format(profile)  # its line and key are read now, not at the first row
    return profile


def profile_format(profile: CdrProfile) -> FeedFormat:
    """The feed format a profile describes.

    Raises:
        InputError: ``BAD_TEMPLATE`` (a line that cannot be read), ``BAD_PROFILE`` (a key or
            field naming a column the layout does not have).
    """
    fields = dict(profile.fields)
    if profile.kind == "generic":
        return GenericFormat(
            name=profile.name,
            renames=fields,
            time_layout=profile.time or "iso8601",
        )
    epoch = False
    if profile.kind == "asterisk":
        if profile.line is not None:
            columns, epoch = cdr_custom_columns(profile.line, where="line")
        else:
            columns = profile.columns or ASTERISK_COLUMNS
        fmt: AsteriskFormat | FreeSwitchFormat = AsteriskFormat(name=profile.name, columns=columns)
        fmt = AsteriskFormat(
            name=profile.name,
            columns=columns,
            key=profile.key,
            sources={**fmt.sources, **fields},
            time_layout=profile.time or ("epoch" if epoch else fmt.time_layout),
        )
    else:
        if profile.line is not None:
            columns = template_columns(profile.line, where="line")
        else:
            columns = profile.columns or FREESWITCH_COLUMNS
        if profile.directions is not None and "direction" not in columns:
            raise InputError(
                "BAD_PROFILE",
                "directions are read from ${direction}, which the layout does not write",
                path=profile.name,
                field="directions",
            )
        if profile.legs == "a" and not {"direction", "bleg_uuid"} & set(columns):
            raise InputError(
                "BAD_PROFILE",
                "B legs are told by ${direction} or ${bleg_uuid}, which the layout does not write",
                path=profile.name,
                field="legs",
            )
        stock = FreeSwitchFormat()
        fmt = FreeSwitchFormat(
            name=profile.name,
            columns=columns,
            legs=profile.legs,
            directions=profile.directions,
            sources={**stock.sources, **fields},
            time_layout=profile.time or stock.time_layout,
        )
    named = [*(profile.key or ()), *profile.fields.values()]
    unknown = [c for c in named if c not in columns]
    if unknown:
        raise InputError(
            "BAD_PROFILE",
            f"column {unknown[0]!r} is not one of the layout's ({', '.join(columns)})",
            path=profile.name,
            field="key" if unknown[0] in (profile.key or ()) else "fields",
        )
    return fmt


def layout_json(profile: CdrProfile) -> str:
    """The profile as its batch keeps it, to read a corrected row the same way."""
    return json.dumps(profile.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)


def layout_format(layout: str) -> FeedFormat:
    """The feed format of a batch's stored layout (:func:`layout_json`)."""
    return profile_format(CdrProfile.model_validate(json.loads(layout)))
