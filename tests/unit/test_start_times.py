"""Start times: a chunk whose times all have one plain shape (to the second, with an offset
or local) is parsed a faster way, which must give every value and problem the general parse
gives, edge cases included: impossible dates and times, offsets out of range, leap seconds,
daylight-saving gaps and overlaps, missing values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ratebook.pipeline.normalise import _parse_start, _start_shape

ZONES = ["Asia/Kuala_Lumpur", "Europe/London", "America/New_York"]


def _two(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda n: f"{n:02d}")


# fields drawn past their valid ranges too, so that some values are impossible
_date = st.tuples(
    st.sampled_from(["0001", "1970", "2024", "2025", "2026", "9999"]),
    _two(0, 13),
    _two(0, 32),
).map("-".join)
_time = st.tuples(_two(0, 25), _two(0, 61), _two(0, 61)).map(":".join)
_offset = st.one_of(
    st.tuples(st.sampled_from("+-"), _two(0, 99), _two(0, 99)).map(
        lambda t: f"{t[0]}{t[1]}:{t[2]}"
    ),
    st.sampled_from(["+08:00", "-05:00", "+00:00", "+05:30", "-00:00", "+14:00", "+23:59"]),
)
# local times around the 2026 daylight-saving changes of London and New York
_transitions = st.sampled_from(
    [
        "2026-03-29T00:59:59",
        "2026-03-29T01:00:00",
        "2026-03-29T01:30:00",
        "2026-03-29T02:00:00",
        "2026-10-25T00:59:59",
        "2026-10-25T01:00:00",
        "2026-10-25T01:30:00",
        "2026-03-08T02:30:00",
        "2026-11-01T01:30:00",
    ]
)
_local = st.one_of(
    st.tuples(_date, st.sampled_from("T "), _time).map("".join),
    _transitions,
    _transitions.map(lambda t: t.replace("T", " ")),
)
_aware = st.one_of(
    st.tuples(_date, _time, _offset).map(lambda t: f"{t[0]}T{t[1]}{t[2]}"),
    _transitions.map(lambda t: t + "+01:00"),
)


def _parsed(texts: list[str | None], zone: str, shape: str) -> list[tuple[object, object]]:
    """(UTC instant as epoch microseconds, problem) per text: as integers, since a parsed
    year 1 can fall in year 0 in UTC, which Python's datetime cannot hold."""
    frame = pl.DataFrame({"start_time": texts}, schema={"start_time": pl.String})
    value, problem = _parse_start(pl.col("start_time"), "iso8601", zone, shape)
    return list(frame.select(value.dt.epoch("us"), problem.alias("p")).iter_rows())


def _us(instant: datetime) -> int:
    return (instant - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_aware, st.none()), max_size=40).filter(any), st.sampled_from(ZONES))
def test_times_with_offsets_parse_as_the_general_parse_does(
    texts: list[str | None], zone: str
) -> None:
    frame = pl.DataFrame({"start_time": texts}, schema={"start_time": pl.String})
    assert _start_shape(frame, "iso8601") == "offset"
    assert _parsed(texts, zone, "offset") == _parsed(texts, zone, "any")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_local, st.none()), max_size=40).filter(any), st.sampled_from(ZONES))
def test_local_times_parse_as_the_general_parse_does(texts: list[str | None], zone: str) -> None:
    frame = pl.DataFrame({"start_time": texts}, schema={"start_time": pl.String})
    assert _start_shape(frame, "iso8601") == "local"
    assert _parsed(texts, zone, "local") == _parsed(texts, zone, "any")


@pytest.mark.parametrize(
    ("texts", "shape"),
    [
        (["2026-10-14T19:43:28+08:00", None], "offset"),
        (["2026-10-14 19:43:28", "2026-10-14T19:43:28"], "local"),
        (["2026-10-14T19:43:28+08:00", "2026-10-14T19:43:28"], "any"),  # mixed
        (["2026-10-14T19:43:28Z"], "any"),
        (["2026-10-14T19:43:28.5+08:00"], "any"),
        (["2026-10-14T19:43:28+0800"], "any"),
        (["14/10/2026 19:43"], "any"),
    ],
)
def test_only_a_chunk_of_one_plain_shape_takes_a_fast_parse(
    texts: list[str | None], shape: str
) -> None:
    frame = pl.DataFrame({"start_time": texts}, schema={"start_time": pl.String})
    assert _start_shape(frame, "iso8601") == shape


def test_fast_parses_worked_by_hand() -> None:
    # 19:43:28 at +08:00 is 11:43:28 UTC; at -05:30, 01:13:28 UTC the next day; a minute
    # field of 60 and a 30 February are no time; 01:30 on London's spring-forward night
    # does not exist, and on its fall-back night is the earlier of two (BST, UTC+1)
    assert _parsed(
        ["2026-10-14T19:43:28+08:00", "2026-10-14T19:43:28-05:30", "2026-10-14T19:43:28+08:60"],
        "Europe/London",
        "offset",
    ) == [
        (_us(datetime(2026, 10, 14, 11, 43, 28, tzinfo=UTC)), None),
        (_us(datetime(2026, 10, 15, 1, 13, 28, tzinfo=UTC)), None),
        (None, "BAD_TIMESTAMP"),
    ]
    assert _parsed(
        ["2026-03-29 01:30:00", "2026-10-25T01:30:00", "2026-02-30 10:00:00", None],
        "Europe/London",
        "local",
    ) == [
        (None, "NONEXISTENT_LOCAL_TIME"),
        (_us(datetime(2026, 10, 25, 0, 30, tzinfo=UTC)), None),
        (None, "BAD_TIMESTAMP"),
        (None, "MISSING_VALUE"),
    ]
