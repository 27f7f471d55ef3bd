"""A row kept as one CSV line reads back as the same fields, and its plain-row shortcut
writes exactly what the ``csv`` module writes."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from ratebook.sources.csvread import to_csv_line

# the characters that decide quoting, and some that do not
_FIELD = st.text(alphabet=st.sampled_from(["a", "1", " ", ",", '"', "\r", "\n", "+", "é", "'"]))


def _written(fields: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(fields)
    return buffer.getvalue()[:-2]


@given(st.lists(_FIELD, min_size=1, max_size=6))
def test_the_line_is_what_the_csv_writer_writes(fields: list[str]) -> None:
    assert to_csv_line(fields) == _written(fields)


@given(st.lists(_FIELD, min_size=1, max_size=6))
def test_the_line_reads_back_as_the_fields(fields: list[str]) -> None:
    assert next(csv.reader(io.StringIO(to_csv_line(fields)))) == fields


def test_plain_and_awkward_rows() -> None:
    assert to_csv_line(["c1", "2026-10-05T10:00:00+08:00", "60", ""]) == (
        "c1,2026-10-05T10:00:00+08:00,60,"
    )
    assert to_csv_line(["", ""]) == ","
    assert to_csv_line([""]) == '""'
    assert to_csv_line(["a,b", 'say "hi"', "two\nlines"]) == '"a,b","say ""hi""","two\nlines"'
