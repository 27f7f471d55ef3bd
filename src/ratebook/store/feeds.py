"""The feed manifest (one row per remote file a feed has seen) and the log of feed runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, insert, select, update

from ratebook.store.tables import feed_files, feed_runs


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestEntry:
    """What the manifest knows of one remote file.

    Attributes:
        state: ``seen`` (listed, not yet taken), ``imported`` (committed, not yet moved or
            deleted), ``done``, ``refused`` (unsafe name) or ``failed`` (could not be imported).
    """

    id: int
    size: int
    mtime: datetime | None
    etag: str | None
    state: str
    sha256: str | None
    batch_id: int | None


def entry(conn: Connection, entity_id: int, feed: str, name: str) -> ManifestEntry | None:
    """The manifest row of a file, or None."""
    c = feed_files.c
    row = conn.execute(
        select(c.id, c.size, c.mtime, c.etag, c.state, c.sha256, c.batch_id).where(
            c.entity_id == entity_id, c.feed == feed, c.name == name
        )
    ).first()
    if row is None:
        return None
    return ManifestEntry(
        id=row.id,
        size=row.size,
        mtime=row.mtime,
        etag=row.etag,
        state=row.state,
        sha256=row.sha256,
        batch_id=row.batch_id,
    )


def observe(
    conn: Connection,
    entity_id: int,
    feed: str,
    name: str,
    *,
    size: int,
    mtime: datetime | None,
    etag: str | None,
    now: datetime,
) -> None:
    """Record a new observation of a file: its row is (re)set to ``seen`` with what was listed."""
    c = feed_files.c
    found = entry(conn, entity_id, feed, name)
    values = {
        "size": size,
        "mtime": mtime,
        "etag": etag,
        "state": "seen",
        "detail": None,
        "updated_at": now,
    }
    if found is None:
        conn.execute(
            insert(feed_files).values(
                entity_id=entity_id, feed=feed, name=name, first_seen_at=now, **values
            )
        )
    else:
        conn.execute(
            update(feed_files).where(c.id == found.id).values(sha256=None, batch_id=None, **values)
        )


def mark(
    conn: Connection,
    entity_id: int,
    feed: str,
    name: str,
    *,
    state: str,
    now: datetime,
    sha256: str | None = None,
    batch_id: int | None = None,
    detail: str | None = None,
) -> None:
    """Move a file's row to ``state`` (keeping its digest and batch once known)."""
    c = feed_files.c
    values: dict[str, object] = {"state": state, "updated_at": now, "detail": detail}
    if sha256 is not None:
        values["sha256"] = sha256
    if batch_id is not None:
        values["batch_id"] = batch_id
    conn.execute(
        update(feed_files)
        .where(c.entity_id == entity_id, c.feed == feed, c.name == name)
        .values(**values)
    )


def add_run(
    conn: Connection,
    entity_id: int,
    feed: str,
    *,
    started_at: datetime,
    finished_at: datetime,
    status: str,
    files_seen: int,
    files_imported: int,
    error: str | None,
) -> None:
    """Append a run to the feed's log."""
    conn.execute(
        insert(feed_runs).values(
            entity_id=entity_id,
            feed=feed,
            started_at=started_at,
            finished_at=finished_at,
            status=status,
            files_seen=files_seen,
            files_imported=files_imported,
            error=error,
        )
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class RunHistory:
    """A feed's recent history.

    Attributes:
        last_started: when the last run started, or None.
        last_status: ``ok`` or ``failed``.
        last_error: the last run's error message.
        failures_in_a_row: consecutive failed runs up to the last one.
        last_finished: when the last run finished.
        files_imported: over all runs.
    """

    last_started: datetime | None
    last_finished: datetime | None
    last_status: str | None
    last_error: str | None
    failures_in_a_row: int
    files_imported: int


def history(conn: Connection, entity_id: int, feed: str) -> RunHistory:
    """The run history of one feed."""
    c = feed_runs.c
    recent = conn.execute(
        select(c.started_at, c.finished_at, c.status, c.error)
        .where(c.entity_id == entity_id, c.feed == feed)
        .order_by(c.started_at.desc(), c.id.desc())
        .limit(50)
    ).all()
    total = conn.execute(
        select(func.coalesce(func.sum(c.files_imported), 0)).where(
            c.entity_id == entity_id, c.feed == feed
        )
    ).scalar_one()
    failures = 0
    for run in recent:
        if run.status != "failed":
            break
        failures += 1
    last = recent[0] if recent else None
    return RunHistory(
        last_started=last.started_at if last else None,
        last_finished=last.finished_at if last else None,
        last_status=last.status if last else None,
        last_error=last.error if last else None,
        failures_in_a_row=failures,
        files_imported=int(total),
    )
