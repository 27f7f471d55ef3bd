"""Imports started from the console: each runs on this process's import thread, one at a
time, and tells its page how far it got.

A job lives in the process that took the upload; its page asks that process. With
``ratebook serve --workers N`` a page asking another process finds no job and says so; the
import still appears under the entity's imports when it is done.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ratebook.errors import RatebookError
from ratebook.intake.tally import ImportProgress, ImportSummary

log = logging.getLogger(__name__)

#: Jobs kept after they end, for their pages.
KEPT = 100


@dataclass(slots=True)
class Job:
    """One import: its file, how far it got, and how it ended.

    Attributes:
        id: the job's unguessable id (its page's address).
        entity: the entity it imports into.
        name: the file's name as uploaded.
        size: the file's size in bytes.
        read: bytes read so far.
        placed, to_place: partitions of charges placed so far, of how many.
        state: ``waiting``, ``running``, ``done`` or ``failed``.
        summary: what the import did, when done.
        error: why it stopped, when failed.
    """

    id: str
    entity: str
    name: str
    size: int
    read: int = 0
    placed: int = 0
    to_place: int = 0
    state: str = "waiting"
    summary: ImportSummary | None = None
    error: RatebookError | None = field(default=None)

    @property
    def percent(self) -> int:
        """How far the job got, 0 to 100: reading is the first 90, placing the rest."""
        if self.state == "done":
            return 100
        reading = 90 * self.read // self.size if self.size else 0
        placing = 10 * self.placed // self.to_place if self.to_place else 0
        return min(99, reading + placing)


class ImportJobs:
    """This process's console imports: one runs at a time, at most ``waiting`` wait."""

    def __init__(self, *, waiting: int = 4) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ratebook-console-import")
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._waiting = waiting

    def submit(
        self,
        entity: str,
        name: str,
        path: Path,
        run: Callable[[ImportProgress], ImportSummary],
    ) -> Job | None:
        """Start importing ``path`` (its folder is removed when done) with ``run``; None when
        too many imports wait already."""
        with self._lock:
            if sum(j.state == "waiting" for j in self._jobs.values()) >= self._waiting:
                return None
            job = Job(secrets.token_urlsafe(16), entity, name, path.stat().st_size)
            self._jobs[job.id] = job
            ended = [k for k, j in self._jobs.items() if j.state in ("done", "failed")]
            for key in ended[: max(0, len(ended) - KEPT)]:
                del self._jobs[key]

        def read(done: int, total: int) -> None:
            job.read, job.size = done, total

        def place(done: int, total: int) -> None:
            job.placed, job.to_place = done, total

        def work() -> None:
            job.state = "running"
            try:
                job.summary = run(ImportProgress(read=read, place=place))
                job.state = "done"
            except RatebookError as error:
                job.error = error
                job.state = "failed"
            except Exception:
                log.exception("console import of %s failed", name)
                job.error = RatebookError("INTERNAL_ERROR", "the import failed; see the server log")
                job.state = "failed"
            finally:
                shutil.rmtree(path.parent, ignore_errors=True)

        self._pool.submit(work)
        return job

    def get(self, job_id: str, entity: str) -> Job | None:
        """The job, if this process has it and it imports into ``entity``."""
        job = self._jobs.get(job_id)
        return job if job is not None and job.entity == entity else None

    def close(self) -> None:
        """Let the running import finish; drop those waiting."""
        self._pool.shutdown(wait=True, cancel_futures=True)
