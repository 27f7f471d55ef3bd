"""A row's seal digest is the same text hashed whichever way it is computed: one row at a time
(a pushed event's few rows) or as one frame expression (an import's), for every kind of sealed
row and every value its columns can hold."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from ratebook.store.seals import (
    SEALED,
    digests_as_frame,
    digests_each,
    frame_of,
    mapping_digests,
    schema_of,
)

_VALUES: dict[type[pl.DataType], st.SearchStrategy[object]] = {
    pl.Int64: st.integers(-(2**63), 2**63 - 1),
    pl.String: st.text(max_size=12),
    pl.Datetime: st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)).map(
        lambda d: d.replace(tzinfo=UTC)
    ),
    pl.Date: st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 1, 1)),
}


@st.composite
def sealed_frames(draw: st.DrawFn) -> tuple[str, pl.DataFrame]:
    kind = draw(st.sampled_from(sorted(SEALED)))
    schema = schema_of(kind)
    rows = draw(
        st.lists(
            st.tuples(*(st.none() | _VALUES[type(dtype)] for dtype in schema.values())),
            min_size=1,
            max_size=5,
        )
    )
    return kind, pl.DataFrame(rows, schema=schema, orient="row")


@settings(max_examples=300, deadline=None)
@given(drawn=sealed_frames())
def test_one_by_one_and_as_a_frame_agree(drawn: tuple[str, pl.DataFrame]) -> None:
    kind, frame = drawn
    assert digests_each(frame, kind).to_list() == digests_as_frame(frame, kind).to_list()


@settings(max_examples=300, deadline=None)
@given(drawn=sealed_frames())
def test_rows_given_as_mappings_digest_as_their_frame_does(
    drawn: tuple[str, pl.DataFrame],
) -> None:
    """A few written rows (a re-rating's charges, a close's links) are sealed from their
    mappings without a frame; their digests are those of the same rows as a frame."""
    kind, frame = drawn
    rows = frame.to_dicts()
    assert mapping_digests(kind, rows) == digests_as_frame(frame_of(kind, rows), kind).to_list()


def test_a_digest_is_the_documented_text_hashed() -> None:
    """Worked by hand: a posting's columns joined by U+001F, null as U+0000, the instant as
    epoch microseconds."""
    posted = datetime(2026, 10, 1, tzinfo=UTC) + timedelta(microseconds=5)
    row = (7, "2026-10", "usage", -1250, None, 3, 12, "m", None, None, posted)
    frame = pl.DataFrame([row], schema=schema_of("postings"), orient="row")
    text = "\x1f".join(
        [
            "7",
            "2026-10",
            "usage",
            "-1250",
            "\x00",
            "3",
            "12",
            "m",
            "\x00",
            "\x00",
            "1790812800000005",
        ]
    )
    expected = hashlib.sha256(text.encode()).hexdigest()
    assert digests_each(frame, "postings").to_list() == [expected]
    assert digests_as_frame(frame, "postings").to_list() == [expected]
