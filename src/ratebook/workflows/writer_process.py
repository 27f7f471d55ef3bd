"""Pushed events stored by a process of their own.

The API's writer thread (``api.coalesce``) stores each group of requests with
``ingest_event_groups``: tens of milliseconds of Python and Polars a group. In the server's
own process that work shares the interpreter with the event loop, so every request waits
for the loop to get the interpreter back, and under load the queue of requests grows until it
refuses them. ``WriterProcess`` runs ``ingest_event_groups`` in a spawned process instead
(its own interpreter, its own connection pool and its own copy of the reference data, loaded
as it starts), and the writer thread only hands it each group and waits for the answers.

A group is one transaction in that process: if the process ends in the middle (killed, out of
memory), the database rolls the transaction back and ``store`` raises ``StoreError``
``WRITER_RESTARTED``; the writer thread then stores the group's requests one by one, in a new
process, and a lone request is answered with that error (to send again: events are
idempotent by id). The process ends with the server process that started it, even a killed
one. ``StoreHere`` is the same writer in the calling thread, for an app without a writer
process and inside the writer process itself.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from sqlalchemy import Engine

from ratebook.errors import StoreError
from ratebook.model.actor import acting_as
from ratebook.settings import Settings
from ratebook.store.engine import make_engine
from ratebook.store.reference import ReferenceCache
from ratebook.workflows.ingest_events import EventGroup, EventsSummary, ingest_event_groups
from ratebook.workflows.warm_up import rehearse_events, warm_references


@dataclass(frozen=True, slots=True)
class Sender:
    """Who a group of requests is stored for: requests are grouped only with others of the
    same sender (``api.coalesce``).

    Attributes:
        entity: the entity's code.
        source_name: how the batch is named in lineage (``api:key-name``).
        actor: who the audit log names.
        key_id: the API key, checked again in the storing transaction.
    """

    entity: str
    source_name: str
    actor: str
    key_id: int | None


class StoreHere:
    """Stores groups of pushed events in the calling thread, with ``references`` kept
    between groups: the writer of an app without a writer process, and the writer process's
    own."""

    def __init__(self, engine: Engine, references: ReferenceCache | None) -> None:
        self._engine = engine
        self._references = references

    def store(
        self, groups: list[EventGroup], sender: Sender, settings: Settings
    ) -> list[EventsSummary]:
        """``ingest_event_groups`` of ``groups`` for ``sender``."""
        with acting_as(sender.actor):
            return ingest_event_groups(
                self._engine,
                groups,
                entity_code=sender.entity,
                source_name=sender.source_name,
                settings=settings,
                references=self._references,
                key_id=sender.key_id,
            )

    def start(self) -> Future[int] | None:
        """Nothing to start."""
        return None

    def close(self) -> None:
        """Nothing to stop."""


#: The writer process's own writer, once it has started.
_held: dict[str, StoreHere] = {}


def _start(url: str, parent: int) -> None:
    """The writer process's start: its store, and the reference data loaded ahead. The
    server process ``parent`` ends it: on Ctrl-C or a stop signal to the whole process group
    the server finishes the groups it holds first, and a killed server is noticed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_end_with, args=(parent,), daemon=True).start()
    engine = make_engine(url)
    references = ReferenceCache()
    warm_references(engine, references)
    rehearse_events(engine, references, Settings())
    _held["writer"] = StoreHere(engine, references)
    # the reference data is millions of objects that live as long as the process: kept out
    # of the collector's full passes, which would otherwise walk them all now and then
    gc.freeze()


def _end_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_PARENT_CHECK_SECONDS)
    os._exit(0)  # the server is gone: a group in flight rolls back with the connection


#: How often the writer process looks whether the server process is still there.
_PARENT_CHECK_SECONDS = 1


def _ready() -> int:
    """The writer process's id, once it has started."""
    return multiprocessing.current_process().pid or 0


def _store(groups: list[EventGroup], sender: Sender, settings: Settings) -> list[EventsSummary]:
    return _held["writer"].store(groups, sender, settings)


def shareable_url(engine: Engine) -> str | None:
    """The URL another process opens ``engine``'s store by, or None for a store no other
    process can open (an in-memory SQLite database)."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return None
    return url.render_as_string(hide_password=False)


class WriterProcess:
    """One spawned process that stores groups of pushed events (see the module's
    docstring); started by ``start``, or by the first group."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def _running(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start,
                    initargs=(self._url, os.getpid()),
                )
            return self._pool

    def _restart(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is broken:
                self._pool = None
        broken.shutdown(wait=False)

    def start(self) -> Future[int]:
        """Start the process (it loads the reference data as it starts); the future gives
        its process id once it is ready."""
        return self._running().submit(_ready)

    def store(
        self, groups: list[EventGroup], sender: Sender, settings: Settings
    ) -> list[EventsSummary]:
        """``StoreHere.store`` in the writer process.

        Raises:
            StoreError: ``WRITER_RESTARTED``, the process ended before it answered (nothing
                of the groups was stored).
            Whatever ``ingest_event_groups`` raises.
        """
        pool = self._running()
        try:
            submitted = pool.submit(_store, groups, sender, settings)
        except BrokenProcessPool:  # it ended while idle: nothing was sent to it
            self._restart(pool)
            pool = self._running()
            submitted = pool.submit(_store, groups, sender, settings)
        try:
            return submitted.result()
        except BrokenProcessPool:
            self._restart(pool)
            raise StoreError(
                "WRITER_RESTARTED",
                "the event writer's process ended before it stored these events; nothing"
                " of them was stored: send them again",
            ) from None

    def close(self) -> None:
        """Stop the process once the group it holds is stored."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
