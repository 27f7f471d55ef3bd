"""Group commit for pushed events.

Requests to ``POST /v1/events`` that arrive while an earlier group is being stored wait in a
queue; one writer thread takes everything waiting for the same entity, key and actor (up to
``api_max_events`` events) and stores it with one ``ingest_event_groups`` call: one
transaction, one reference load, one commit. Each request still gets its own events'
outcomes, the same as if the requests had run one after the other in arrival order. An idle
server adds no wait: a lone request is stored at once.

When a group fails as a whole (an event that cannot be stored, a store error), each of its
requests is run again on its own, so an error is answered to the request that caused it and
the others still succeed.

With a ``WriterProcess`` (``ratebook serve``), the writer thread hands each group to that
process and waits for its answers, so that storing does not share the interpreter with the
event loop; without one (an app built in a test, an in-memory store), it stores the group
itself.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

from sqlalchemy import Engine

from ratebook.api.metrics import Metrics
from ratebook.errors import AccessError
from ratebook.settings import Settings
from ratebook.store.reference import ReferenceCache
from ratebook.workflows.ingest_events import EventGroup, EventsSummary
from ratebook.workflows.writer_process import Sender, StoreHere, WriterProcess

log = logging.getLogger(__name__)


class Busy(Exception):  # noqa: N818 (a state, not an error of the caller's)
    """The writer's queue is full: the push is refused, to be sent again later."""


@dataclass(slots=True)
class _Pending:
    sender: Sender
    group: EventGroup
    future: Future[EventsSummary] = field(default_factory=Future)


class EventCoalescer:
    """The queue and the writer thread of one app (started on first use)."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        metrics: Metrics,
        references: ReferenceCache | None = None,
        process: WriterProcess | None = None,
    ) -> None:
        self._writer: WriterProcess | StoreHere = (
            StoreHere(engine, references) if process is None else process
        )
        self._settings = settings
        self._metrics = metrics
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._queued = 0  # events submitted and not yet stored

    def submit(
        self,
        group: EventGroup,
        *,
        entity: str,
        source_name: str,
        actor: str,
        key_id: int | None = None,
    ) -> Future[EventsSummary]:
        """Queue ``group`` to be stored with whatever else is waiting; the future gives its
        own outcomes (or the error that stopped it: ``AccessError`` when ``key_id`` was
        revoked before the group was stored).

        Raises:
            Busy: ``api_max_queued_events`` events are waiting already.
        """
        pending = _Pending(Sender(entity, source_name, actor, key_id), group)
        self._start()
        size = len(group.events)
        with self._lock:
            if self._queued and self._queued + size > self._settings.api_max_queued_events:
                raise Busy(self._queued)
            self._queued += size
        pending.future.add_done_callback(lambda _: self._done(size))
        self._queue.put(pending)
        return pending.future

    def _done(self, size: int) -> None:
        with self._lock:
            self._queued -= size

    def start(self) -> Future[int] | None:
        """Start the writer process, if there is one, so that it has loaded the reference
        data before the first events come (the writer thread starts with the first); the
        future gives its process id once it is ready."""
        return self._writer.start()

    def close(self) -> None:
        """Finish what is queued, then stop the writer thread (and process)."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join()
        self._writer.close()

    def _start(self) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the event writer is closed")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="ratebook-event-writer", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        waiting: list[_Pending] = []
        stopping = False
        while waiting or not stopping:
            if not waiting:
                item = self._queue.get()
                if item is None:
                    stopping = True
                    continue
                waiting.append(item)
            while True:  # everything queued meanwhile
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                else:
                    waiting.append(item)
            taken, waiting = self._next_group(waiting)
            self._store(taken)

    def _next_group(self, waiting: list[_Pending]) -> tuple[list[_Pending], list[_Pending]]:
        """The first waiting request and the later ones of its sender that fit with it, in
        arrival order (a request that does not fit holds back its sender's later ones)."""
        sender = waiting[0].sender
        taken: list[_Pending] = []
        rest: list[_Pending] = []
        size = 0
        full = False
        for item in waiting:
            events = len(item.group.events)
            if (
                item.sender == sender
                and not full
                and (not taken or size + events <= self._settings.api_max_events)
            ):
                taken.append(item)
                size += events
            else:
                rest.append(item)
                full = full or item.sender == sender
        return taken, rest

    def _store(self, taken: list[_Pending]) -> None:
        try:
            summaries = self._writer.store(
                [p.group for p in taken], taken[0].sender, self._settings
            )
        except AccessError as exc:  # the key was revoked: no request of it is stored
            for pending in taken:
                pending.future.set_exception(exc)
            return
        except Exception as exc:
            if len(taken) == 1:
                taken[0].future.set_exception(exc)
                return
            log.info("a group of %d requests failed; storing them one by one", len(taken))
            for pending in taken:
                self._store([pending])
            return
        self._metrics.group_requests.observe(len(taken))
        for pending, summary in zip(taken, summaries, strict=True):
            pending.future.set_result(summary)
