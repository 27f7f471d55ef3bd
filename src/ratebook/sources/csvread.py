"""Streaming CSV reading in bounded chunks, with the physical line where each row starts.

The tokenizer is Python's ``csv`` module: it gives exact field counts and line numbers for
quoted fields with embedded newlines, which a clerk needs to find a bad row. Everything after
tokenizing is vectorized. Invalid UTF-8 does not stop the file: its bytes are carried as
surrogate escapes and the rows holding them are reported (see :func:`has_invalid_utf8`).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ratebook.errors import InputError

#: A field larger than this stops the file (csv cannot skip it); smaller oversized fields are
#: rejected row by row with FIELD_TOO_LONG.
CSV_FIELD_LIMIT = 64 * 1024 * 1024

_SURROGATE = re.compile("[\udc80-\udcff]")
_READ_BLOCK = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class FileFacts:
    """What is known of a file before it is parsed.

    Attributes:
        sha256: hex digest of the bytes; the file's identity in the import manifest.
        size: bytes.
        valid_utf8: whether the whole file decodes as UTF-8.
    """

    sha256: str
    size: int
    valid_utf8: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RawChunk:
    """A bounded run of data rows.

    Attributes:
        lines: the physical line (1-based) on which each row starts.
        rows: each row's fields, as text.
        utf8_checked: False when the file had invalid UTF-8, so rows must be checked.
    """

    lines: list[int]
    rows: list[list[str]]
    utf8_checked: bool
    bytes_read: int


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
    """Hash a file and check its encoding in one streaming pass.

    Raises:
        InputError: ``FILE_NOT_FOUND`` or ``FILE_UNREADABLE``.
    """
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    valid = True
    size = 0
    try:
        with path.open("rb") as handle:
            while block := handle.read(_READ_BLOCK):
                size += len(block)
                digest.update(block)
                if valid:
                    try:
                        decoder.decode(block)
                    except UnicodeDecodeError:
                        valid = False
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
    return FileFacts(sha256=digest.hexdigest(), size=size, valid_utf8=valid)


def has_invalid_utf8(fields: list[str]) -> int | None:
    """Index of the first field holding bytes that were not UTF-8, or None."""
    for index, value in enumerate(fields):
        if _SURROGATE.search(value):
            return index
    return None


def printable(text: str) -> str:
    """Text safe to store and show: undecodable bytes become U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def to_csv_line(fields: list[str]) -> str:
    """A row's fields as one CSV line (how a rejected row's raw text is kept)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow([printable(f) for f in fields])
    return buffer.getvalue()


class CsvRows:
    """An open CSV file read as a header (if asked) and chunks of rows; close it when done
    (it is a context manager).

    A UTF-8 byte-order mark is dropped; blank lines are not rows.

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
        errors = "strict" if facts.valid_utf8 else "surrogateescape"
        self._counter = _CountingReader(path.open("rb"))
        self._handle = io.TextIOWrapper(
            io.BufferedReader(self._counter), encoding="utf-8-sig", errors=errors, newline=""
        )
        self._reader = csv.reader(self._handle, strict=False)
        self.header: list[str] | None = None
        try:
            first = self._next_row()
        except BaseException:
            self.close()
            raise
        if first is None:
            self.close()
            raise InputError("EMPTY_FILE", "the file has no rows", path=path, line=1)
        self._pending: tuple[int, list[str]] | None = first
        if skip_header:
            self.header = first[1]
            self._pending = None

    def __enter__(self) -> CsvRows:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
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
            self._last_line = self._reader.line_num
            if row and any(field.strip() for field in row):
                return start, row

    def chunks(self) -> Iterator[RawChunk]:
        """The data rows, at most ``chunk_rows`` at a time."""
        lines: list[int] = []
        rows: list[list[str]] = []
        if self._pending is not None:
            lines.append(self._pending[0])
            rows.append(self._pending[1])
            self._pending = None
        while (item := self._next_row()) is not None:
            lines.append(item[0])
            rows.append(item[1])
            if len(rows) >= self._chunk_rows:
                yield RawChunk(
                    lines=lines,
                    rows=rows,
                    utf8_checked=self._facts.valid_utf8,
                    bytes_read=self._counter.consumed,
                )
                lines, rows = [], []
        if rows:
            yield RawChunk(
                lines=lines,
                rows=rows,
                utf8_checked=self._facts.valid_utf8,
                bytes_read=self._facts.size,
            )


def reference_rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """The rows of a small reference file (customers, decks, subscriptions) as
    ``(line, {column: text})``, columns lower-cased, ``line`` the physical line a row starts on.

    Raises:
        InputError: ``INVALID_UTF8``, ``EMPTY_FILE``, ``MISSING_COLUMN`` (line 1) or
            ``FIELD_COUNT`` (the row's line).
    """
    if not inspect_file(path).valid_utf8:
        raise InputError("INVALID_UTF8", "the file is not UTF-8", path=path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None:
            raise InputError("EMPTY_FILE", "the file has no rows", path=path, line=1)
        names = [n.strip().lower() for n in reader.fieldnames]
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
            if None in row or any(v is None for v in row.values()):
                raise InputError(
                    "FIELD_COUNT", f"expected {len(names)} fields", path=path, line=line
                )
            yield line, row
