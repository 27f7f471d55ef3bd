"""The two CSV readers: plain files read by Polars must give exactly the chunks the ``csv``
tokenizer gives, and only files where each line is one row may take that path."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ratebook.errors import InputError
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
        (b'a,"b"\n', False),  # quoting: a field may hold commas or line ends
        (b"a,b\rc,d\n", False),  # a lone carriage return ends a line for csv
        (b"a,b\r", False),
        (b"a,\x00\n", False),  # csv refuses NUL: the tokenizer must say so
        (b"a,\xff\n", False),  # not UTF-8: rows are checked one by one
    ],
)
def test_only_files_whose_lines_are_rows_are_plain(
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
