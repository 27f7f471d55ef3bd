"""Where the API answers a quote: on the event loop, one at a time, or on a worker thread.

A quote against a SQLite store reads a few indexed rows in process, a fraction of a
millisecond, where handing it to a worker thread and back costs as much again in wake-ups and
contention for the interpreter. So a quote of a few events on a SQLite store is answered on the
event loop, from the reference data the server already holds, one quote at a time with
whatever else is ready let through before each (a probe waits for one quote at most, never
for a queue of them). A quote that would load reference data (seconds), a quote of many
events, and every quote of a PostgreSQL store (whose reads are round trips to a server) go to
one of a few threads of the lane's own (not the server's pool of dozens, which would contend
with the event loop for the interpreter).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ratebook.workflows.ingest_events import EventsSummary

#: Quotes of up to this many events may be answered on the event loop.
ON_LOOP_EVENTS = 16

#: Worker threads of the quotes not answered on the loop: enough for one quote's round trips
#: to a server to overlap another's work; more would only contend for the interpreter with
#: the event loop (and hold up the probes).
QUOTE_THREADS = 4


class QuoteLane:
    """Where each quote is answered (see the module's docstring)."""

    def __init__(self, *, on_loop: bool) -> None:
        self.on_loop = on_loop
        self._turn = asyncio.Lock()
        self._threads = ThreadPoolExecutor(
            max_workers=QUOTE_THREADS, thread_name_prefix="ratebook-quote"
        )

    async def answer(
        self,
        events: int,
        *,
        warm: Callable[[], EventsSummary | None],
        anyhow: Callable[[], EventsSummary],
    ) -> EventsSummary:
        """``warm()`` on the event loop when this lane takes ``events`` events and it
        answers, else ``anyhow()`` on one of the lane's threads."""
        if self.on_loop and events <= ON_LOOP_EVENTS:
            async with self._turn:
                await asyncio.sleep(0)  # what else is ready goes first
                found = warm()
            if found is not None:
                return found
        return await asyncio.wrap_future(self._threads.submit(anyhow))

    def close(self) -> None:
        """Stop the lane's threads once the quotes they hold are answered."""
        self._threads.shutdown(wait=True)
