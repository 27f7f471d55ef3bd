"""A listing (rows of text values) shown as a Rich table, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any, Literal

from rich.console import Console
from rich.table import Table


class OutputFormat(StrEnum):
    """How a listing is printed."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def render(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    fmt: OutputFormat,
    console: Console,
    *,
    title: str | None = None,
    right: Sequence[str] = (),
    prose: Sequence[str] = (),
    shrink: Sequence[str] = (),
) -> None:
    """Print ``rows`` (dicts with ``columns`` keys) in ``fmt``.

    JSON is a list of objects keeping each value's type (amounts are already decimal text);
    CSV has a header row; the table right-aligns the ``right`` columns. When ``prose``
    names columns, those take the room the others leave and wrap at whole words, the
    ``shrink`` columns are cut short (with an ellipsis) when room runs out, and the others
    keep each value whole on one line.
    """
    if fmt is OutputFormat.JSON:
        console.file.write(json.dumps([{c: r[c] for c in columns} for r in rows], indent=2))
        console.file.write("\n")
        return
    if fmt is OutputFormat.CSV:
        buffer = io.StringIO()
        writer = SafeCsvWriter(buffer, lineterminator="\n")
        writer.writerow(columns)
        for r in rows:
            writer.writerow([r[c] for c in columns])
        console.file.write(buffer.getvalue())
        return
    table = Table(title=title, header_style="bold", show_lines=False)
    for c in columns:
        justify: Literal["left", "right"] = "right" if c in right else "left"
        if not prose:
            table.add_column(c, justify=justify, overflow="fold")
        elif c in prose:
            table.add_column(c, justify=justify, overflow="fold", ratio=1, min_width=16)
        elif c in shrink:
            table.add_column(c, justify=justify, overflow="ellipsis")
        else:
            table.add_column(c, justify=justify, no_wrap=True)
    for r in rows:
        table.add_row(*["" if r[c] is None else str(r[c]) for c in columns])
    console.print(table)


_NUMBER = re.compile(r"[-+]?\d+(\.\d+)?")


def spreadsheet_safe(value: object) -> object:
    """A CSV cell a spreadsheet shows as text, never runs (OWASP's CSV-injection rule).

    Text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
    apostrophe, unless it is a plain decimal number such as ``-1.20`` or ``+60312345678``
    (a number, never a formula); other values pass.
    """
    if (
        isinstance(value, str)
        and value[:1] in ("=", "+", "-", "@", "\t", "\r")
        and not _NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


class SafeCsvWriter:
    """A ``csv.writer`` whose every cell goes through ``spreadsheet_safe``: every CSV file
    Ratebook writes (listings, statements, exports) is written by one, so text from a feed
    (a caller's name, an attribute) never runs as a formula where the file is opened."""

    def __init__(self, handle: Any, **options: Any) -> None:
        self._writer = csv.writer(handle, **options)

    def writerow(self, row: Iterable[object]) -> None:
        """Write one row, each text cell made inert."""
        self._writer.writerow(["" if v is None else spreadsheet_safe(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        """Write every row of ``rows``."""
        for row in rows:
            self.writerow(row)
