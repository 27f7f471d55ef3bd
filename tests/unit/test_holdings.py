"""A number or prefix is held by one customer at a time; spans are half-open."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ratebook.model.holdings import Holdings, Identifier


def _day(day: int) -> datetime:
    return datetime(2026, 10, day, tzinfo=UTC)


def _number(start: int | None, end: int | None) -> Identifier:
    return Identifier(
        kind="number",
        value="+60321110000",
        valid_from=None if start is None else _day(start),
        valid_to=None if end is None else _day(end),
    )


@pytest.mark.parametrize(
    ("held", "asked", "clash"),
    [
        ((None, None), (1, 2), True),  # always held: every span clashes
        ((None, 15), (15, None), False),  # [.., 15) and [15, ..) touch, share no instant
        ((15, None), (None, 15), False),
        ((None, 15), (14, None), True),  # the 14th is in both
        ((10, 20), (12, 13), True),  # inside
        ((10, 20), (1, 10), False),  # ends where the other starts
        ((10, 20), (20, 30), False),
        ((10, 20), (19, 30), True),
    ],
)
def test_another_customer_holding_an_overlapping_span_is_named(
    held: tuple[int | None, int | None], asked: tuple[int | None, int | None], clash: bool
) -> None:
    holdings = Holdings()
    holdings.hold(1, "A", _number(*held))
    assert holdings.other_holder(2, _number(*asked)) == ("A" if clash else None)
    assert holdings.other_holder(1, _number(*asked)) is None  # its own number never clashes


def test_the_same_identifier_is_held_once() -> None:
    holdings = Holdings()
    assert holdings.hold(1, "A", _number(None, 15))
    assert not holdings.hold(1, "A", _number(None, 15))
    assert holdings.hold(1, "A", _number(15, None))  # another span is another holding
    other_zone = Identifier(
        kind="number",
        value="+60321110000",
        valid_from=None,
        valid_to=datetime.fromisoformat("2026-10-15T08:00:00+08:00"),  # the same instant
    )
    assert not holdings.hold(1, "A", other_zone)
