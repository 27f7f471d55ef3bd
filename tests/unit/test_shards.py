"""How a file's rows are split into shards for ``ratebook ingest --workers N``."""

from __future__ import annotations

import hashlib

import polars as pl

from ratebook.intake.shards import Shard, assign, keyed
from ratebook.sources.csvread import RawChunk


def _by_digest(key: str, count: int) -> int:
    """The shard a customer key goes to: the first 48 bits of its SHA-256, mod ``count``."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:12], 16) % count


def _rows() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "line": [2, 3, 5, 6, 7],
            "record_id": ["a", "b", "a", "c", "d"],
            "account": ["ACME", "GLOBEX", "INITECH", " ", None],
            "caller": [None, None, None, "+60123", "+60999"],
        }
    )


def _split(count: int) -> dict[int, list[int]]:
    assignment = assign(keyed(_rows(), count))
    lines = pl.DataFrame({"line": [2, 3, 4, 5, 6, 7, 12]})  # 4 and 12 were not read
    return {
        index: Shard(index, count, assignment)
        .rows_of(RawChunk(frame=lines, bytes_read=0))
        .frame["line"]
        .to_list()
        for index in range(count)
    }


def test_each_line_goes_to_exactly_one_shard() -> None:
    for count in (1, 2, 3, 4):
        split = _split(count)
        assert sorted(line for lines in split.values() for line in lines) == [2, 3, 4, 5, 6, 7, 12]


def test_a_row_goes_by_its_account_or_else_its_caller() -> None:
    count = 3
    split = _split(count)
    expected = {
        2: _by_digest("ACME", count),
        3: _by_digest("GLOBEX", count),
        6: _by_digest("+60123", count),  # a blank account: the caller names the customer
        7: _by_digest("+60999", count),
    }
    for line, shard in expected.items():
        assert line in split[shard], (line, shard, split)


def test_a_repeated_id_goes_with_its_first_row_and_unread_lines_by_line_number() -> None:
    count = 4
    split = _split(count)
    first = _by_digest("ACME", count)
    assert 5 in split[first]  # id "a" again, under another account
    assert 4 in split[4 % count]
    assert 12 in split[12 % count]


def test_a_file_without_a_readable_row_goes_by_line_number() -> None:
    assignment = assign(pl.DataFrame())
    lines = pl.DataFrame({"line": [2, 3]})
    shard = Shard(1, 2, assignment).rows_of(RawChunk(frame=lines, bytes_read=0))
    assert shard.frame["line"].to_list() == [3]
