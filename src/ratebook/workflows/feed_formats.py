"""The feed formats a usage file may be in, described for ``ratebook formats``: each one's
layout and, column by column, what Ratebook reads from it."""

from __future__ import annotations

from dataclasses import dataclass

from ratebook.errors import InputError
from ratebook.sources.cdr_profiles import (
    CdrProfile,
    load_cdr_profile,
    profile_format,
    shipped_layouts,
)
from ratebook.sources.formats import (
    ASTERISK_BASE,
    ASTERISK_COLUMNS,
    FORMATS,
    AsteriskFormat,
    FeedFormat,
    FreeSwitchFormat,
    GenericFormat,
)

#: What each canonical field is, as ``formats show`` names it.
_ROLES = {
    "record_id": "record id",
    "start_time": "start time",
    "quantity": "quantity",
    "account": "customer account",
    "caller": "caller number",
    "destination": "destination number",
    "disposition": "disposition",
    "direction": "direction",
    "service": "service",
    "unit": "unit",
}

#: The columns of an Asterisk row its call key is made of.
_CALL_KEY = ("uniqueid", "linkedid", "sequence")

_LAYOUTS = {
    "generic": "a headered CSV with Ratebook's column names; other columns are attributes",
    "asterisk": "Asterisk cdr_csv Master.csv: 16, 18 or 21 fields, no header",
    "freeswitch": "FreeSWITCH mod_cdr_csv, stock 'example' template (or --template): no header",
}


@dataclass(frozen=True, slots=True)
class FormatColumn:
    """One column of a format: its name, what Ratebook reads from it, and whether a row
    must fill it."""

    column: str
    meaning: str
    required: bool


def format_layouts() -> list[tuple[str, str, str]]:
    """Every format's name, the option that takes it and its layout: the formats, then the
    shipped mapping profiles, each by name."""
    return [(name, "--format", _LAYOUTS[name]) for name in sorted(FORMATS)] + [
        (profile.name, "--profile", profile.description) for profile in shipped_layouts()
    ]


def _profile(name: str) -> CdrProfile:
    """The mapping profile ``name`` names, or ``UNKNOWN_FORMAT`` naming what is known."""
    try:
        return load_cdr_profile(name)
    except InputError as error:
        if error.code != "UNKNOWN_PROFILE":
            raise
        known = ", ".join(name for name, _, _ in format_layouts())
        raise InputError(
            "UNKNOWN_FORMAT",
            f"no format or profile {name!r} (known: {known}; or a profile's YAML file)",
            path="FORMAT",
        ) from None


def format_columns(name: str) -> list[FormatColumn]:
    """The columns of format ``name`` (or of the mapping profile it names, shipped or in a
    YAML file), in file order (a generic layout's: required first).

    Raises:
        InputError: ``UNKNOWN_FORMAT`` (neither a format nor a profile), ``BAD_PROFILE``.
    """
    fmt: FeedFormat = FORMATS[name] if name in FORMATS else profile_format(_profile(name))
    if isinstance(fmt, GenericFormat):
        return [
            FormatColumn(fmt.renames.get(column, column), _ROLES[column], column in fmt.required)
            for column in (*fmt.required, *fmt.optional)
        ]
    read = {column: field for field, column in fmt.sources.items()}
    needed = {"start_time", "quantity"}
    described = []
    for column in getattr(fmt, "columns", ()):
        if isinstance(fmt, AsteriskFormat) and fmt.key is not None and column in fmt.key:
            meaning = f"record id: {'/'.join(fmt.key)}"
        elif isinstance(fmt, AsteriskFormat) and fmt.key is None and column in _CALL_KEY:
            meaning = (
                "record id: linkedid/sequence where both are given, else uniqueid"
                " (an unanswered attempt's with its fields' hash)"
            )
        elif isinstance(fmt, AsteriskFormat) and column == "disposition":
            meaning = "disposition"
        elif isinstance(fmt, FreeSwitchFormat) and column in ("answer_stamp", "hangup_cause"):
            meaning = "disposition (ANSWERED when answer_stamp is set, else hangup_cause)"
        elif column in read:
            meaning = _ROLES[read[column]]
        else:
            meaning = "attribute"
        required = read.get(column) in needed or (
            isinstance(fmt, FreeSwitchFormat) and column == "uuid"
        )
        described.append(FormatColumn(column, meaning, required))
    if isinstance(fmt, AsteriskFormat) and fmt.columns == ASTERISK_COLUMNS:
        # columns past the 16 base ones may be left out, in order
        described = [
            FormatColumn(c.column, c.meaning, c.required and c.column in ASTERISK_BASE)
            for c in described
        ]
    return described
