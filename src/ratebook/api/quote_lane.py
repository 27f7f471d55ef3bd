"""Where the API answers a quote: by the quick path, one quote at a time, or on a worker thread.

The usual quote, of a few events, is answered by the quick path from the reference data the
server already holds (``workflows.quote_in_cycle.quote_if_warm``): a couple of indexed reads
and a fraction of a millisecond of Python. Such quotes are answered one at a time, so that
they take the interpreter from the event loop for one quote at most and a probe never waits
behind a queue of them:

- on a SQLite store, on the event loop itself, with whatever else is ready let through before
  each: the reads are in process, and handing the quote to a thread and back would cost as
  much again in wake-ups and contention for the interpreter;
- on a PostgreSQL store, on one thread of the lane's own, since the reads are round trips to
  the server. A second thread adds little (the interpreter is shared) and lets two quotes
  hold up the event loop at once.

A quote the quick path does not take (reference data to load, which takes seconds; many
events; events with ids of their own) goes to one of a few other threads of the lane's own
(not the server's pool of dozens, which would contend with the event loop for the
interpreter).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ratebook.workflows.ingest_events import EventsSummary

#: Quotes of up to this many events may be answered by the quick path, one at a time.
QUICK_EVENTS = 16

#: Worker threads of the quotes the quick path does not take: enough for one quote's round
#: trips to a server to overlap another's work; more would only contend for the interpreter
#: with the event loop (and hold up the probes).
QUOTE_THREADS = 4


class QuoteLane:
    """Where each quote is answered (see the module's docstring)."""

    def __init__(self, *, on_loop: bool) -> None:
        self.on_loop = on_loop
        self._turn = asyncio.Lock()
        self._quick = (
            None
            if on_loop
            else ThreadPoolExecutor(max_workers=1, thread_name_prefix="ratebook-quick-quote")
        )
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
        """``warm()`` one quote at a time (on the event loop, or on the lane's quick thread)
        when it holds at most ``QUICK_EVENTS`` events and it answers; else ``anyhow()`` on
        one of the lane's other threads."""
        if events <= QUICK_EVENTS:
            if self._quick is None:
                async with self._turn:
                    await asyncio.sleep(0)  # what else is ready goes first
                    found = warm()
            else:
                found = await asyncio.wrap_future(self._quick.submit(warm))
            if found is not None:
                return found
        return await asyncio.wrap_future(self._threads.submit(anyhow))

    def close(self) -> None:
        """Stop the lane's threads once the quotes they hold are answered."""
        if self._quick is not None:
            self._quick.shutdown(wait=True)
        self._threads.shutdown(wait=True)
