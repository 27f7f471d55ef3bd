"""Scratch space on local disk for one process: the charges an import spills while it reads
a file, and the frames the SQLite bulk path stages.

Every process works under a folder of its own, ``<temp>/ratebook-scratch/<pid>-<token>``,
which it removes when it exits. Beside the folder lies ``<pid>-<token>.lock``, locked by the
process for as long as it lives (taken before the folder is made). A process killed before
its exit leaves both behind; the next process to open its scratch space finds the lock free
and removes them (``sweep``).
"""

from __future__ import annotations

import atexit
import fcntl
import os
import secrets
import shutil
import tempfile
import threading
from pathlib import Path
from typing import IO

_guard = threading.Lock()
_mine: tuple[Path, IO[bytes]] | None = None


def root() -> Path:
    """Where every process's scratch folder lives (under the system's temporary folder,
    ``TMPDIR``)."""
    return Path(tempfile.gettempdir()) / "ratebook-scratch"


def folder() -> Path:
    """This process's scratch folder, made (after sweeping the folders of processes that
    died) on first use, and removed when the process exits."""
    global _mine
    with _guard:
        if _mine is not None and _mine[0].is_dir() and _mine[0].parent == root():
            return _mine[0]
        sweep()
        name = root() / f"{os.getpid()}-{secrets.token_hex(4)}"
        root().mkdir(parents=True, exist_ok=True)
        lock = name.with_suffix(".lock").open("wb")
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        name.mkdir()
        _mine = (name, lock)
        atexit.register(_remove, name, lock)
        return name


def sweep() -> list[Path]:
    """Remove the scratch folders whose process is gone (its lock is free); returns them."""
    removed: list[Path] = []
    if not root().is_dir():
        return removed
    for lock_path in root().glob("*.lock"):
        owned = lock_path.with_suffix("")
        if _mine is not None and owned == _mine[0]:
            continue
        try:
            with lock_path.open("ab") as lock:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(owned, ignore_errors=True)
                lock_path.unlink(missing_ok=True)
        except BlockingIOError:
            continue  # its process is alive and holds the lock
        except OSError:
            continue  # gone meanwhile, or another sweeper took it
        removed.append(owned)
    return removed


def _remove(made: Path, lock: IO[bytes]) -> None:
    shutil.rmtree(made, ignore_errors=True)
    made.with_suffix(".lock").unlink(missing_ok=True)
    lock.close()
