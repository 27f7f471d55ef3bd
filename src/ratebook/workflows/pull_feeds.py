"""Pull a feed once: list its files, take the new and settled ones, import each exactly once,
then leave, move or delete it.

Exactly once rests on the import's own guarantee: a file is known by its SHA-256, committed
with its batch. A file is streamed to a temporary path, its size checked against the listing,
then imported; only after that commit is it moved or deleted. A crash at any point is followed
by a re-run that downloads the file again, finds its digest already imported, and finishes the
move or delete. The same content under another name or in another feed is recognised the same
way. A file the listing shows with another size or time than last run is still being written and
waits; so does one modified less than ``min_age_seconds`` ago.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from sqlalchemy import Engine

from ratebook.errors import InputError, RatebookError
from ratebook.intake.tally import ImportSummary
from ratebook.settings import Settings
from ratebook.sources.feeds_config import FolderFeed, S3Feed, SftpFeed
from ratebook.sources.remote import (
    FeedError,
    RemoteFile,
    RemoteStore,
    connect,
    matches,
    unsafe_name,
)
from ratebook.store import feeds as manifest
from ratebook.store import scratch, usage
from ratebook.store.entities import get_entity
from ratebook.store.feed_lock import running_feed
from ratebook.store.reference import ReferenceCache
from ratebook.workflows.import_feed import import_feed

log = logging.getLogger(__name__)

AnyFeed = FolderFeed | SftpFeed | S3Feed


@dataclass(slots=True, kw_only=True)
class PullResult:
    """One run of one feed.

    Attributes:
        status: ``ok``, ``failed`` (the feed could not be reached or a transfer broke) or
            ``busy`` (another thread, process or server was running the feed: this run did
            nothing and is not logged).
        imported: files imported by this run (already-known content included, flagged).
        waiting: ``(name, why)`` of files left for a later run.
        refused: ``(name, why)`` of names refused as unsafe.
        rejected: ``(name, message)`` of files that cannot be imported as they are.
    """

    feed: str
    status: str = "ok"
    files_seen: int = 0
    imported: list[ImportSummary] = field(default_factory=list)
    waiting: list[tuple[str, str]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None


def _same(known: manifest.ManifestEntry, file: RemoteFile) -> bool:
    return (known.size, known.mtime, known.etag) == (file.size, file.mtime, file.etag)


def pull_feed(
    engine: Engine,
    feed: AnyFeed,
    *,
    settings: Settings,
    now: datetime,
    opener: Callable[[AnyFeed], RemoteStore] = connect,
    references: ReferenceCache | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PullResult:
    """Run ``feed`` once at ``now`` and record the run; never raises for feed problems.
    A feed that another thread, process or server is running is left to it (``busy``).
    ``references`` keeps reference data between imports (``import_feed``);
    ``progress(done, total)`` is told of the files considered."""
    result = PullResult(feed=feed.name)
    with engine.connect() as conn:
        entity = get_entity(conn, feed.entity)
    with running_feed(engine, entity.id, feed.name) as held:
        if not held:
            result.status = "busy"
            result.error = "another process is running this feed; it is left to that run"
            log.info("feed %s: %s", feed.name, result.error)
            return result
        _run(engine, feed, entity.id, settings, now, opener, references, result, progress)
    return result


def _run(
    engine: Engine,
    feed: AnyFeed,
    entity_id: int,
    settings: Settings,
    now: datetime,
    opener: Callable[[AnyFeed], RemoteStore],
    references: ReferenceCache | None,
    result: PullResult,
    progress: Callable[[int, int], None] | None,
) -> None:
    """The run itself, holding the feed: take its files, then log the run."""
    store: RemoteStore | None = None
    try:
        store = opener(feed)
        with tempfile.TemporaryDirectory(prefix="pull-", dir=scratch.folder()) as staging:
            files = sorted(store.files(), key=lambda f: f.name)
            for done, file in enumerate(files):
                if progress is not None:
                    progress(done, len(files))
                _consider(
                    engine,
                    feed,
                    store,
                    file,
                    entity_id,
                    Path(staging),
                    settings,
                    now,
                    result,
                    references=references,
                )
            if progress is not None:
                progress(len(files), len(files))
    except FeedError as error:
        result.status = "failed"
        result.error = error.render()
        log.warning("feed %s failed: %s", feed.name, result.error)
    finally:
        if store is not None:
            store.close()
    with engine.begin() as conn:
        manifest.add_run(
            conn,
            entity_id,
            feed.name,
            started_at=now,
            finished_at=now,
            status=result.status,
            files_seen=result.files_seen,
            files_imported=sum(1 for s in result.imported if not s.already_imported),
            error=result.error,
        )


def _consider(
    engine: Engine,
    feed: AnyFeed,
    store: RemoteStore,
    file: RemoteFile,
    entity_id: int,
    staging: Path,
    settings: Settings,
    now: datetime,
    result: PullResult,
    *,
    references: ReferenceCache | None,
) -> None:
    """Decide what to do with one remote file: wait, refuse, import or skip it.

    One function: each state a remote file can be in is decided in one place."""
    why = unsafe_name(file.name)
    if why is not None:
        log.warning("feed %s: refused remote name %r: %s", feed.name, file.name, why)
        result.refused.append((file.name, why))
        return
    if not matches(file.name, feed.pattern):
        return
    result.files_seen += 1
    with engine.begin() as conn:
        known = manifest.entry(conn, entity_id, feed.name, file.name)
        changed = known is None or not _same(known, file)
        if changed:
            manifest.observe(
                conn,
                entity_id,
                feed.name,
                file.name,
                size=file.size,
                mtime=file.mtime,
                etag=file.etag,
                now=now,
            )
    if changed and known is not None and known.state == "seen":
        result.waiting.append((file.name, "still changing since the last run"))
        return
    # a changed file is a new delivery, even under a name already done
    state = "seen" if changed or known is None else known.state
    if state == "done":
        return
    if state == "failed":
        result.rejected.append((file.name, "rejected earlier; deliver a corrected file"))
        return
    if state == "seen":
        if file.mtime is not None and now - file.mtime < timedelta(seconds=feed.min_age_seconds):
            result.waiting.append((file.name, f"modified less than {feed.min_age_seconds}s ago"))
            return
        summary = _take(
            engine,
            feed,
            store,
            file,
            entity_id,
            staging,
            settings,
            now,
            result,
            references=references,
        )
        if summary is None:
            return
        result.imported.append(summary)
    # state "imported": committed earlier, but the move or delete did not happen yet
    _finish(engine, feed, store, file, entity_id, now)


def _take(
    engine: Engine,
    feed: AnyFeed,
    store: RemoteStore,
    file: RemoteFile,
    entity_id: int,
    staging: Path,
    settings: Settings,
    now: datetime,
    result: PullResult,
    *,
    references: ReferenceCache | None,
) -> ImportSummary | None:
    local = staging / "download"
    try:
        with local.open("wb") as out:
            store.download(file, out)
        got = local.stat().st_size
        if got != file.size:
            raise FeedError(
                "TRANSFER_FAILED", f"{store.describe(file.name)}: got {got} of {file.size} bytes"
            )
        try:
            summary = import_feed(
                engine,
                local,
                format_name=feed.format,
                template=feed.template,
                profile=feed.profile,
                entity_code=feed.entity,
                origin=feed.record_origin,
                feed_zone=feed.timezone,
                settings=settings,
                source_name=store.describe(file.name),
                references=references,
            )
        except InputError as error:
            message = error.render().replace(str(local), store.describe(file.name))
            with engine.begin() as conn:
                manifest.mark(
                    conn, entity_id, feed.name, file.name, state="failed", now=now, detail=message
                )
            result.rejected.append((file.name, message))
            return None
    finally:
        local.unlink(missing_ok=True)
    with engine.begin() as conn:
        batch_sha = usage.batch_sha256(conn, summary.batch_id)
        manifest.mark(
            conn,
            entity_id,
            feed.name,
            file.name,
            state="imported",
            now=now,
            sha256=batch_sha,
            batch_id=summary.batch_id,
        )
    return summary


def _finish(
    engine: Engine,
    feed: AnyFeed,
    store: RemoteStore,
    file: RemoteFile,
    entity_id: int,
    now: datetime,
) -> None:
    if feed.after_import == "move":
        store.archive(file, feed.archive_path or "")  # validated: move has a path
    elif feed.after_import == "delete":
        store.delete(file)
    with engine.begin() as conn:
        manifest.mark(conn, entity_id, feed.name, file.name, state="done", now=now)


def pull_all(
    engine: Engine,
    feeds: list[AnyFeed],
    *,
    settings: Settings,
    now: datetime,
    opener: Callable[[AnyFeed], RemoteStore] = connect,
    references: ReferenceCache | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[PullResult]:
    """Run every feed once; a failing feed does not stop the others. ``progress(feed, done,
    total)`` is told of each feed's files considered."""
    results: list[PullResult] = []
    for feed in feeds:
        told = None if progress is None else partial(progress, feed.name)
        try:
            results.append(
                pull_feed(
                    engine,
                    feed,
                    settings=settings,
                    now=now,
                    opener=opener,
                    references=references,
                    progress=told,
                )
            )
        except RatebookError as error:  # e.g. the feed names an entity that does not exist
            results.append(PullResult(feed=feed.name, status="failed", error=error.render()))
    return results
