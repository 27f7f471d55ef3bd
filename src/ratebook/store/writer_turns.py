"""SQLite writers of one database file taking turns, across threads and processes.

SQLite lets one writer in at a time, and a writer that finds its lock taken sleeps and tries
again (``busy_timeout``) at growing intervals, up to 100 ms apart. Two processes that each
write back to back (the event writers of two server processes under load, an import beside
a server) then starve each other: the one waiting wakes while the other is already in its
next transaction, again and again, for seconds. So a Ratebook writer first takes its turn:
a lock among its own process's threads, then an exclusive ``flock`` on a file beside the
database (``<database>-writers``), which the kernel hands to a waiting process the moment the
holder lets go. It gives the turn back once its transaction has committed or rolled back. A
writer that does not take turns (another program) still meets SQLite's own lock.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path


class WriterTurns:
    """The turns of one database file's writers in this process."""

    def __init__(self, database: Path) -> None:
        self._path = Path(f"{database}-writers")
        self._threads = threading.Lock()  # one writer of this process at a time
        self._held: tuple[int, int | None] | None = None  # the holder and its lock file

    def take(self, holder: int, timeout: float) -> bool:  # float-ok: seconds
        """Wait for the turn (at most ``timeout`` seconds) for ``holder`` (a connection's
        id); whether it was taken."""
        began = time.monotonic()
        if not self._threads.acquire(timeout=timeout):
            return False
        try:
            # an open file of its own each time: a lock belongs to the open file, so a wait
            # given up earlier (``_flock_within``) cannot take or drop this one's
            try:
                fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError:
                # a folder it cannot write in (a read-only store): SQLite's own lock decides,
                # and SQLite says what is wrong with the store
                self._held = (holder, None)
                return True
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not _flock_within(fd, timeout - (time.monotonic() - began)):
                    self._threads.release()
                    return False
        except BaseException:
            self._threads.release()
            raise
        self._held = (holder, fd)
        return True

    def give_back(self, holder: int) -> None:
        """End ``holder``'s turn, if it has one."""
        held = self._held
        if held is None or held[0] != holder:
            return
        self._held = None
        if held[1] is not None:
            os.close(held[1])  # which lets go of its lock
        self._threads.release()


def _flock_within(fd: int, seconds: float) -> bool:  # float-ok: seconds
    """Take ``fd``'s exclusive ``flock`` within ``seconds``: waited for in a thread of its
    own (``flock`` itself has no timeout). If the caller stops waiting first, that thread
    closes ``fd`` once it has the lock, or as it gets it."""
    state = {"got": False, "abandoned": False}
    guard = threading.Lock()
    got = threading.Event()

    def wait() -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with guard:
            if state["abandoned"]:
                os.close(fd)
                return
            state["got"] = True
        got.set()

    threading.Thread(target=wait, name="ratebook-writer-turn", daemon=True).start()
    if got.wait(max(seconds, 0.0)):
        return True
    with guard:
        if state["got"]:
            return True
        state["abandoned"] = True
    return False
