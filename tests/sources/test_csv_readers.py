"""The two CSV readers: a plain file read by Polars (and by the ``csv`` tokenizer from the
first block whose lines are not all whole rows) must give exactly the rows the tokenizer
gives, and only files without NUL or lone carriage returns may take that path."""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ratebook.errors import InputError
from ratebook.sources import csvread
from ratebook.sources.csvread import CsvRows, FileFacts, inspect_file

# pieces of plain CSV text: separators, blanks Python strips (U+001F, U+3000), both line ends
_PIECES = st.sampled_from(["a", "7", "é", " ", "\t", "\x1f", "\u3000", ",", "\n", "\r\n", "+60"])


def _read(
    path: Path, facts: FileFacts, *, chunk_rows: int, header: bool, width: int
) -> tuple[list[str] | None, list[pl.DataFrame]]:
    with CsvRows(path, facts, chunk_rows=chunk_rows, skip_header=header) as source:
        return source.header, [c.frame for c in source.chunks(width=width)]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.lists(_PIECES, min_size=1, max_size=60).map("".join),
    bom=st.booleans(),
    header=st.booleans(),
    chunk_rows=st.integers(1, 4),
    width=st.integers(1, 5),
)
def test_plain_reader_gives_the_tokenizers_chunks(
    tmp_path: Path, text: str, bom: bool, header: bool, chunk_rows: int, width: int
) -> None:
    path = tmp_path / "feed.csv"
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    facts = inspect_file(path)
    assert facts.plain
    if not any(line.strip(" \t\x1f\u3000,\r") for line in text.split("\n")):
        # nothing but blanks: both readers refuse the file
        for facts_of in (facts, dataclasses.replace(facts, plain=False)):
            with pytest.raises(InputError, match="no rows"):
                _read(path, facts_of, chunk_rows=chunk_rows, header=header, width=width)
        return
    expected = _read(
        path,
        dataclasses.replace(facts, plain=False),
        chunk_rows=chunk_rows,
        header=header,
        width=width,
    )
    got = _read(path, facts, chunk_rows=chunk_rows, header=header, width=width)
    assert got[0] == expected[0]
    assert [f.height for f in got[1]] == [f.height for f in expected[1]]
    for mine, theirs in zip(got[1], expected[1], strict=True):
        assert mine.to_dicts() == theirs.to_dicts()


def test_plain_rows_keep_their_lines_and_fields(tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_bytes(b"id,qty\r\n\r\nr1,60\r\n , \r\nr2,5,extra\n")
    facts = inspect_file(path)
    assert facts.plain
    header, frames = _read(path, facts, chunk_rows=10, header=True, width=2)
    assert header == ["id", "qty"]
    (frame,) = frames
    assert frame.select("line", "width", "raw", "f0", "f1").rows() == [
        (3, 2, "r1,60", "r1", "60"),
        (5, 3, "r2,5,extra", "r2", "5"),
    ]


@pytest.mark.parametrize(
    ("content", "plain"),
    [
        (b"a,b\nc,d\n", True),
        (b"a,b\r\nc,d\r\n", True),
        (b"a,b\nc,d", True),
        (b'a,"b"\n', True),  # quoting is read block by block (see CsvRows)
        (b"a,b\rc,d\n", False),  # a lone carriage return ends a line for csv
        (b"a,b\r", False),
        (b"a,\x00\n", False),  # csv refuses NUL: the tokenizer must say so
        (b"a,\xff\n", False),  # not UTF-8: rows are checked one by one
    ],
)
def test_only_files_without_nul_or_lone_carriage_returns_are_plain(
    tmp_path: Path, content: bytes, plain: bool
) -> None:
    path = tmp_path / "feed.csv"
    path.write_bytes(content)
    assert inspect_file(path).plain is plain


def test_a_carriage_return_at_a_block_edge_is_seen(tmp_path: Path) -> None:
    # inspect_file reads 1 MiB blocks: a CR ending one block must be followed by LF in the next
    block = 1 << 20
    path = tmp_path / "feed.csv"
    path.write_bytes(b"a" * (block - 1) + b"\r" + b"b\n")
    assert not inspect_file(path).plain
    path.write_bytes(b"a" * (block - 1) + b"\r" + b"\nb\n")
    assert inspect_file(path).plain


# quoted pieces too: well formed ("x", "a""b", ""), a comma or line end inside quotes, a stray
# quote in a bare field: the last ones force the tokenizer from their block on
_QUOTED = st.sampled_from(
    ["a", "7", "é", " ", "\x1f", ",", "\n", "\r\n", '"x"', '"a""b"', '""', '"p,q"', '"l\nm"', 'z"']
)


def _rows_of(frames: list[pl.DataFrame]) -> list[dict[str, object]]:
    return [r for f in frames for r in f.drop("raw").to_dicts()]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.lists(_QUOTED, min_size=1, max_size=40).map("".join),
    header=st.booleans(),
    chunk_rows=st.integers(1, 4),
    block=st.integers(4, 40),
)
def test_quoted_files_give_the_tokenizers_rows(
    tmp_path: Path, text: str, header: bool, chunk_rows: int, block: int
) -> None:
    path = tmp_path / "feed.csv"
    path.write_bytes(text.encode())
    facts = inspect_file(path)
    assert facts.plain
    try:
        expected = _read(
            path,
            dataclasses.replace(facts, plain=False),
            chunk_rows=chunk_rows,
            header=header,
            width=4,
        )
    except InputError as error:
        with pytest.raises(InputError, match=error.code):
            _read(path, facts, chunk_rows=chunk_rows, header=header, width=4)
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(csvread, "_PLAIN_BLOCK", block)  # many blocks, hand-overs mid-file
        got = _read(path, facts, chunk_rows=chunk_rows, header=header, width=4)
    assert got[0] == expected[0]
    assert _rows_of(got[1]) == _rows_of(expected[1])
    assert all(0 < f.height <= chunk_rows for f in got[1])
    # each row's raw text is its own line or its fields written out: CSV for the same fields
    for frame in got[1]:
        for row in frame.iter_rows(named=True):
            fields = next(csv.reader(io.StringIO(row["raw"], newline="")))
            assert fields[:4] + [None] * (4 - len(fields)) == [row[f"f{i}"] for i in range(4)]


def test_an_asterisk_line_is_read_by_polars_with_its_quotes_undone(tmp_path: Path) -> None:
    line = '"ACC1","1001","0312345678","default","""Ali"" <1001>","SIP/1001-1","","Dial","SIP/x,30"'
    path = tmp_path / "Master.csv"
    path.write_bytes((line + "\r\n").encode())
    header, frames = _read(path, inspect_file(path), chunk_rows=10, header=False, width=9)
    assert header is None
    (frame,) = frames
    row = frame.row(0, named=True)
    assert (row["line"], row["width"], row["raw"]) == (1, 9, line)
    assert [row[f"f{i}"] for i in range(9)] == [
        "ACC1",
        "1001",
        "0312345678",
        "default",
        '"Ali" <1001>',
        "SIP/1001-1",
        "",
        "Dial",
        "SIP/x,30",
    ]


def test_blank_rows_are_those_whose_fields_strip_to_nothing_in_python() -> None:
    # the Polars reader strips these characters to tell a blank row as csv rows are told
    # (``any(field.strip())``): exactly Python's str.isspace set
    python = {chr(c) for c in range(0x110000) if chr(c).isspace()}
    assert set(csvread.PY_WHITESPACE) == python
