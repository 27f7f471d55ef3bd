"""Where the API answers a quote (``api.quote_lane``): the quick path one quote at a time (on
the event loop for SQLite, on one thread of its own for PostgreSQL), everything else on the
lane's other threads."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ratebook.api.quote_lane import QUICK_EVENTS, QuoteLane
from ratebook.workflows.ingest_events import EventsSummary


class _Recorder:
    """Quote callables that note the thread they ran on and how many ran at once."""

    def __init__(self, *, warm_answers: bool) -> None:
        self.warm_answers = warm_answers
        self.threads: list[tuple[str, str]] = []
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()

    def _run(self, kind: str) -> None:
        with self._lock:
            self.threads.append((kind, threading.current_thread().name))
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.02)  # long enough for the other quotes to be submitted meanwhile
        with self._lock:
            self.running -= 1

    def warm(self) -> EventsSummary | None:
        self._run("warm")
        return EventsSummary(rated=1) if self.warm_answers else None

    def anyhow(self) -> EventsSummary:
        self._run("anyhow")
        return EventsSummary(rated=2)


def _ask(lane: QuoteLane, recorder: _Recorder, events: int, times: int) -> list[int]:
    """``times`` quotes of ``events`` events asked at once, on an event loop of a thread of
    its own (named ``loop_0``), as the server's."""

    async def all_at_once() -> list[int]:
        answers = await asyncio.gather(
            *(lane.answer(events, warm=recorder.warm, anyhow=recorder.anyhow) for _ in range(times))
        )
        return [a.rated for a in answers]

    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="loop") as loop:
            return loop.submit(asyncio.run, all_at_once()).result()
    finally:
        lane.close()


def test_postgres_quick_quotes_run_one_at_a_time_on_a_thread_of_their_own() -> None:
    recorder = _Recorder(warm_answers=True)
    assert _ask(QuoteLane(on_loop=False), recorder, 1, 6) == [1] * 6
    assert recorder.most == 1  # never two at once
    assert {name.rsplit("_", 1)[0] for _, name in recorder.threads} == {"ratebook-quick-quote"}


def test_a_quote_the_quick_path_declines_goes_to_the_other_threads() -> None:
    recorder = _Recorder(warm_answers=False)
    assert _ask(QuoteLane(on_loop=False), recorder, 1, 4) == [2] * 4
    anyhow = [name for kind, name in recorder.threads if kind == "anyhow"]
    assert len(anyhow) == 4
    assert all(name.startswith("ratebook-quote_") for name in anyhow)
    assert recorder.most > 1  # the declined quotes run side by side


def test_a_quote_of_many_events_skips_the_quick_path() -> None:
    for on_loop in (False, True):
        recorder = _Recorder(warm_answers=True)
        assert _ask(QuoteLane(on_loop=on_loop), recorder, QUICK_EVENTS + 1, 2) == [2, 2]
        assert [kind for kind, _ in recorder.threads] == ["anyhow", "anyhow"]


def test_sqlite_quick_quotes_are_answered_on_the_event_loop() -> None:
    recorder = _Recorder(warm_answers=True)
    assert _ask(QuoteLane(on_loop=True), recorder, 1, 3) == [1] * 3
    assert recorder.most == 1
    assert {name for _, name in recorder.threads} == {"loop_0"}
