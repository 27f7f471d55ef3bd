"""One run of a feed at a time, across threads, processes and servers sharing a store.

Two servers (or ``serve`` and a ``ratebook pull`` from cron) running the same feed at once
would list, download, import and move the same files side by side: the import itself stays
exactly once, but the loser's manifest writes, downloads and moves fail on what the winner
did, and its run is logged as failed. ``running_feed`` lets one of them run the feed and
tells the others it is taken, so they leave it for their next round.

The lock is held by something that ends with its holder, so a crashed run never leaves a
feed locked:

- **PostgreSQL**: a session advisory lock on a connection kept for the run (any role may
  take one). Its 64-bit key is a digest of the schema, entity and feed name, in the one-key
  space, apart from the two-key locks of cycle close and reference writers.
- **SQLite** (one machine): ``flock`` on a file per feed in ``<database>.locks/``; an
  in-memory database is one process's, so a lock in that process is enough.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from ratebook.errors import StoreError

log = logging.getLogger(__name__)

_LOCAL: dict[tuple[int, str], threading.Lock] = {}
_LOCAL_GUARD = threading.Lock()


def _key(entity_id: int, feed: str, schema: str = "") -> bytes:
    return hashlib.blake2b(f"{schema}\0{entity_id}\0{feed}".encode(), digest_size=8).digest()


def advisory_key(entity_id: int, feed: str, schema: str) -> int:
    """The PostgreSQL advisory lock key of a feed of an entity in a schema."""
    return int.from_bytes(_key(entity_id, feed, schema), "big", signed=True)


@contextmanager
def running_feed(engine: Engine, entity_id: int, feed: str) -> Iterator[bool]:
    """Hold the right to run ``feed`` for the block: True when this caller holds it, False
    when another thread, process or server is running the feed (nothing is held then).

    Raises:
        StoreError: ``LOCK_UNAVAILABLE`` when a SQLite database's folder is not writable.
    """
    if engine.dialect.name == "postgresql":
        with _postgres_lock(engine, entity_id, feed) as held:
            yield held
        return
    database = engine.url.database
    if not database or database == ":memory:" or "mode=memory" in database:
        with _local_lock(engine, _key(entity_id, feed).hex()) as held:
            yield held
        return
    with _file_lock(Path(database), _key(entity_id, feed).hex()) as held:
        yield held


@contextmanager
def _postgres_lock(engine: Engine, entity_id: int, feed: str) -> Iterator[bool]:
    with engine.connect() as conn:
        # advisory locks are the database's: the schema keeps two deployments in one apart
        schema = str(conn.execute(text("SELECT current_schema()")).scalar_one())
        key = advisory_key(entity_id, feed, schema)
        held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one())
        conn.commit()  # idle while the run works on its own connections, not in a transaction
        try:
            yield held
        finally:
            if held:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
                except SQLAlchemyError:
                    # the session is gone, and its lock with it; keep the run's own outcome
                    log.warning("feed lock connection lost before its unlock", exc_info=True)
                    conn.invalidate()


@contextmanager
def _file_lock(database: Path, name: str) -> Iterator[bool]:
    folder = database.with_name(database.name + ".locks")
    try:
        folder.mkdir(exist_ok=True)
        fd = os.open(folder / f"feed-{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(
            "LOCK_UNAVAILABLE",
            f"cannot create the feed lock in {folder}: {exc.strerror or exc}; the folder of"
            " the database must be writable to run feeds",
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def _local_lock(engine: Engine, name: str) -> Iterator[bool]:
    with _LOCAL_GUARD:
        lock = _LOCAL.setdefault((id(engine), name), threading.Lock())
    if not lock.acquire(blocking=False):
        yield False
        return
    try:
        yield True
    finally:
        lock.release()
