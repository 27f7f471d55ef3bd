"""Feed formats: how a file's rows map onto the canonical record's text columns.

A format turns a chunk of CSV rows into a frame with the columns of ``RAW_COLUMNS`` (still
text) and rejects rows whose shape is wrong (field count, undecodable bytes, oversized
fields). Parsing the text is ``pipeline.normalise``'s job, the same for every format.

``FORMATS`` is the registry, a plain dict from name to format.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from ratebook.errors import InputError
from ratebook.model.rejections import Code, SubCode, no_rejections, rejections
from ratebook.model.usage import RAW_COLUMNS
from ratebook.sources.csvread import RawChunk, has_invalid_utf8


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

    def bind_header(self, header: list[str] | None, path: Path) -> list[str]:
        """Check the header (or its absence) and return the column names rows will have."""
        ...

    def to_frame(
        self, chunk: RawChunk, columns: list[str], max_field_chars: int
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Rows of a chunk as ``RAW_COLUMNS`` text, plus rejections for malformed rows."""
        ...


def _shape_rejections(
    chunk: RawChunk, columns: list[str], allowed_counts: set[int], max_field_chars: int
) -> tuple[list[int], pl.DataFrame]:
    """Indexes of well-shaped rows, and rejections for the rest."""
    good: list[int] = []
    bad: list[dict[str, Any]] = []
    expected = "/".join(str(n) for n in sorted(allowed_counts))
    for index, row in enumerate(chunk.rows):
        count = len(row)
        if count not in allowed_counts:
            bad.append(
                {
                    "row_idx": index,
                    "code": Code.INVALID_RECORD,
                    "sub_code": SubCode.FIELD_COUNT,
                    "field": None,
                    "reason": f"expected {expected} fields, found {count}",
                }
            )
            continue
        if not chunk.utf8_checked and (at := has_invalid_utf8(row)) is not None:
            bad.append(
                {
                    "row_idx": index,
                    "code": Code.INVALID_RECORD,
                    "sub_code": SubCode.INVALID_UTF8,
                    "field": columns[at],
                    "reason": f"field {columns[at]!r} holds bytes that are not UTF-8",
                }
            )
            continue
        long = next((i for i, v in enumerate(row) if len(v) > max_field_chars), None)
        if long is not None:
            bad.append(
                {
                    "row_idx": index,
                    "code": Code.INVALID_RECORD,
                    "sub_code": SubCode.FIELD_TOO_LONG,
                    "field": columns[long],
                    "reason": (
                        f"field {columns[long]!r} has {len(row[long])} characters,"
                        f" more than the {max_field_chars} allowed"
                    ),
                }
            )
            continue
        good.append(index)
    return good, (rejections(bad) if bad else no_rejections())


def _columns_frame(chunk: RawChunk, good: list[int], columns: list[str]) -> pl.DataFrame:
    """The well-shaped rows as a frame of text columns (short rows padded with nulls)."""
    width = len(columns)
    data: dict[str, list[str | None]] = {name: [] for name in columns}
    lists = [data[name] for name in columns]
    for index in good:
        row = chunk.rows[index]
        for position in range(width):
            lists[position].append(row[position] if position < len(row) else None)
    frame = pl.DataFrame(data, schema=dict.fromkeys(columns, pl.String()))
    return frame.with_columns(
        pl.Series("row_idx", good, dtype=pl.Int64),
        pl.Series("line", [chunk.lines[i] for i in good], dtype=pl.Int64),
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
        names = [h.strip().lower() for h in header]
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
                raise InputError(
                    "MISSING_COLUMN",
                    f"required column {name!r} is missing (required: {', '.join(self.required)})",
                    path=path,
                    line=1,
                    field=name,
                )
        return names

    def to_frame(
        self, chunk: RawChunk, columns: list[str], max_field_chars: int
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        good, rejected = _shape_rejections(chunk, columns, {len(columns)}, max_field_chars)
        frame = _columns_frame(chunk, good, columns)
        known = set(self.required) | set(self.optional)
        extra = [c for c in columns if c not in known]
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
                .fill_null("s")
                .alias("unit"),
                (_blank_to_null("service") if "service" in columns else pl.lit(None, pl.String))
                .fill_null("voice")
                .str.to_lowercase()
                .alias("service"),
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
ASTERISK_COLUMNS = (*ASTERISK_BASE, "uniqueid", "userfield")


def asterisk_row_hash(fields: list[str]) -> str:
    """The record id of an Asterisk row without a ``uniqueid``.

    ``"h:"`` followed by the SHA-256 (hex) of the 16 base fields, each stripped of surrounding
    blanks, joined by U+001F. Identical rows therefore share an id and count as duplicates.
    """
    text = "\x1f".join(f.strip() for f in fields[: len(ASTERISK_BASE)])
    return "h:" + hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True, slots=True)
class AsteriskFormat:
    """Asterisk's ``Master.csv`` (cdr_csv): no header, 16 base columns, then optionally
    ``uniqueid`` and ``userfield``.

    The billed quantity is ``billsec`` in seconds; start times are local to the feed's zone;
    the record id is ``uniqueid``, or :func:`asterisk_row_hash` where a row has none.
    """

    name: str = "asterisk"
    has_header: bool = False
    time_layout: str = "%Y-%m-%d %H:%M:%S"
    columns: tuple[str, ...] = field(default=ASTERISK_COLUMNS)

    def bind_header(self, header: list[str] | None, path: Path) -> list[str]:
        return list(self.columns)

    def to_frame(
        self, chunk: RawChunk, columns: list[str], max_field_chars: int
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        base = len(ASTERISK_BASE)
        good, rejected = _shape_rejections(
            chunk, columns, {base, base + 1, base + 2}, max_field_chars
        )
        frame = _columns_frame(chunk, good, columns)
        missing_id = frame.select(
            pl.col("uniqueid").is_null() | (pl.col("uniqueid").str.strip_chars() == "")
        ).to_series()
        if missing_id.any():
            ids = [
                asterisk_row_hash(chunk.rows[index]) if missing else None
                for index, missing in zip(good, missing_id, strict=True)
            ]
            frame = frame.with_columns(
                pl.coalesce(_blank_to_null("uniqueid"), pl.Series(ids, dtype=pl.String)).alias(
                    "uniqueid"
                )
            )
        attribute_columns = [
            "dcontext",
            "clid",
            "channel",
            "dstchannel",
            "lastapp",
            "lastdata",
            "answer",
            "end",
            "duration",
            "amaflags",
            "userfield",
        ]
        out = frame.select(
            pl.col("row_idx"),
            pl.col("line"),
            _blank_to_null("uniqueid").alias("record_id"),
            _blank_to_null("start").alias("start_time"),
            _blank_to_null("billsec").alias("quantity"),
            pl.lit("s").alias("unit"),
            pl.lit("voice").alias("service"),
            _blank_to_null("accountcode").alias("account"),
            _blank_to_null("src").alias("caller"),
            _blank_to_null("dst").alias("destination"),
            _blank_to_null("disposition").str.to_uppercase().alias("disposition"),
            pl.lit(None, pl.String).alias("direction"),
            _attributes(attribute_columns).alias("attributes"),
        )
        return out.select(list(RAW_COLUMNS)), rejected


FORMATS: dict[str, FeedFormat] = {
    "generic": GenericFormat(),
    "asterisk": AsteriskFormat(),
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
