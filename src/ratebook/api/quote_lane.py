"""Where the API answers a quote: on the event loop, one at a time, or on a worker thread.

A quote against a SQLite store reads a few indexed rows in process, a fraction of a
millisecond, where handing it to a worker thread and back costs as much again in wake-ups and
contention for the interpreter. So a quote of a few events on a SQLite store is answered on the
event loop, from the reference data the server already holds, one quote at a time with
whatever else is ready let through before each (a probe waits for one quote at most, never
for a queue of them). A quote that would load reference data (seconds), a quote of many
events, and every quote of a PostgreSQL store (whose reads are round trips to a server) go to
a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from fastapi.concurrency import run_in_threadpool

from ratebook.workflows.ingest_events import EventsSummary

#: Quotes of up to this many events may be answered on the event loop.
ON_LOOP_EVENTS = 16


class QuoteLane:
    """The turn of quotes answered on the event loop (see the module's docstring)."""

    def __init__(self, *, on_loop: bool) -> None:
        self.on_loop = on_loop
        self._turn = asyncio.Lock()

    async def answer(
        self,
        events: int,
        *,
        warm: Callable[[], EventsSummary | None],
        anyhow: Callable[[], EventsSummary],
    ) -> EventsSummary:
        """``warm()`` on the event loop when this lane takes ``events`` events and it
        answers, else ``anyhow()`` on a worker thread."""
        if self.on_loop and events <= ON_LOOP_EVENTS:
            async with self._turn:
                await asyncio.sleep(0)  # what else is ready goes first
                found = warm()
            if found is not None:
                return found
        return await run_in_threadpool(anyhow)
