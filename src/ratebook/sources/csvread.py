"""Streaming CSV reading in bounded chunks, with the physical line where each row starts.

Two readers give the same rows:

* **plain files** (valid UTF-8 with no NUL and no carriage return outside a CRLF line end,
  which :func:`inspect_file` finds in its hashing pass) are read by Polars a block of lines
  at a time, while each line of the block is one well-formed row: bare fields split at
  commas, or quoted ones (a quote inside doubled) that end on their line. Each row keeps its
  line as its raw text for lineage;
* the rest of a plain file from the first block that is not so, and every other file, go
  through Python's ``csv`` module, which gives exact field counts and line numbers for quoted
  fields with embedded newlines. Invalid UTF-8 does not stop such a file: its bytes are
  carried as surrogate escapes and the rows holding them are reported.

Everything after reading is vectorized over :class:`RawChunk` frames.
"""

from __future__ import annotations

import base64
import codecs
import csv
import difflib
import hashlib
import io
import re
from collections.abc import Collection, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from ratebook.errors import InputError

#: A field larger than this stops the file (csv cannot skip it); smaller oversized fields are
#: rejected row by row with FIELD_TOO_LONG.
CSV_FIELD_LIMIT = 64 * 1024 * 1024

#: What no store can hold as text: bytes that were not UTF-8 (surrogate escapes), and NUL.
_UNSTORABLE = re.compile("[\udc80-\udcff\x00]")
_READ_BLOCK = 1 << 20
#: Bytes a plain file is read by: whole lines, about 100,000 CDRs.
_PLAIN_BLOCK = 8 << 20
#: A line holding nothing but these is blank, as for ``csv`` rows whose fields all strip to
#: nothing (Python's ``str.isspace`` set: Unicode White_Space and U+001C..U+001F).
_BLANK_LINE = r"^[\s\x1c-\x1f,]*$"


@dataclass(frozen=True, slots=True, kw_only=True)
class FileFacts:
    """What is known of a file before it is parsed.

    Attributes:
        sha256: hex digest of the bytes; the file's identity in the import manifest.
        size: bytes.
        valid_utf8: whether the whole file decodes as UTF-8.
        plain: valid UTF-8 without a NUL or a carriage return outside a CRLF line end, so that
            Polars can read it a block of lines at a time (see :class:`CsvRows`).
        has_nul: whether the file holds a NUL byte (text no store keeps).
    """

    sha256: str
    size: int
    valid_utf8: bool
    plain: bool = False
    has_nul: bool = False


def field_column(position: int) -> str:
    """The name of a chunk's column holding each row's field at ``position`` (0-based)."""
    return f"f{position}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RawChunk:
    """A bounded run of data rows, as text.

    Attributes:
        frame: one row per data row, in file order: ``line`` (the physical line, 1-based, on
            which the row starts), ``width`` (its number of fields), ``raw`` (the row as one
            CSV line, kept for lineage: its source text, or for a row the ``csv`` tokenizer
            read, its fields written out by :func:`to_csv_line`), ``bad_utf8`` (the position
            of the first field holding bytes that are not UTF-8, else null), ``bad_mask``
            (the bits of every such field, see ``_bad_mask``), ``raw_bytes`` (for such a
            row, its bytes as written, base64: :func:`_raw_bytes`) and the fields
            ``f0``, ``f1``, ... up to the width the reader was asked for (null past the row's
            own width; undecodable bytes shown as U+FFFD).
        bytes_read: bytes of the file read when the chunk was complete (for progress).
    """

    frame: pl.DataFrame
    bytes_read: int

    @property
    def height(self) -> int:
        """The number of rows."""
        return self.frame.height

    @classmethod
    def from_rows(
        cls,
        lines: list[int],
        rows: list[list[str]],
        *,
        width: int,
        utf8_checked: bool = True,
        bytes_read: int = 0,
        raw: list[str] | None = None,
    ) -> RawChunk:
        """A chunk of rows given as field lists (``csv`` rows, pushed events, a clerk's
        corrected copy). ``utf8_checked=False`` looks for surrogate-escaped bytes; ``raw``
        gives each row's raw text where the caller has it already (else ``to_csv_line``)."""
        found = [[] if utf8_checked else bad_fields(row) for row in rows]
        bad = [at[0] if at else None for at in found]
        masks = [_bad_mask(at) if at else None for at in found]
        shown = [
            row if not at else [printable(f) for f in row]
            for row, at in zip(rows, found, strict=True)
        ]
        data: dict[str, Any] = {
            "line": pl.Series(lines, dtype=pl.Int64),
            "width": pl.Series([len(row) for row in rows], dtype=pl.Int64),
            "raw": pl.Series(
                raw if raw is not None else [to_csv_line(row) for row in rows], dtype=pl.String
            ),
            "bad_utf8": pl.Series(bad, dtype=pl.Int64),
            "bad_mask": pl.Series(masks, dtype=pl.Int64),
            "raw_bytes": pl.Series(
                [_raw_bytes(row) if at else None for row, at in zip(rows, found, strict=True)],
                dtype=pl.String,
            ),
        }
        for position in range(width):
            data[field_column(position)] = pl.Series(
                [row[position] if position < len(row) else None for row in shown],
                dtype=pl.String,
            )
        return cls(frame=pl.DataFrame(data), bytes_read=bytes_read)


class _CountingReader(io.RawIOBase):
    """A binary file that counts the bytes handed out, for progress reporting."""

    def __init__(self, raw: io.BufferedReader) -> None:
        self._raw = raw
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._raw.readinto(buffer)
        self.consumed += count or 0
        return count or 0

    def close(self) -> None:
        self._raw.close()
        super().close()


def inspect_file(path: Path) -> FileFacts:
    """Hash a file, check its encoding and whether it is plain, in one streaming pass.

    Raises:
        InputError: ``FILE_NOT_FOUND`` or ``FILE_UNREADABLE``.
    """
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    valid = True
    plain = True
    nul = False
    cr_pending = False  # the block before ended with a carriage return
    size = 0
    try:
        with path.open("rb") as handle:
            while block := handle.read(_READ_BLOCK):
                size += len(block)
                digest.update(block)
                nul = nul or b"\x00" in block
                if valid:
                    try:
                        decoder.decode(block)
                    except UnicodeDecodeError:
                        valid = False
                if plain:
                    lone_cr = block.count(b"\r") - block.count(b"\r\n")
                    ends_cr = block.endswith(b"\r")
                    plain = (
                        b"\x00" not in block
                        and lone_cr == (1 if ends_cr else 0)
                        and not (cr_pending and not block.startswith(b"\n"))
                    )
                    cr_pending = ends_cr
            if valid:
                try:
                    decoder.decode(b"", final=True)
                except UnicodeDecodeError:
                    valid = False
    except FileNotFoundError:
        raise InputError("FILE_NOT_FOUND", "no such file", path=path) from None
    except IsADirectoryError:
        raise InputError("FILE_UNREADABLE", "is a directory, not a file", path=path) from None
    except OSError as exc:
        raise InputError("FILE_UNREADABLE", exc.strerror or str(exc), path=path) from None
    return FileFacts(
        sha256=digest.hexdigest(),
        size=size,
        valid_utf8=valid,
        plain=valid and plain and not cr_pending,
        has_nul=nul,
    )


def bad_fields(fields: list[str]) -> list[int]:
    """The positions of the fields holding bytes that were not UTF-8 (or a NUL)."""
    return [index for index, value in enumerate(fields) if _UNSTORABLE.search(value)]


#: The highest bit of ``bad_mask``: it stands for that field and every one after it.
MASK_BITS = 62


def _bad_mask(positions: list[int]) -> int:
    """``bad_fields`` as bits: bit ``i`` for field ``i``, a field past ``MASK_BITS`` on that
    bit."""
    mask = 0
    for index in positions:
        mask |= 1 << min(index, MASK_BITS)
    return mask


def _raw_bytes(fields: list[str]) -> str:
    """A row holding bytes that are not UTF-8 (carried as surrogate escapes), as the base64
    of its fields' bytes as written, re-serialised as one CSV line: what ``printable``
    shows as U+FFFD is kept."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(fields)
    return base64.b64encode(buffer.getvalue().encode("utf-8", "surrogateescape")).decode()


def printable(text: str) -> str:
    """Text safe to store and show: undecodable bytes and NUL become U+FFFD."""
    return (
        text.encode("utf-8", "surrogateescape").decode("utf-8", "replace").replace("\x00", "\ufffd")
    )


def to_csv_line(fields: list[str]) -> str:
    """A row's fields as one CSV line (how a row read by the tokenizer is kept), which the
    ``csv`` module reads back as the same fields: a field holding a line end is quoted."""
    plain = ",".join(fields)
    if (
        len(fields) > 1  # a lone empty field is written as ""
        and plain.isascii()
        and plain.count(",") == len(fields) - 1
        and '"' not in plain
        and "\r" not in plain
        and "\n" not in plain
        and "\x00" not in plain
    ):
        return plain  # nothing to quote: what the writer below gives, without its setup
    buffer = io.StringIO()
    # an ASCII field holds no undecodable byte (and str knows it is ASCII without a scan)
    shown = [f if f.isascii() and "\x00" not in f else printable(f) for f in fields]
    # the writer quotes the characters of its line terminator: with none, a field's own
    # line end would be written bare and read back as two rows
    csv.writer(buffer, lineterminator="\r\n").writerow(shown)
    return buffer.getvalue()[:-2]


@dataclass(frozen=True, slots=True)
class _Block:
    """Whole lines of a plain file: ``lines`` has ``line`` (physical, 1-based), ``raw`` (the
    text without its line end) and ``end`` (the byte offset after it); ``offset`` is the
    byte offset of the block's first line."""

    lines: pl.DataFrame
    offset: int
    quoted: bool


def _plain_blocks(path: Path) -> Generator[_Block, None, None]:
    """The lines of a plain file, a block of about ``_PLAIN_BLOCK`` bytes at a time."""
    number = 0
    offset = 0
    rest = b""
    with path.open("rb") as handle:
        while True:
            block = handle.read(_PLAIN_BLOCK)
            data = rest + block
            if block:
                cut = data.rfind(b"\n") + 1
                if cut == 0:  # a line longer than the block: read on
                    rest = data
                    continue
                data, rest = data[:cut], data[cut:]
            elif not data:
                return
            else:
                rest = b""
            text = data.decode("utf-8")
            skipped = 0
            if offset == 0 and text.startswith("\ufeff"):
                text, skipped = text[1:], 3
            lines = pl.Series("raw", [text]).str.split("\n").explode()
            if text.endswith("\n"):
                lines = lines.head(-1)
            frame = pl.DataFrame(lines).with_columns(
                pl.int_range(number + 1, number + 1 + len(lines), dtype=pl.Int64).alias("line"),
                (
                    offset + skipped + (pl.col("raw").str.len_bytes().cast(pl.Int64) + 1).cum_sum()
                ).alias("end"),
                pl.col("raw").str.strip_suffix("\r"),
            )
            yield _Block(lines=frame, offset=offset, quoted='"' in text)
            number += len(lines)
            offset += len(data)


#: Python's ``str.isspace`` characters: a row whose fields all strip to nothing is blank.
PY_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
    "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
#: One CSV field as Python's ``csv`` reads it when it is well formed: quoted (a quote inside
#: doubled, no line end) or bare (no quote at all).
_FIELD = r'"(?:[^"]|"")*"|[^,"]*'
_WELL_FORMED = rf"^(?:{_FIELD})(?:,(?:{_FIELD}))*$"


def _fields(block: _Block) -> pl.DataFrame | None:
    """The block's non-blank rows with their fields as a list (``_fields``), or None when a
    line is not one well-formed row (a quoted field running over a line end, a stray quote):
    only the ``csv`` tokenizer can read such a line, and what follows it."""
    lines = block.lines
    if not block.quoted:
        return lines.filter(~pl.col("raw").str.contains(_BLANK_LINE)).with_columns(
            pl.col("raw").str.split(",").alias("_fields")
        )
    if not lines.select(pl.col("raw").str.contains(_WELL_FORMED).all()).item():
        return None
    field = pl.element()
    unquoted = (
        pl.when(field.str.starts_with('"'))
        .then(
            field.str.slice(1, field.str.len_chars() - 2).str.replace_all('""', '"', literal=True)
        )
        .otherwise(field)
    )
    # each field with the comma before it (one put before the first): no match is empty,
    # since after an empty match the regex iterator steps over the next character
    parsed = lines.with_columns(
        (pl.lit(",") + pl.col("raw"))
        .str.extract_all(rf",(?:{_FIELD})")
        .list.eval(field.str.slice(1))
        .list.eval(unquoted)
        .alias("_fields")
    )
    blank = pl.col("_fields").list.eval(field.str.strip_chars(PY_WHITESPACE) == "").list.all()
    return parsed.filter(~blank)


def _split_plain(rows: pl.DataFrame, width: int) -> pl.DataFrame:
    """Rows with their ``_fields`` as chunk rows with ``width`` field columns."""
    fields = pl.col("_fields")
    return rows.select(
        "line",
        fields.list.len().cast(pl.Int64).alias("width"),
        "raw",
        pl.lit(None, pl.Int64).alias("bad_utf8"),
        pl.lit(None, pl.Int64).alias("bad_mask"),
        pl.lit(None, pl.String).alias("raw_bytes"),
        *[fields.list.get(i, null_on_oob=True).alias(field_column(i)) for i in range(width)],
    )


class CsvRows:
    """An open CSV file read as a header (if asked) and chunks of rows; close it when done
    (it is a context manager).

    A plain file is read by Polars a block at a time while each line of the block is one
    well-formed row, and by the ``csv`` tokenizer from the first block that is not (which
    starts outside any quoted field, since every line before it was a whole row). A UTF-8
    byte-order mark is dropped; blank lines are not rows.

    Raises:
        InputError: ``EMPTY_FILE`` when there is nothing but blanks; ``CSV_SYNTAX`` (with the
            line) when the tokenizer cannot go on, such as a field over ``CSV_FIELD_LIMIT``.
    """

    def __init__(self, path: Path, facts: FileFacts, *, chunk_rows: int, skip_header: bool):
        csv.field_size_limit(CSV_FIELD_LIMIT)
        self._path = path
        self._facts = facts
        self._chunk_rows = chunk_rows
        self._last_line = 0
        self._line_base = 0
        self._offset = 0
        self.header: list[str] | None = None
        self._pending: tuple[int, list[str]] | None = None
        self._blocks: Generator[_Block, None, None] | None = None
        self._head: pl.DataFrame | None = None
        self._tokenizing = False
        if facts.plain:
            self._blocks = _plain_blocks(path)
            for block in self._blocks:
                rows = _fields(block)
                if rows is None:
                    self._tokenize_from(block)
                    break
                if not rows.is_empty():
                    self._head = rows
                    break
            else:
                self.close()
                raise InputError("EMPTY_FILE", "the file has no rows", path=path, line=1)
            if self._head is not None:
                if skip_header:
                    self.header = list(self._head["_fields"][0])
                    self._head = self._head.slice(1)
                return
        else:
            self._tokenize_from(None)
        try:
            first = self._next_row()
        except BaseException:
            self.close()
            raise
        if first is None:
            self.close()
            raise InputError("EMPTY_FILE", "the file has no rows", path=path, line=1)
        self._pending = first
        if skip_header:
            self.header = first[1]
            self._pending = None

    def _tokenize_from(self, block: _Block | None) -> None:
        """Read on with the ``csv`` tokenizer: the whole file, or from ``block`` on."""
        errors = "strict" if self._facts.valid_utf8 else "surrogateescape"
        raw = self._path.open("rb")
        if block is not None:
            raw.seek(block.offset)
            self._offset = block.offset
            self._last_line = int(block.lines["line"][0]) - 1 if block.lines.height else 0
        self._line_base = self._last_line
        self._counter = _CountingReader(raw)
        self._handle = io.TextIOWrapper(
            io.BufferedReader(self._counter),
            encoding="utf-8-sig" if self._offset == 0 else "utf-8",
            errors=errors,
            newline="",
        )
        self._reader = csv.reader(self._handle, strict=False)
        self._tokenizing = True

    def __enter__(self) -> CsvRows:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        if self._blocks is not None:
            self._blocks.close()
        if self._tokenizing:
            self._handle.close()

    def _next_row(self) -> tuple[int, list[str]] | None:
        while True:
            try:
                row = next(self._reader)
            except StopIteration:
                return None
            except csv.Error as exc:
                raise InputError(
                    "CSV_SYNTAX", str(exc), path=self._path, line=self._last_line + 1
                ) from None
            start = self._last_line + 1
            self._last_line = self._line_base + self._reader.line_num
            if row and any(field.strip() for field in row):
                return start, row

    def chunks(self, width: int) -> Iterator[RawChunk]:
        """The data rows, at most ``chunk_rows`` at a time, with their first ``width`` fields
        as columns (the widest row the format takes)."""
        if self._head is not None and self._blocks is not None:
            yield from self._plain_chunks(self._head, self._blocks, width)
        if self._tokenizing:
            yield from self._token_chunks(width)

    def _token_chunks(self, width: int) -> Iterator[RawChunk]:
        lines: list[int] = []
        rows: list[list[str]] = []
        if self._pending is not None:
            lines.append(self._pending[0])
            rows.append(self._pending[1])
            self._pending = None
        checked = self._facts.valid_utf8 and not self._facts.has_nul
        while True:
            if len(rows) >= self._chunk_rows:
                yield RawChunk.from_rows(
                    lines,
                    rows,
                    width=width,
                    utf8_checked=checked,
                    bytes_read=self._offset + self._counter.consumed,
                )
                lines, rows = [], []
            if (item := self._next_row()) is None:
                break
            lines.append(item[0])
            rows.append(item[1])
        if rows:
            yield RawChunk.from_rows(
                lines, rows, width=width, utf8_checked=checked, bytes_read=self._facts.size
            )

    def _plain_rows(self, head: pl.DataFrame, blocks: Iterator[_Block]) -> Iterator[pl.DataFrame]:
        """The rows of the head, then of each block, up to the first block that only the
        tokenizer can read (it then reads that block and the rest)."""
        yield head
        for block in blocks:
            rows = _fields(block)
            if rows is None:
                self._tokenize_from(block)
                return
            yield rows

    def _plain_chunks(
        self, head: pl.DataFrame, blocks: Iterator[_Block], width: int
    ) -> Iterator[RawChunk]:
        held = head.clear()
        for rows in self._plain_rows(head, blocks):
            held = pl.concat([held, rows])
            start = 0
            while held.height - start >= self._chunk_rows:
                part = held.slice(start, self._chunk_rows)
                start += self._chunk_rows
                end = min(int(part["end"][-1]), self._facts.size)
                yield RawChunk(frame=_split_plain(part, width), bytes_read=end)
            held = held.slice(start)
        if held.height:
            # the tokenizer's rows, if it took over, follow these
            final = self._facts.size if not self._tokenizing else int(held["end"][-1])
            yield RawChunk(frame=_split_plain(held, width), bytes_read=final)


def reference_rows(
    path: Path,
    required: tuple[str, ...],
    *,
    known: Collection[str] | None = None,
    renamed: Mapping[str, str] | None = None,
    trailing_comma: bool = False,
) -> Iterator[tuple[int, dict[str, str]]]:
    """The rows of a small reference file (customers, decks, subscriptions) as
    ``(line, {column: text})``, columns lower-cased, ``line`` the physical line a row starts on.

    Args:
        known: every column the file may have (None: any); another is refused, so that a
            misspelt optional column (``connect_fees``) is not silently left unread.
        renamed: the file's own names of columns (lower case) by the name they stand for.
        trailing_comma: a row may end in one empty field more than the header has (as some
            engines export), which is dropped.

    Raises:
        InputError: ``INVALID_UTF8`` (or a NUL in a row), ``EMPTY_FILE``, ``MISSING_COLUMN``,
            ``UNKNOWN_COLUMN`` or ``DUPLICATE_COLUMN`` (line 1) or ``FIELD_COUNT`` (the
            row's line).
    """
    facts = inspect_file(path)
    if not facts.valid_utf8:
        raise InputError("INVALID_UTF8", "the file is not UTF-8", path=path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None:
            raise InputError("EMPTY_FILE", "the file has no rows", path=path, line=1)
        names = column_names(path, reader.fieldnames, known=known, renamed=renamed or {})
        reader.fieldnames = names
        for column in required:
            if column not in names:
                raise InputError(
                    "MISSING_COLUMN",
                    f"required column {column!r} is missing",
                    path=path,
                    line=1,
                    field=column,
                )
        last = 1
        for row in reader:
            line, last = last + 1, reader.line_num
            if trailing_comma and row.get(None) == [""]:
                del row[None]
            if None in row or any(v is None for v in row.values()):
                raise InputError(
                    "FIELD_COUNT", f"expected {len(names)} fields", path=path, line=line
                )
            if facts.has_nul and any("\x00" in v for v in row.values()):
                raise InputError(
                    "INVALID_UTF8", "the row holds a NUL character", path=path, line=line
                )
            yield line, row


def column_names(
    path: Path | str,
    header: Sequence[str],
    *,
    known: Collection[str] | None,
    renamed: Mapping[str, str],
) -> list[str]:
    """A reference file's column names as its rows are read by: lower-cased, renamed, and
    each one known and used once."""
    written = [n.strip().lower() for n in header]
    for mine in renamed.values():
        if mine not in written:
            raise InputError(
                "MISSING_COLUMN",
                f"column {mine!r} (given in the column map) is not in the header",
                path=path,
                line=1,
                field=mine,
            )
    stands_for = {mine: name for name, mine in renamed.items()}
    names = [stands_for.get(n, n) for n in written]
    for name in names:
        if not name:
            continue  # an unnamed column (a trailing comma) holds nothing read
        if known is not None and name not in known:
            near = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise InputError(
                "UNKNOWN_COLUMN",
                f"column {name!r} is not one this file may have ({', '.join(sorted(known))}){hint}",
                path=path,
                line=1,
                field=name,
            )
        if names.count(name) > 1:
            raise InputError(
                "DUPLICATE_COLUMN", f"column {name!r} is given twice", path=path, line=1, field=name
            )
    return names
