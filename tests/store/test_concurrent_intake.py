"""Two writers storing the same file, or records with the same ids, at the same time: every
row still ends up once, as a record, a duplicate or an exception, and neither writer fails.

On PostgreSQL the two transactions are held side by side (each waits for the other after its
lookups), so both look for the file and the ids before either has stored them; the second
then meets the first's unique keys and runs again, finding them stored. SQLite has one
writer at a time, so there the second simply runs after the first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from ratebook.errors import ConflictError
from ratebook.intake.tally import ImportSummary
from ratebook.model.review import Filter
from ratebook.settings import Settings
from ratebook.store import event_outcomes, usage
from ratebook.store.checks import check_store
from ratebook.store.entities import get_entity
from ratebook.store.tables import import_batches, usage_records
from ratebook.workflows import correct_exception, review_exceptions
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.ingest_events import EventsSummary, ingest_events
from tests.conftest import one_customer, write

HEADER = "record_id,start_time,quantity,account,destination\n"


def _row(record_id: str) -> str:
    # a minute at RM0.0300
    return f"{record_id},2026-10-05T10:00:00+08:00,60,A,+60312345678\n"


def _side_by_side(engine: Engine, monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> None:
    """On PostgreSQL, make each of two writers wait for the other right after its first call
    of ``module.name`` (a lookup made before anything is stored)."""
    if engine.dialect.name != "postgresql":
        return
    barrier = threading.Barrier(2, timeout=30)
    real = getattr(module, name)
    first_calls: set[int] = set()

    def waiting(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        if threading.get_ident() not in first_calls:
            first_calls.add(threading.get_ident())
            barrier.wait()
        return found

    monkeypatch.setattr(module, name, waiting)


def _both(*work: Callable[[], Any]) -> list[Any]:
    """Run the callables in two threads at once; their results, or the error they raised."""
    out: list[Any] = [None] * len(work)

    def run(n: int) -> None:
        try:
            out[n] = work[n]()
        except Exception as error:  # the test asserts there is none
            out[n] = error

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(work))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return out


def _stored(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(import_batches)).scalar_one(),
            conn.execute(select(func.count()).select_from(usage_records)).scalar_one(),
        )


def test_the_same_file_imported_twice_at_once_is_imported_once(
    my_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one_customer(my_engine, tmp_path)
    feed = write(tmp_path / "f.csv", HEADER + "".join(_row(f"r{n}") for n in range(50)))
    _side_by_side(my_engine, monkeypatch, usage, "find_batch_by_sha")
    got = _both(*[lambda: import_feed(my_engine, feed, format_name="generic")] * 2)
    assert all(isinstance(s, ImportSummary) for s in got), got
    assert sorted((s.already_imported, s.rated) for s in got) == [(False, 50), (True, 50)]
    assert _stored(my_engine) == (1, 50)


def test_files_sharing_record_ids_imported_at_once_store_each_id_once(
    my_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ids r0-r39 in one file and r20-r59 in the other, the shared 20 the same calls: 60
    # records in all, and the shared ones are duplicates in whichever file came second
    one_customer(my_engine, tmp_path)
    first = write(tmp_path / "a.csv", HEADER + "".join(_row(f"r{n}") for n in range(40)))
    second = write(tmp_path / "b.csv", HEADER + "".join(_row(f"r{n}") for n in range(20, 60)))
    _side_by_side(my_engine, monkeypatch, usage, "find_batch_by_sha")
    got = _both(
        lambda: import_feed(my_engine, first, format_name="generic"),
        lambda: import_feed(my_engine, second, format_name="generic"),
    )
    assert all(isinstance(s, ImportSummary) for s in got), got
    assert sorted((s.rated, s.duplicates) for s in got) == [(20, 20), (40, 0)]
    assert sum(s.rows_read for s in got) == 80
    assert _stored(my_engine) == (2, 60)


def test_the_same_events_pushed_twice_at_once_are_stored_once(
    my_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one_customer(my_engine, tmp_path)
    events = [
        {
            "record_id": f"e{n}",
            "start_time": "2026-10-05T10:00:00+08:00",
            "quantity": 60,
            "account": "A",
            "destination": "+60312345678",
        }
        for n in range(10)
    ]
    _side_by_side(my_engine, monkeypatch, event_outcomes, "unstored_exceptions")
    got = _both(*[lambda: ingest_events(my_engine, events)] * 2)
    assert all(isinstance(s, EventsSummary) for s in got), got
    assert sorted((s.rated, s.duplicates) for s in got) == [(0, 10), (10, 0)]
    # the repeat answers each event with the first writer's charge
    for summary in got:
        assert [r.charge for r in summary.results] == ["0.0300"] * 10
    assert _stored(my_engine)[1] == 10


def test_a_correction_racing_an_import_of_its_id_is_refused_as_a_duplicate(
    my_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a clerk corrects the start of an invalid row k1 while a file bringing k1, with the
    # very content of the correction, is imported: the import wins and the correction is
    # refused as a duplicate of it, as if the clerk had come second
    if my_engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: the import waits for the correction")
    one_customer(my_engine, tmp_path)
    import_feed(
        my_engine,
        write(tmp_path / "bad.csv", HEADER + "k1,yesterday,60,A,+60312345678\n"),
        format_name="generic",
    )
    (pending,) = review_exceptions.list_exceptions(my_engine, Filter(code="INVALID_RECORD"))
    checked, imported = threading.Event(), threading.Event()
    real = correct_exception._refuse_clash

    def then_wait(*args: Any) -> None:
        real(*args)
        if not checked.is_set():  # the correction's first look: the id is free
            checked.set()
            assert imported.wait(timeout=30)

    monkeypatch.setattr(correct_exception, "_refuse_clash", then_wait)

    def clerk() -> object:
        return correct_exception.correct(
            my_engine,
            pending["id"],
            changes={"start_time": "2026-10-05T10:00:00+08:00"},
            reason="the switch wrote no date",
        )

    def importer() -> ImportSummary:
        assert checked.wait(timeout=30)
        try:
            return import_feed(
                my_engine, write(tmp_path / "good.csv", HEADER + _row("k1")), format_name="generic"
            )
        finally:
            imported.set()

    corrected, summary = _both(clerk, importer)
    assert isinstance(summary, ImportSummary), summary
    assert summary.rated == 1
    assert isinstance(corrected, ConflictError), corrected
    assert corrected.code == "CORRECTION_DUPLICATE"
    (still,) = review_exceptions.list_exceptions(my_engine, Filter(ids=(pending["id"],)))
    assert still["status"] == "open"
    assert _stored(my_engine)[1] == 1


def test_files_sharing_ids_in_opposite_orders_never_end_in_a_deadlock_error(
    my_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # r0-r9 in one file and r9-r0 in the other, read a row a chunk: each import holds its
    # first id while it goes on to the other's, so PostgreSQL finds a deadlock and ends one;
    # that one runs again and finds the other's records stored, as duplicates
    one_customer(my_engine, tmp_path)
    forward = write(tmp_path / "a.csv", HEADER + "".join(_row(f"r{n}") for n in range(10)))
    backward = write(tmp_path / "b.csv", HEADER + "".join(_row(f"r{n}") for n in range(9, -1, -1)))
    _side_by_side(my_engine, monkeypatch, usage, "add_records")
    settings = Settings(chunk_rows=1)
    got = _both(
        lambda: import_feed(my_engine, forward, format_name="generic", settings=settings),
        lambda: import_feed(my_engine, backward, format_name="generic", settings=settings),
    )
    assert all(isinstance(s, ImportSummary) for s in got), got
    assert sorted((s.rated, s.duplicates) for s in got) == [(0, 10), (10, 0)]
    assert _stored(my_engine) == (2, 10)
    with my_engine.connect() as conn:
        assert check_store(conn, get_entity(conn, None).id).violations == []
