"""Feed formats: how a file's rows map onto the canonical record's text columns.

A format turns a chunk of CSV rows into a frame with the columns of ``RAW_COLUMNS`` (still
text) and rejects rows whose shape is wrong (field count, undecodable bytes, oversized
fields). Parsing the text is ``pipeline.normalise``'s job, the same for every format.

``FORMATS`` is the registry, a plain dict from name to format.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import polars as pl
import polars_hash as plh

from ratebook.errors import InputError
from ratebook.model.rejections import REJECTION_SCHEMA, Code, SubCode, no_rejections
from ratebook.model.tariffs import OTHER_SERVICE_UNIT, SERVICE_UNITS
from ratebook.model.usage import RAW_COLUMNS
from ratebook.sources.csvread import MASK_BITS, RawChunk, field_column


class FeedFormat(Protocol):
    """What the importer needs of a feed format."""

    @property
    def name(self) -> str:
        """The registry key, also the default origin."""
        ...

    @property
    def has_header(self) -> bool:
        """Whether the first row names the columns."""
        ...

    @property
    def time_layout(self) -> str:
        """strftime-style layout of start times, or ``iso8601`` (ISO 8601, optional offset)."""
        ...

    @property
    def sources(self) -> Mapping[str, str]:
        """The column each canonical field is read from, where it has another name (a
        correction may name either)."""
        ...

    def bind_header(self, header: list[str] | None, path: Path) -> list[str]:
        """Check the header (or its absence) and return the column names rows will have."""
        ...

    def to_frame(
        self, chunk: RawChunk, columns: list[str], max_field_chars: int
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Rows of a chunk as ``RAW_COLUMNS`` text, plus rejections for malformed rows."""
        ...


def _shape_rejections(
    chunk: RawChunk,
    columns: list[str],
    allowed_counts: set[int],
    max_field_chars: int,
    lenient: Collection[str] = (),
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The well-shaped rows of a chunk (``row_idx``, ``line`` and the fields by column name,
    short rows padded with nulls), and rejections for the rest: the first of a wrong field
    count, bytes that are not UTF-8, and a field over ``max_field_chars``. Bytes that are
    not UTF-8 in a ``lenient`` column (a caller's name, a dial string: nothing billing
    reads) are shown as U+FFFD and the row is kept."""
    fields = [field_column(i) for i in range(len(columns))]
    chunk_frame = chunk.frame
    if lenient:
        # the first field with such bytes that is not lenient, if any
        mask = pl.col("bad_mask")
        chunk_frame = chunk_frame.with_columns(
            pl.coalesce(
                [pl.lit(None, pl.Int64)]
                + [
                    pl.when((mask & (1 << min(i, MASK_BITS))) != 0).then(pl.lit(i, pl.Int64))
                    for i, name in enumerate(columns)
                    if name not in lenient
                ]
            ).alias("bad_utf8")
        )
    long_at: pl.Expr = pl.coalesce(
        [pl.lit(None, pl.Int64)]
        + [
            pl.when(pl.col(f).str.len_chars() > max_field_chars).then(pl.lit(i, pl.Int64))
            for i, f in enumerate(fields)
        ]
    )
    frame = chunk_frame.with_row_index("row_idx").with_columns(
        pl.col("row_idx").cast(pl.Int64), long_at.alias("_long")
    )
    wrong_count = ~pl.col("width").is_in(sorted(allowed_counts))
    malformed = wrong_count | pl.col("bad_utf8").is_not_null() | pl.col("_long").is_not_null()
    good = frame.filter(~malformed).select(
        "row_idx", "line", *[pl.col(f).alias(c) for f, c in zip(fields, columns, strict=True)]
    )
    if good.height == frame.height:
        return good, no_rejections()  # the usual chunk: no reason to word
    bad = frame.filter(malformed)
    return good, _reasons(bad, columns, fields, allowed_counts, max_field_chars)


def _reasons(
    bad: pl.DataFrame,
    columns: list[str],
    fields: list[str],
    allowed_counts: set[int],
    max_field_chars: int,
) -> pl.DataFrame:
    """Rejections for the malformed rows of ``_shape_rejections``, the first problem each."""
    expected = "/".join(str(n) for n in sorted(allowed_counts))
    names = pl.Series([repr(c) for c in columns], dtype=pl.String)
    positions = pl.Series(range(len(columns)), dtype=pl.Int64)

    def column_name(at: pl.Expr) -> pl.Expr:
        return at.replace_strict(positions, names, return_dtype=pl.String)

    wrong_count = ~pl.col("width").is_in(sorted(allowed_counts))
    bad_utf8 = pl.col("bad_utf8").is_not_null()
    rejected = bad.select(
        "row_idx",
        pl.lit(Code.INVALID_RECORD.value).alias("code"),
        pl.when(wrong_count)
        .then(pl.lit(SubCode.FIELD_COUNT.value))
        .when(bad_utf8)
        .then(pl.lit(SubCode.INVALID_UTF8.value))
        .otherwise(pl.lit(SubCode.FIELD_TOO_LONG.value))
        .alias("sub_code"),
        pl.when(wrong_count)
        .then(pl.lit(None, pl.String))
        .when(bad_utf8)
        .then(pl.col("bad_utf8").replace_strict(positions, pl.Series(columns), default=None))
        .otherwise(pl.col("_long").replace_strict(positions, pl.Series(columns), default=None))
        .alias("field"),
        pl.when(wrong_count)
        .then(pl.format("expected {} fields, found {}", pl.lit(expected), pl.col("width")))
        .when(bad_utf8)
        .then(
            pl.format(
                "field {} holds bytes that are not UTF-8 text (or a NUL)",
                column_name(pl.col("bad_utf8")),
            )
        )
        .otherwise(
            pl.format(
                "field {} has {} characters, more than the {} allowed",
                column_name(pl.col("_long")),
                pl.coalesce(
                    [
                        pl.when(pl.col("_long") == i).then(pl.col(f).str.len_chars())
                        for i, f in enumerate(fields)
                    ]
                ),
                pl.lit(max_field_chars),
            )
        )
        .alias("reason"),
    )
    return rejected.cast(pl.Schema(REJECTION_SCHEMA))


#: The attribute keeping the bytes of a row that held bytes that are not UTF-8 (base64).
RAW_BYTES = "_raw_bytes"


def with_raw_bytes(frame: pl.DataFrame, chunk: RawChunk) -> pl.DataFrame:
    """A format's rows with the bytes, as written, of each row that held bytes that are not
    UTF-8 (and was read with them shown as U+FFFD) kept in its attributes as ``_raw_bytes``
    (base64), so nothing of the row is lost."""
    if "raw_bytes" not in chunk.frame.columns or chunk.frame["raw_bytes"].null_count() == (
        chunk.height
    ):
        return frame
    raw = chunk.frame["raw_bytes"].gather(frame["row_idx"])
    kept = pl.lit('"' + RAW_BYTES + '":"') + pl.col("_raw") + pl.lit('"}')
    attributes = pl.col("attributes")
    return (
        frame.with_columns(raw.alias("_raw"))
        .with_columns(
            pl.when(pl.col("_raw").is_null())
            .then(attributes)
            .when(attributes.is_null() | (attributes == "{}"))
            .then(pl.lit("{") + kept)
            .otherwise(attributes.str.slice(0, attributes.str.len_chars() - 1) + pl.lit(",") + kept)
            .alias("attributes")
        )
        .drop("_raw")
    )


def _blank_to_null(name: str) -> pl.Expr:
    trimmed = pl.col(name).str.strip_chars()
    return pl.when(trimmed == "").then(None).otherwise(trimmed)


def _attributes(columns: list[str]) -> pl.Expr:
    if not columns:
        return pl.lit(None, pl.String)
    return pl.struct([pl.col(c) for c in columns]).struct.json_encode()


@dataclass(frozen=True, slots=True)
class GenericFormat:
    """A headered CSV with canonical column names; unknown columns become attributes.

    Required columns: ``record_id``, ``start_time`` (ISO 8601, with or without an offset) and
    ``quantity``. Optional: ``account``, ``caller``, ``destination``, ``service`` (default
    ``voice``), ``unit`` (default ``s``), ``disposition``, ``direction``.
    """

    name: str = "generic"
    has_header: bool = True
    time_layout: str = "iso8601"
    required: tuple[str, ...] = ("record_id", "start_time", "quantity")
    sources: Mapping[str, str] = field(default_factory=dict)  # canonical names already
    #: A site's header names for canonical columns (``{"record_id": "CallID"}``): such a
    #: column is read, and stored in its batch's columns, under its canonical name.
    renames: Mapping[str, str] = field(default_factory=dict)
    optional: tuple[str, ...] = (
        "account",
        "caller",
        "destination",
        "service",
        "unit",
        "disposition",
        "direction",
    )

    def bind_header(self, header: list[str] | None, path: Path) -> list[str]:
        if header is None:
            raise InputError("MISSING_HEADER", "the file has no header row", path=path, line=1)
        canonical = {theirs.strip().lower(): ours for ours, theirs in self.renames.items()}
        names = [h.strip().lower() for h in header]
        for ours in canonical.values():
            if ours in names:
                raise InputError(
                    "DUPLICATE_COLUMN",
                    f"the header has a column {ours!r} and the profile reads"
                    f" {self.renames[ours]!r} as {ours!r}",
                    path=path,
                    line=1,
                    field=ours,
                )
        names = [canonical.get(name, name) for name in names]
        seen: set[str] = set()
        for name in names:
            if not name:
                raise InputError(
                    "BAD_HEADER", "a header cell is empty", path=path, line=1, field="header"
                )
            if name in seen:
                raise InputError(
                    "DUPLICATE_COLUMN",
                    f"column {name!r} appears twice",
                    path=path,
                    line=1,
                    field=name,
                )
            seen.add(name)
        for name in self.required:
            if name not in seen:
                written = self.renames.get(name, name)
                raise InputError(
                    "MISSING_COLUMN",
                    f"required column {written!r} is missing"
                    f" (required: {', '.join(self.renames.get(n, n) for n in self.required)})",
                    path=path,
                    line=1,
                    field=written,
                )
        return names

    def to_frame(
        self, chunk: RawChunk, columns: list[str], max_field_chars: int
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        frame, rejected = _shape_rejections(chunk, columns, {len(columns)}, max_field_chars)
        known = set(self.required) | set(self.optional)
        extra = [c for c in columns if c not in known]
        service = (
            (_blank_to_null("service") if "service" in columns else pl.lit(None, pl.String))
            .fill_null("voice")
            .str.to_lowercase()
        )
        out = frame.select(
            [
                pl.col("row_idx"),
                pl.col("line"),
                *[
                    (_blank_to_null(c) if c in columns else pl.lit(None, pl.String)).alias(c)
                    for c in (
                        "record_id",
                        "start_time",
                        "quantity",
                        "account",
                        "caller",
                        "destination",
                        "disposition",
                        "direction",
                    )
                ],
                (_blank_to_null("unit") if "unit" in columns else pl.lit(None, pl.String))
                .fill_null(
                    # no unit: the service's own (seconds for voice, messages for sms)
                    service.replace_strict(
                        SERVICE_UNITS, default=OTHER_SERVICE_UNIT, return_dtype=pl.String
                    )
                )
                .alias("unit"),
                service.alias("service"),
                _attributes(extra).alias("attributes"),
            ]
        )
        return out.select(list(RAW_COLUMNS)), rejected


ASTERISK_BASE = (
    "accountcode",
    "src",
    "dst",
    "dcontext",
    "clid",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
)
#: What ``cdr_csv`` appends with ``newcdrcolumns=yes``: the 21-field form.
ASTERISK_NEW_COLUMNS = ("peeraccount", "linkedid", "sequence")
ASTERISK_COLUMNS = (*ASTERISK_BASE, "uniqueid", "userfield", *ASTERISK_NEW_COLUMNS)
#: The free-text columns of an Asterisk row, which bytes that are not UTF-8 (a caller's name
#: in a legacy code page) do not make unreadable: nothing billing reads is in them.
_ASTERISK_TEXT = frozenset(
    ("dcontext", "clid", "channel", "dstchannel", "lastapp", "lastdata", "userfield", "peeraccount")
)
#: The columns of an Asterisk row that become canonical fields.
_ASTERISK_READ = frozenset(("accountcode", "src", "dst", "start", "billsec", "disposition"))
#: The attributes every Asterisk record keeps: the rest of the classic columns, in order.
_ASTERISK_ATTRIBUTES = [c for c in (*ASTERISK_BASE, "userfield") if c not in _ASTERISK_READ]


def _switch_calls(
    frame: pl.DataFrame,
    *,
    sources: Mapping[str, str],
    disposition: pl.Expr,
    attributes: list[str] | pl.Expr,
) -> pl.DataFrame:
    """A switch's call records as ``RAW_COLUMNS``: voice, in seconds, each canonical field
    read from its column in ``sources`` (the format's), and ``attributes`` kept as
    attributes (columns, or the expression of their JSON text)."""
    return frame.select(
        pl.col("row_idx"),
        pl.col("line"),
        _blank_to_null(sources["record_id"]).alias("record_id"),
        _blank_to_null(sources["start_time"]).alias("start_time"),
        _blank_to_null(sources["quantity"]).alias("quantity"),
        pl.lit("s").alias("unit"),
        pl.lit("voice").alias("service"),
        *[
            (
                _blank_to_null(sources[name])
                if sources.get(name) in frame.columns
                else pl.lit(None, pl.String)
            ).alias(name)
            for name in ("account", "caller", "destination")
        ],
        disposition.alias("disposition"),
        (
            _blank_to_null(sources["direction"]).str.to_lowercase()
            if sources.get("direction") in frame.columns
            else pl.lit(None, pl.String)
        ).alias("direction"),
        (attributes if isinstance(attributes, pl.Expr) else _attributes(attributes)).alias(
            "attributes"
        ),
    ).select(list(RAW_COLUMNS))


def asterisk_row_hash(fields: list[str]) -> str:
    """The record id of an Asterisk row without a ``uniqueid``.

    ``"h:"`` followed by the SHA-256 (hex) of the 16 base fields, each stripped of surrounding
    blanks, joined by U+001F. Identical rows therefore share an id and count as duplicates.
    """
    text = "\x1f".join(f.strip() for f in fields[: len(ASTERISK_BASE)])
    return "h:" + hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True, slots=True)
class _SwitchFormat:
    """A switch's own CSV: no header, the columns in a fixed order, start times local to the
    feed's zone, to the second."""

    name: str
    columns: tuple[str, ...]
    has_header: bool = False
    time_layout: str = "%Y-%m-%d %H:%M:%S"

    def bind_header(self, header: list[str] | None, path: Path) -> list[str]:
        return list(self.columns)


@dataclass(frozen=True, slots=True)
class AsteriskFormat(_SwitchFormat):
    """Asterisk's ``Master.csv`` (cdr_csv): no header, 16 base columns, then optionally
    ``uniqueid`` and ``userfield``, or all of those and ``peeraccount``, ``linkedid`` and
    ``sequence`` (``newcdrcolumns=yes``: 21 fields); or the columns of a ``cdr_custom``
    mapping line (``columns``), every row of that width.

    The billed quantity is ``billsec`` in seconds; start times are local to the feed's zone.
    The record id is the call key (:func:`_asterisk_call_key`), or the columns of ``key``
    joined by ``/`` where a profile names them.
    """

    name: str = "asterisk"
    columns: tuple[str, ...] = field(default=ASTERISK_COLUMNS)
    #: The columns whose values, joined by ``/``, are the record id; None for the call key.
    key: tuple[str, ...] | None = None
    sources: Mapping[str, str] = field(
        default_factory=lambda: {
            "record_id": "uniqueid",
            "start_time": "start",
            "quantity": "billsec",
            "account": "accountcode",
            "caller": "src",
            "destination": "dst",
        }
    )

    def to_frame(
        self, chunk: RawChunk, columns: list[str], max_field_chars: int
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        base = len(ASTERISK_BASE)
        widths = (
            {base, base + 1, base + 2, len(ASTERISK_COLUMNS)}
            if tuple(columns) == ASTERISK_COLUMNS
            else {len(columns)}
        )
        frame, rejected = _shape_rejections(
            chunk, columns, widths, max_field_chars, lenient=_ASTERISK_TEXT
        )
        if len(columns) >= base and tuple(columns) == ASTERISK_COLUMNS[: len(columns)]:
            # one of cdr_csv's own forms, named: read as the stock format reads its rows
            frame = frame.with_columns(
                pl.lit(None, pl.String).alias(c) for c in ASTERISK_COLUMNS[len(columns) :]
            )
            columns = list(ASTERISK_COLUMNS)
        read = {*self.sources.values(), "disposition"}
        disposition = self.sources.get("disposition", "disposition")
        if self.key is not None:
            key = pl.concat_str(
                [pl.col(c).fill_null("").str.strip_chars() for c in self.key], separator="/"
            )
            # a row whose key columns are all blank has no id (MISSING_VALUE)
            frame = frame.with_columns(
                pl.when(key.str.replace_all("/", "", literal=True) != "")
                .then(key)
                .alias("call_key")
            )
            attributes = _attributes([c for c in columns if c not in read])
        else:
            frame, attributes = _asterisk_call_key(frame, columns, read, disposition)
        out = _switch_calls(
            frame,
            sources={**self.sources, "record_id": "call_key"},
            disposition=(
                _blank_to_null(disposition).str.to_uppercase()
                if disposition in columns
                else pl.lit(None, pl.String)
            ),
            attributes=attributes,
        )
        return out, rejected


def attempt_hash(columns: list[str]) -> pl.Expr:
    """The first 16 hex digits of the SHA-256 of a row's fields, each stripped of
    surrounding blanks (a field the row does not have: empty) and joined by U+001F."""
    text = plh.concat_str(
        [pl.col(c).fill_null("").str.strip_chars() for c in columns], separator="\x1f"
    )
    return text.chash.sha2_256().str.slice(0, 16)


def _asterisk_call_key(
    frame: pl.DataFrame, columns: list[str], read: set[str], disposition: str
) -> tuple[pl.DataFrame, pl.Expr]:
    """The frame with each row's ``call_key``, and the expression of its attributes (the
    columns not ``read`` as canonical fields).

    The key is ``linkedid/sequence`` where a row has both (each CDR of a call, its failover
    legs and its unanswered attempts included, has its own sequence). Else, for an answered
    CDR, its ``uniqueid``; for any other (an unanswered or failed attempt Asterisk wrote
    under the same ``uniqueid`` before the answered leg), ``uniqueid/a:`` and the first 16 hex
    digits of the SHA-256 of its fields (:func:`attempt_hash`), so every attempt is kept
    and an identical one sent again is a duplicate. A row without a ``uniqueid``: the hash
    of its base fields (:func:`asterisk_row_hash`). A row of the 21-field form keeps
    ``uniqueid``, ``peeraccount``, ``linkedid`` and ``sequence`` as attributes too, so its
    lineage names the leg.
    """
    unique = _blank_to_null("uniqueid") if "uniqueid" in columns else pl.lit(None, pl.String)
    missing_id = frame.select(unique.is_null()).to_series()
    hashed: pl.Expr | pl.Series = pl.lit(None, pl.String)
    if missing_id.any() and all(c in columns for c in ASTERISK_BASE):
        hashed = pl.Series(
            [
                asterisk_row_hash(list(fields)) if missing else None
                for fields, missing in zip(
                    frame.select(ASTERISK_BASE).iter_rows(), missing_id, strict=True
                )
            ],
            dtype=pl.String,
        )
    answered = (
        _blank_to_null(disposition).str.to_uppercase() == "ANSWERED"
        if disposition in columns
        else pl.lit(True)
    ).fill_null(False)
    key: pl.Expr = pl.coalesce(
        pl.when(answered).then(unique).otherwise(unique + pl.lit("/a:") + attempt_hash(columns)),
        hashed,
    )
    stock = tuple(columns) == ASTERISK_COLUMNS
    attributes = _attributes(
        _ASTERISK_ATTRIBUTES if stock else [c for c in columns if c not in read]
    )
    if "linkedid" in columns and "sequence" in columns:
        linked, sequence = _blank_to_null("linkedid"), _blank_to_null("sequence")
        key = (
            pl.when(linked.is_not_null() & sequence.is_not_null())
            .then(linked + pl.lit("/") + sequence)
            .otherwise(key)
        )
        if stock:
            # a row of the 21-field form: its three new columns are read (even when empty)
            attributes = (
                pl.when(pl.col("linkedid").is_not_null())
                .then(_attributes([*_ASTERISK_ATTRIBUTES, "uniqueid", *ASTERISK_NEW_COLUMNS]))
                .otherwise(attributes)
            )
    return frame.with_columns(key.alias("call_key")), attributes


#: The fields of FreeSWITCH ``mod_cdr_csv``'s stock ``example`` template, its default.
FREESWITCH_COLUMNS = (
    "caller_id_name",
    "caller_id_number",
    "destination_number",
    "context",
    "start_stamp",
    "answer_stamp",
    "end_stamp",
    "duration",
    "billsec",
    "hangup_cause",
    "uuid",
    "bleg_uuid",
    "accountcode",
    "read_codec",
    "write_codec",
)


#: The FreeSWITCH attributes a call's disposition is read from.
_FREESWITCH_DECIDING = ("answer_stamp", "hangup_cause")


@dataclass(frozen=True, slots=True)
class FreeSwitchFormat(_SwitchFormat):
    """FreeSWITCH ``mod_cdr_csv`` with its default ``example`` template: no header, the 15
    fields of ``FREESWITCH_COLUMNS``, every one quoted.

    The record id is ``uuid`` (the A leg's); the billed quantity is ``billsec`` in seconds;
    start times (``start_stamp``) are local to the feed's zone. A call with an
    ``answer_stamp`` is ``ANSWERED``; one without keeps its ``hangup_cause`` (``NO_ANSWER``,
    ``USER_BUSY``, ...) as its disposition and is rated at zero.
    """

    name: str = "freeswitch"
    columns: tuple[str, ...] = field(default=FREESWITCH_COLUMNS)
    #: ``ab``: every leg a file holds is billed; ``a``: B legs (``mod_cdr_csv`` with
    #: ``legs=ab``) are kept as records with disposition ``B_LEG``, billed nothing.
    legs: str = "ab"
    #: The directions billed (``${direction}``: ``inbound``, ``outbound``); None for all.
    #: A call in another direction is kept, disposition ``NOT_BILLED_DIRECTION``.
    directions: tuple[str, ...] | None = None
    sources: Mapping[str, str] = field(
        default_factory=lambda: {
            "record_id": "uuid",
            "start_time": "start_stamp",
            "quantity": "billsec",
            "account": "accountcode",
            "caller": "caller_id_number",
            "destination": "destination_number",
            "direction": "direction",
        }
    )

    def to_frame(
        self, chunk: RawChunk, columns: list[str], max_field_chars: int
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        mapped = set(self.sources.values())
        # ``columns``, not the format's own: a correction reads a row through the columns its
        # batch was read with (a site's template); the attributes but the two that decide the
        # disposition are free text
        text = [c for c in columns if c not in mapped and c not in _FREESWITCH_DECIDING]
        frame, rejected = _shape_rejections(
            chunk, columns, {len(columns)}, max_field_chars, lenient=text
        )
        cause = (
            _blank_to_null("hangup_cause").str.to_uppercase()
            if "hangup_cause" in columns
            else pl.lit(None, pl.String)
        )
        disposition = (
            pl.when(_blank_to_null("answer_stamp").is_not_null())
            .then(pl.lit("ANSWERED"))
            .otherwise(cause)
            if "answer_stamp" in columns
            else pl.lit(None, pl.String)  # no answer stamp: charged when billsec is not 0
        )
        direction = (
            _blank_to_null("direction").str.to_lowercase()
            if "direction" in columns
            else pl.lit(None, pl.String)
        )
        if self.directions is not None:
            disposition = (
                pl.when(direction.is_in(list(self.directions)).fill_null(False))
                .then(disposition)
                .otherwise(pl.lit(NOT_BILLED_DIRECTION))
            )
        if self.legs == "a":
            disposition = pl.when(_b_leg(frame, columns)).then(pl.lit(B_LEG)).otherwise(disposition)
        out = _switch_calls(
            frame,
            sources=self.sources,
            disposition=disposition,
            attributes=[c for c in columns if c not in mapped],
        )
        return out, rejected


#: The disposition of a B leg where only A legs are billed, and of a call in a direction
#: that is not billed: kept as records, billed nothing.
B_LEG = "B_LEG"
NOT_BILLED_DIRECTION = "NOT_BILLED_DIRECTION"


def _b_leg(frame: pl.DataFrame, columns: list[str]) -> pl.Expr:
    """Whether each row is a B leg: its ``direction`` is ``outbound`` (the leg FreeSWITCH
    originated) where the layout writes ``${direction}``; else its ``uuid`` is another row's
    ``bleg_uuid`` in the same chunk (an A leg names its B leg's uuid)."""
    if "direction" in columns:
        return (_blank_to_null("direction").str.to_lowercase() == "outbound").fill_null(False)
    if "bleg_uuid" not in columns:
        return pl.lit(False)
    named = frame.select(_blank_to_null("bleg_uuid").drop_nulls().unique()).to_series()
    return _blank_to_null("uuid").is_in(named).fill_null(False)


#: A ``mod_cdr_csv`` template field: one channel variable, quoted or not.
_TEMPLATE_FIELD = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: The variables a template must write for its calls to be rated.
_TEMPLATE_NEEDS = ("uuid", "start_stamp", "billsec", "destination_number")


def freeswitch_template(line: str) -> FreeSwitchFormat:
    """The FreeSWITCH format of a ``mod_cdr_csv`` template line (see
    :func:`template_columns`).

    Raises:
        InputError: as :func:`template_columns`.
    """
    return FreeSwitchFormat(columns=template_columns(line))


def template_columns(line: str, where: str = "--template") -> tuple[str, ...]:
    """The columns of the ``mod_cdr_csv`` template a file was written with, given as its line
    of ``${variable}`` fields (``"${uuid}","${start_stamp}",...``): the variables in that
    order. ``where`` names the line in errors.

    Raises:
        InputError: ``BAD_TEMPLATE``: a field that is not one ``${variable}``, a variable
            written twice, or one of ``uuid``, ``start_stamp``, ``billsec`` and
            ``destination_number`` missing.
    """
    try:
        fields = next(csv.reader([line.strip()]), [])
    except csv.Error as exc:
        raise InputError("BAD_TEMPLATE", str(exc), path=where) from None
    names: list[str] = []
    for text in fields:
        found = _TEMPLATE_FIELD.fullmatch(text.strip())
        if found is None:
            raise InputError("BAD_TEMPLATE", f"{text!r} is not one ${{variable}} field", path=where)
        if found.group(1) in names:
            raise InputError("BAD_TEMPLATE", f"${{{found.group(1)}}} is written twice", path=where)
        names.append(found.group(1))
    missing = [name for name in _TEMPLATE_NEEDS if name not in names]
    if missing:
        raise InputError(
            "BAD_TEMPLATE",
            f"the template writes no ${{{missing[0]}}}, which rating needs"
            f" (needed: {', '.join(_TEMPLATE_NEEDS)})",
            path=where,
        )
    return tuple(names)


#: A ``cdr_custom`` field that writes one CDR variable: ``${CDR(src)}``, ``${CDR(start,u)}``,
#: or either inside ``${CSV_QUOTE(...)}``.
_CDR_VARIABLE = re.compile(r"\$\{CDR\(([A-Za-z_][A-Za-z0-9_]*)((?:,[a-z]*)?)\)\}")
#: The columns a ``cdr_custom`` line must write for its calls to be rated.
_CUSTOM_NEEDS = ("start", "billsec", "dst")


def cdr_custom_columns(line: str, where: str = "line") -> tuple[tuple[str, ...], bool]:
    """The columns of an Asterisk ``cdr_custom.conf`` mapping line (``Master.csv =>
    ${CSV_QUOTE(${CDR(clid)})},${CDR(src)},...``), and whether its ``start`` is written as
    epoch seconds (``${CDR(start,u)}``).

    Each field is named by the CDR variable it writes; a field that writes anything else (a
    channel variable, a literal) is named ``field_N`` (its 1-based position) and kept as an
    attribute.

    Raises:
        InputError: ``BAD_TEMPLATE``: a CDR variable written twice, or one of ``start``,
            ``billsec`` and ``dst`` missing.
    """
    text = line.split("=>", 1)[1] if "=>" in line else line
    fields: list[str] = []
    depth, current = 0, ""
    for char in text.strip():
        if char == "," and depth == 0:
            fields.append(current)
            current = ""
            continue
        depth += (char in "({") - (char in ")}")
        current += char
    fields.append(current)
    names: list[str] = []
    epoch = False
    for position, written in enumerate(fields, start=1):
        found = _CDR_VARIABLE.search(written)
        name = found.group(1).lower() if found else f"field_{position}"
        if name in names:
            raise InputError("BAD_TEMPLATE", f"CDR({name}) is written twice", path=where)
        if found and name == "start" and "u" in found.group(2):
            epoch = True
        names.append(name)
    missing = [name for name in _CUSTOM_NEEDS if name not in names]
    if missing:
        raise InputError(
            "BAD_TEMPLATE",
            f"the line writes no CDR({missing[0]}), which rating needs"
            f" (needed: {', '.join(_CUSTOM_NEEDS)})",
            path=where,
        )
    return tuple(names), epoch


FORMATS: dict[str, FeedFormat] = {
    "generic": GenericFormat(),
    "asterisk": AsteriskFormat(),
    "freeswitch": FreeSwitchFormat(),
}


def get_format(name: str) -> FeedFormat:
    """The format registered under ``name``.

    Raises:
        InputError: ``UNKNOWN_FORMAT`` naming the known ones.
    """
    try:
        return FORMATS[name]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise InputError(
            "UNKNOWN_FORMAT", f"unknown format {name!r} (known: {known})", path="--format"
        ) from None
