"""Failures of the machine under a command (the store, the disk, the connection), told as
one line with a stable code instead of a driver's traceback.

Every transaction that failed was rolled back, so each message says nothing was kept.
"""

from __future__ import annotations

import errno
import sqlite3
import tempfile

from ratebook.errors import InputError, RatebookError, StoreError

_KEPT = "nothing of the unfinished change was kept"


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it was raised from, outermost first."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return seen


def _text(exc: BaseException) -> str:
    return " ".join(str(e) for e in _chain(exc)).lower()


def _disk_full(exc: BaseException) -> bool:
    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if getattr(e, "sqlstate", None) == "53100":  # PostgreSQL: disk_full
            return True
        if isinstance(e, sqlite3.OperationalError) and "disk is full" in str(e):
            return True
    text = _text(exc)
    return "no space left on device" in text or "database or disk is full" in text


def _file_error(exc: OSError) -> InputError:
    """A file or folder a command was given that it cannot use, named as it was given."""
    path = str(exc.filename)
    reason = exc.strerror or type(exc).__name__
    if exc.errno == errno.EEXIST:
        return InputError("FILE_EXISTS", "the file exists; name a new one", path=path)
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return InputError("FILE_NOT_FOUND", "no such file or folder on this path", path=path)
    return InputError("FILE_UNUSABLE", reason.lower(), path=path)


def describe(exc: BaseException) -> RatebookError:
    """A one-line error for ``exc``: itself if it is a ``RatebookError``, else a code for what
    failed under the command (``DISK_FULL``, ``DB_CONNECTION_LOST``, ``DB_CONTENTION``,
    ``STORE_ERROR``), for a file or folder that cannot be used (``FILE_EXISTS``,
    ``FILE_NOT_FOUND``, ``FILE_UNUSABLE``), or ``INTERNAL_ERROR`` for a fault of Ratebook
    itself."""
    if isinstance(exc, RatebookError):
        return exc
    if _disk_full(exc):
        return disk_full(exc)
    from sqlalchemy.exc import SQLAlchemyError

    text = _text(exc)
    codes = {getattr(e, "sqlstate", None) for e in _chain(exc)}
    if codes & {"40P01", "40001"}:
        return StoreError(
            "DB_CONTENTION",
            f"another writer held what this change needed, and the database ended it; {_KEPT}:"
            " run it again",
        )
    # 08: connection exceptions; 57P0x: the server shut down or ended the session
    if (
        any(s and s.startswith(("08", "57P0")) for s in codes)
        or "server closed the connection" in text
        or "connection is lost" in text
    ):
        return StoreError("DB_CONNECTION_LOST", f"the connection to the database was lost; {_KEPT}")
    if "readonly database" in text or "read-only transaction" in text:
        return StoreError("DB_READ_ONLY", f"the database is read-only here; {_KEPT}")
    if isinstance(exc, OSError) and exc.filename is not None:
        return _file_error(exc)
    if isinstance(exc, SQLAlchemyError) or any(
        type(e).__module__.startswith(("psycopg", "sqlite3")) for e in _chain(exc)
    ):
        reason = getattr(exc, "orig", None) or exc
        first = (
            str(reason).strip().splitlines()[0] if str(reason).strip() else type(reason).__name__
        )
        return StoreError("STORE_ERROR", f"the database failed ({first}); {_KEPT}")
    return RatebookError(
        "INTERNAL_ERROR",
        f"{type(exc).__name__}: {exc}. This is a fault of Ratebook, not of your data: please"
        " report it with the command you ran",
    )


def disk_full(exc: BaseException) -> StoreError:
    """``DISK_FULL``, naming where space ran out: the temporary folder (spilled charges), the
    SQLite store's disk, or the PostgreSQL server's."""
    text = _text(exc)
    spill = tempfile.gettempdir()
    if "parquet" in text or spill.lower() in text or "ratebook-" in text:
        where = f"the temporary folder {spill}: free space there or set TMPDIR to a larger disk"
    elif any(getattr(e, "sqlstate", None) == "53100" for e in _chain(exc)):
        where = "the PostgreSQL server's disk: free space on the server"
    else:
        where = "the disk of the store: free space there, or move the store to a larger disk"
    return StoreError("DISK_FULL", f"no space left on {where}; {_KEPT}")
