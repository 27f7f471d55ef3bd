"""The feed formats a usage file may be in, described for ``ratebook formats``: each one's
layout and, column by column, what Ratebook reads from it."""

from __future__ import annotations

from dataclasses import dataclass

from ratebook.sources.formats import (
    ASTERISK_BASE,
    FORMATS,
    AsteriskFormat,
    FreeSwitchFormat,
    GenericFormat,
    get_format,
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


def format_layouts() -> list[tuple[str, str]]:
    """Every format's name and layout, by name."""
    return [(name, _LAYOUTS[name]) for name in sorted(FORMATS)]


def format_columns(name: str) -> list[FormatColumn]:
    """The columns of format ``name``, in file order (the generic format's, required first).

    Raises:
        InputError: ``UNKNOWN_FORMAT``.
    """
    fmt = get_format(name)
    if isinstance(fmt, GenericFormat):
        return [
            FormatColumn(column, _ROLES[column], column in fmt.required)
            for column in (*fmt.required, *fmt.optional)
        ]
    read = {column: field for field, column in fmt.sources.items()}
    needed = {"start_time", "quantity"}
    described = []
    for column in getattr(fmt, "columns", ()):
        if isinstance(fmt, AsteriskFormat) and column in ("uniqueid", "linkedid", "sequence"):
            meaning = "record id: linkedid/sequence where both are given, else uniqueid"
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
    if isinstance(fmt, AsteriskFormat):
        # columns past the 16 base ones may be left out, in order
        described = [
            FormatColumn(c.column, c.meaning, c.required and c.column in ASTERISK_BASE)
            for c in described
        ]
    return described
