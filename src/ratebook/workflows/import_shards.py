"""Import one file with several workers (``ratebook ingest --workers N``).

The coordinator reads the file once for what names each row's customer and splits its rows
into N shards (``intake.shards``). Each shard is imported as a batch of its own, keyed in the
manifest by the file's digest and the shard, and its records keep the file's digest and
their lines for lineage.

On PostgreSQL, N worker processes each claim a shard from the store's queue (``FOR UPDATE
SKIP LOCKED``) in the transaction that imports it: a shard is imported once, and one whose
worker died is back in the queue. SQLite has one writer at a time, so there the shards are
imported one after another in this process; the ledger is the same either way.

A FreeSWITCH file read for its A legs only is imported whole: a B leg is told by the A leg
beside it, which another shard may hold.

Run again, the import skips the shards already imported: a run that stopped half-way is
finished by running it again with the same N. With another N, what was stored is found as
duplicates, and the ledger is still the same.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine

from ratebook.intake.shards import Shard, assign, keyed
from ratebook.intake.tally import ImportProgress, ImportSummary, Tally
from ratebook.settings import Settings
from ratebook.sources.cdr_profiles import layout_json
from ratebook.sources.csvread import CsvRows
from ratebook.sources.formats import FeedFormat, FreeSwitchFormat
from ratebook.store import usage, work_queue
from ratebook.store.engine import open_store
from ratebook.store.entities import get_entity
from ratebook.store.reference import ReferenceCache
from ratebook.workflows.import_feed import (
    ImportFile,
    as_utf8,
    import_claimed,
    import_feed,
    import_once,
    read_format,
)
from ratebook.workflows.workers import run_workers


@dataclass(frozen=True, slots=True, kw_only=True)
class _Job:
    """What a worker needs to import shards of the file: the store, the file, and the run."""

    url: str
    # the file, less its format (not picklable), which the worker makes again from its
    # name, template and profile (``reading``)
    file: dict[str, Any]
    reading: tuple[str, str | None, str | None]
    assignment: Path
    count: int
    entity_code: str | None
    settings: Settings
    run_id: str


def import_in_shards(
    engine: Engine,
    path: Path,
    *,
    workers: int,
    format_name: str = "generic",
    entity_code: str | None = None,
    origin: str | None = None,
    feed_zone: str | None = None,
    settings: Settings | None = None,
    source_name: str | None = None,
    template: str | None = None,
    profile: str | None = None,
    progress: ImportProgress | None = None,
    references: ReferenceCache | None = None,
) -> ImportSummary:
    """Import ``path`` as ``workers`` shards (arguments as ``import_feed``'s); what they did
    together, the shards imported by an earlier run included. ``progress`` is told of the
    file read for the split, then of the shards done. With one worker, or a file that cannot
    be split, it is ``import_feed`` (which alone uses ``references``)."""
    settings = settings or Settings()
    layout, fmt = (None, None) if workers == 1 else read_format(format_name, template, profile)
    # a B leg is told by the A leg beside it in the file, which a shard may not hold
    if fmt is None or (isinstance(fmt, FreeSwitchFormat) and fmt.legs == "a"):
        return import_feed(
            engine,
            path,
            format_name=format_name,
            entity_code=entity_code,
            origin=origin,
            feed_zone=feed_zone,
            settings=settings,
            progress=progress,
            source_name=source_name,
            references=references,
            template=template,
            profile=profile,
        )
    started = time.perf_counter()
    name = source_name or str(path)
    with as_utf8(path, None if layout is None else layout.encoding) as (text, facts):
        file = ImportFile(
            path=text,
            facts=facts,
            fmt=fmt,
            name=name,
            origin=origin,
            zone=feed_zone or (None if layout is None else layout.zone),
            layout=None if layout is None else layout_json(layout),
        )
        with engine.connect() as conn:
            entity = get_entity(conn, entity_code)
            whole = usage.find_batch_by_sha(conn, entity.id, facts.sha256)
        if whole is not None:  # imported as one file
            return _earlier(name, whole, entity.currency, entity.charge_places)
        assignment = _assignment(file, fmt, settings, workers, progress)
        shards = [Shard(i, workers, assignment) for i in range(workers)]
        with engine.connect() as conn:
            earlier = {
                s.index: batch
                for s in shards
                if (batch := usage.find_batch_by_sha(conn, entity.id, s.sha256(facts.sha256)))
                is not None
            }
        todo = [s for s in shards if s.index not in earlier]
        done = [_earlier(name, b, entity.currency, entity.charge_places) for b in earlier.values()]
        tell = progress.place if progress is not None else (lambda done, total: None)
        tell(len(done), workers)
        if engine.dialect.name == "postgresql" and len(todo) > 1:
            done += _in_workers(
                engine,
                file,
                (format_name, template, profile),
                assignment,
                todo,
                entity.id,
                entity_code,
                settings,
            )
        else:
            for shard in todo:
                done.append(_stored(engine, replace(file, shard=shard), entity_code, settings))
                tell(len(done), workers)
    total = Tally()
    for part in done:
        total += part.tally
    return ImportSummary(
        path=name,
        batch_id=max(part.batch_id for part in done),
        already_imported=not todo,
        tally=total,
        currency=entity.currency,
        charge_places=entity.charge_places,
        notes=tuple(dict.fromkeys(n for part in done for n in part.notes)),
        seconds=time.perf_counter() - started,
    )


def _stored(
    engine: Engine, file: ImportFile, entity_code: str | None, settings: Settings
) -> ImportSummary:
    """One shard imported in this process."""
    assert file.shard is not None
    return usage.storing(
        lambda: import_once(engine, file, entity_code=entity_code, settings=settings),
        what=f"{file.name} (shard {file.shard.label})",
    )


def _earlier(name: str, batch: usage.Batch, currency: str, places: int) -> ImportSummary:
    return ImportSummary(
        path=name,
        batch_id=batch.id,
        already_imported=True,
        tally=Tally(
            read=batch.rows_read,
            rated=batch.rated,
            duplicates=batch.duplicates,
            exceptions=batch.exceptions,
        ),
        currency=currency,
        charge_places=places,
    )


def _assignment(
    file: ImportFile,
    fmt: FeedFormat,
    settings: Settings,
    count: int,
    progress: ImportProgress | None,
) -> pl.Series:
    """Every well-read row's shard: the file read once, each chunk shaped by its format."""
    parts = []
    with CsvRows(
        file.path, file.facts, chunk_rows=settings.chunk_rows, skip_header=fmt.has_header
    ) as source:
        columns = fmt.bind_header(source.header, file.path)
        for chunk in source.chunks(width=len(columns)):
            shaped, _ = fmt.to_frame(chunk, columns, settings.max_field_chars)
            parts.append(keyed(shaped, count))
            if progress is not None:
                progress.read(chunk.bytes_read, file.facts.size)
    return assign(pl.concat(parts) if parts else pl.DataFrame())


def _in_workers(
    engine: Engine,
    file: ImportFile,
    reading: tuple[str, str | None, str | None],
    assignment: pl.Series,
    todo: list[Shard],
    entity_id: int,
    entity_code: str | None,
    settings: Settings,
) -> list[ImportSummary]:
    """The ``todo`` shards, imported by as many worker processes."""
    run_id = work_queue.new_run()
    with engine.begin() as conn:
        work_queue.enqueue(conn, entity_id, run_id, [s.index for s in todo])
    with tempfile.TemporaryDirectory(prefix="ratebook-shards-") as folder:
        saved = Path(folder) / "assignment.arrow"
        assignment.to_frame().write_ipc(saved)
        job = _Job(
            url=engine.url.render_as_string(hide_password=False),
            file={
                "path": file.path,
                "facts": file.facts,
                "name": file.name,
                "origin": file.origin,
                "zone": file.zone,
                "layout": file.layout,
            },
            reading=reading,
            assignment=saved,
            count=todo[0].count,
            entity_code=entity_code,
            settings=settings,
            run_id=run_id,
        )
        try:
            parts = run_workers(len(todo), import_shards_part, (job,))
        finally:
            with engine.begin() as conn:
                work_queue.drop(conn, run_id)
    return [summary for part in parts for summary in part]


def import_shards_part(job: _Job) -> list[ImportSummary]:
    """One worker of a parallel import: claim a shard of the run and import it, a shard a
    transaction, until none is left; what each import did."""
    engine = open_store(job.url)
    assignment = pl.read_ipc(job.assignment).to_series()
    file = ImportFile(**job.file, fmt=read_format(*job.reading)[1])
    done: list[ImportSummary] = []

    def claim(conn: Connection) -> ImportFile | None:
        claimed = work_queue.claim(conn, job.run_id, 1)
        if not claimed:
            return None
        return replace(file, shard=Shard(claimed[0], job.count, assignment))

    try:
        while True:
            summary = usage.storing(
                lambda: import_claimed(
                    engine, claim, entity_code=job.entity_code, settings=job.settings
                ),
                what=f"{file.name} (a shard)",
            )
            if summary is None:
                return done
            done.append(summary)
    finally:
        engine.dispose()
