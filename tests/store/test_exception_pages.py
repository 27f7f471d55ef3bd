"""The console's pages of the exception queue on both stores: walked page by page, newest
first, they hold every matching exception once, in the order of the whole list sorted by
id; and the per-code counts, capped, say "more than" rather than read the whole queue."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from ratebook.model.review import Filter
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.review_exceptions import assign, list_exceptions, pending_by_code, reject
from tests.conftest import one_customer, write

#: 30 rows: every third an unknown account, every third a negative quantity, the rest rated.
ROWS = "record_id,start_time,quantity,account,destination\n" + "".join(
    f"r{i},2026-10-{1 + i % 28:02d}T10:00:00+08:00,"
    + (
        "60,GHOST,+60312345678\n"
        if i % 3 == 0
        else "-1,A,+60312345678\n"
        if i % 3 == 1
        else "60,A,+60312345678\n"
    )
    for i in range(30)
)


def _walk(engine: Engine, f: Filter, page: int) -> list[int]:
    seen: list[int] = []
    before = None
    while True:
        rows = list_exceptions(
            engine, f, entity_code="MY1", limit=page, before_id=before, newest_first=True
        )
        seen.extend(int(r["id"]) for r in rows)
        if len(rows) < page:
            return seen
        before = int(rows[-1]["id"])


@pytest.mark.parametrize("page", [1, 3, 7, 50])
def test_pages_walk_the_queue_once_in_order(my_engine: Engine, tmp_path: Path, page: int) -> None:
    one_customer(my_engine, tmp_path)
    import_feed(my_engine, write(tmp_path / "rows.csv", ROWS), format_name="generic")
    everything = list_exceptions(my_engine, Filter(), entity_code="MY1")
    assert len(everything) == 20
    ids = sorted((int(x["id"]) for x in everything), reverse=True)
    # some in review, some written off: every status is walked
    assign(my_engine, Filter(ids=tuple(ids[:4])), "ana", entity_code="MY1")
    reject(my_engine, Filter(ids=tuple(ids[4:7])), "test", entity_code="MY1")
    for f in (
        Filter(),
        Filter(status="pending"),
        Filter(status="open"),
        Filter(status="rejected"),
        Filter(code="INVALID_RECORD"),
        Filter(code="UNMATCHED_CUSTOMER", status="pending"),
        Filter(text="ghost"),
    ):
        expected = sorted(
            (int(x["id"]) for x in list_exceptions(my_engine, f, entity_code="MY1")),
            reverse=True,
        )
        assert expected, f
        assert _walk(my_engine, f, page) == expected, f


def test_capped_counts(my_engine: Engine, tmp_path: Path) -> None:
    one_customer(my_engine, tmp_path)
    import_feed(my_engine, write(tmp_path / "rows.csv", ROWS), format_name="generic")
    assert pending_by_code(my_engine, entity_code="MY1") == {
        "INVALID_RECORD": 10,
        "UNMATCHED_CUSTOMER": 10,
    }
    assert pending_by_code(my_engine, entity_code="MY1", cap=4) == {
        "INVALID_RECORD": 5,
        "UNMATCHED_CUSTOMER": 5,
    }
    assert pending_by_code(my_engine, entity_code="MY1", cap=10) == {
        "INVALID_RECORD": 10,
        "UNMATCHED_CUSTOMER": 10,
    }
