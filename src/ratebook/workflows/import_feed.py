"""Import a usage file: read, normalise, validate, dedupe, match, rate, post — one transaction.

Every data row ends as exactly one of: a rated record, a counted duplicate, or an exception
with a reason; the import checks ``read == rated + duplicates + exceptions`` before it
commits. A file already imported (same SHA-256 for the entity) changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from sqlalchemy import Connection, Engine

from ratebook.errors import InputError
from ratebook.model.parties import Entity
from ratebook.pipeline.dedupe import dedupe
from ratebook.pipeline.normalise import normalise
from ratebook.pipeline.numbers import number_plan
from ratebook.pipeline.price import Reference
from ratebook.pipeline.validate import validate
from ratebook.settings import Settings
from ratebook.sources.csvread import CsvRows, FileFacts, RawChunk, inspect_file
from ratebook.sources.dates import is_zone
from ratebook.sources.formats import FeedFormat, get_format
from ratebook.store import audit, billing, usage
from ratebook.store.bulk import insert_frame
from ratebook.store.engine import import_cache
from ratebook.store.entities import get_entity
from ratebook.store.reference import ReferenceCache, load_reference
from ratebook.store.tables import exceptions
from ratebook.workflows.book_charges import Assessed, Ledger, assess
from ratebook.workflows.cycle_usage import CycleUsage
from ratebook.workflows.deferred_charges import DeferredCharges

log = logging.getLogger(__name__)

#: progress callback: (done so far, total)
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportProgress:
    """What a long import reports as it goes.

    Attributes:
        read: ``(bytes read, file size)``, after each chunk.
        place: ``(partitions placed, partitions held)``, after each partition of the held
            charges is placed in its cycles and booked (the part after the last chunk).
    """

    read: Progress
    place: Progress


@dataclass(slots=True, kw_only=True)
class ImportSummary:
    """What an import did.

    Attributes:
        path: the file as named.
        batch_id: the manifest entry (the earlier one when ``already_imported``).
        already_imported: the file's digest was already in the manifest; nothing changed.
        rows_read: data rows (blank lines and the header are not rows).
        rated: rows that became rated records (zero-charge ones included).
        duplicates: exact repeats of a known record.
        exceptions: rows in the exception queue, by code in ``by_code``.
        charge: total of the rated charges, AMOUNT_SCALE.
        rerated: earlier charges re-rated because a record of this file came before them in a
            cycle with tiers.
        rerated_change: what those re-ratings changed in total, AMOUNT_SCALE.
        currency: the entity's currency.
        charge_places: the entity's charge places, for showing ``charge``.
        notes: what the import took in a way the user may not expect (a header cell with
            blanks around its name), for the user to read.
    """

    path: str
    batch_id: int
    already_imported: bool = False
    rows_read: int = 0
    rated: int = 0
    duplicates: int = 0
    exceptions: int = 0
    charge: int = 0
    rerated: int = 0
    rerated_change: int = 0
    currency: str = ""
    charge_places: int = 4
    by_code: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0  # float-ok: elapsed time, not money


def import_feed(
    engine: Engine,
    path: Path,
    *,
    format_name: str,
    entity_code: str | None = None,
    origin: str | None = None,
    feed_zone: str | None = None,
    settings: Settings | None = None,
    progress: ImportProgress | None = None,
    source_name: str | None = None,
    references: ReferenceCache | None = None,
) -> ImportSummary:
    """Import one file in one transaction.

    Args:
        engine: the store.
        path: the file.
        format_name: a key of ``sources.formats.FORMATS``.
        entity_code: the entity; None for the only one.
        origin: the feed's name, part of each record's identity; defaults to the format name.
        feed_zone: IANA zone of times without an offset; defaults to the entity's zone.
        settings: chunk size and field limits.
        progress: told of the chunks read and the charges placed.
        source_name: the file's name in lineage and messages (default: ``path``), e.g. the
            remote URL of a file pulled to a temporary path.
        references: where a long-running process (the API server, its feed scheduler) keeps
            each entity's reference data between imports; without it, it is loaded. Loading a
            100,000-row deck and 20,000 customers takes about half a second, most of a small
            file's import.

    Another writer may store the same file, or records with the same ids, while this import
    runs (PostgreSQL, where writers run side by side): the import then runs again and finds
    them, as a file already imported or as duplicates, instead of failing on a unique key.

    Raises:
        InputError: the file cannot be imported at all (missing, empty, bad header, ...).
    """
    settings = settings or Settings()
    fmt = get_format(format_name)
    facts = inspect_file(path)
    started = time.perf_counter()
    name = source_name or str(path)
    # another writer may store this file, or records with the same ids, while this import
    # runs: a new try finds them, as a file already imported or duplicates
    summary = usage.storing(
        lambda: _import_once(
            engine,
            path,
            facts,
            fmt,
            name,
            entity_code=entity_code,
            origin=origin,
            feed_zone=feed_zone,
            settings=settings,
            progress=progress,
            references=references,
        ),
        what=name,
    )
    if summary.already_imported:
        return summary
    summary.seconds = time.perf_counter() - started
    log.info(
        "imported %s: read=%d rated=%d duplicates=%d exceptions=%d in %.2fs",
        name,
        summary.rows_read,
        summary.rated,
        summary.duplicates,
        summary.exceptions,
        summary.seconds,
    )
    return summary


def _import_once(
    engine: Engine,
    path: Path,
    facts: FileFacts,
    fmt: FeedFormat,
    name: str,
    *,
    entity_code: str | None,
    origin: str | None,
    feed_zone: str | None,
    settings: Settings,
    progress: ImportProgress | None,
    references: ReferenceCache | None,
) -> ImportSummary:
    """``import_feed``'s one transaction."""
    with engine.begin() as conn, import_cache(conn), ExitStack() as stack:
        entity = get_entity(conn, entity_code)
        billing.lock_entity(conn, entity.id, shared=True)
        zone = feed_zone or entity.timezone
        _check_zone(zone)
        source_origin = origin or fmt.name
        earlier = usage.find_batch_by_sha(conn, entity.id, facts.sha256)
        if earlier is not None:
            return ImportSummary(
                path=name,
                batch_id=earlier.id,
                already_imported=True,
                rows_read=earlier.rows_read,
                rated=earlier.rated,
                duplicates=earlier.duplicates,
                exceptions=earlier.exceptions,
                currency=entity.currency,
                charge_places=entity.charge_places,
            )
        with CsvRows(
            path, facts, chunk_rows=settings.chunk_rows, skip_header=fmt.has_header
        ) as source:
            columns = fmt.bind_header(source.header, path)
            batch_id = usage.start_batch(
                conn,
                entity_id=entity.id,
                origin=source_origin,
                fmt=fmt.name,
                source_name=name,
                source_sha256=facts.sha256,
                size_bytes=facts.size,
                columns=columns,
                feed_zone=zone,
            )
            reference = (
                references.load(conn, entity.id)
                if references is not None
                else load_reference(conn, entity.id)
            )
            summary = ImportSummary(
                path=name,
                batch_id=batch_id,
                currency=entity.currency,
                charge_places=entity.charge_places,
                notes=_header_notes(source.header),
            )
            cycle = CycleUsage(conn, entity_id=entity.id, rows=reference.rows)
            ledger = Ledger(cycle)
            deferred: DeferredCharges | None = None
            for chunk in source.chunks(width=len(columns)):
                if deferred is None:
                    # partitions of about a chunk each, from the first chunk's bytes per row
                    deferred = stack.enter_context(
                        DeferredCharges(
                            expected_rows=chunk.height * facts.size // max(1, chunk.bytes_read),
                            partition_rows=settings.chunk_rows,
                        )
                    )
                import_chunk(
                    conn,
                    chunk,
                    fmt=fmt,
                    columns=columns,
                    entity=entity,
                    zone=zone,
                    origin=source_origin,
                    batch_id=batch_id,
                    source_sha256=facts.sha256,
                    reference=reference,
                    cycle=cycle,
                    ledger=ledger,
                    settings=settings,
                    summary=summary,
                    deferred=deferred,
                )
                if progress is not None:
                    progress.read(chunk.bytes_read, facts.size)
            if deferred is not None:
                summary.charge, summary.rerated, summary.rerated_change = deferred.settle(
                    conn,
                    cycle=cycle,
                    ledger=ledger,
                    entity_id=entity.id,
                    batch_id=batch_id,
                    progress=None if progress is None else progress.place,
                )
        ledger.post(
            conn, entity_id=entity.id, batch_id=batch_id, source=name, now=datetime.now(UTC)
        )
        cycle.save()
        accounted = summary.rated + summary.duplicates + summary.exceptions
        if accounted != summary.rows_read:
            raise RuntimeError(
                f"row identity broken for {path}: read {summary.rows_read}, accounted {accounted}"
            )
        usage.finish_batch(
            conn,
            batch_id,
            rows_read=summary.rows_read,
            rated=summary.rated,
            duplicates=summary.duplicates,
            exceptions_count=summary.exceptions,
        )
        audit.record(
            conn,
            entity_id=entity.id,
            action="import",
            object_type="batch",
            object_id=batch_id,
            after={
                "source": name,
                "sha256": facts.sha256,
                "format": fmt.name,
                "origin": source_origin,
                "read": summary.rows_read,
                "rated": summary.rated,
                "duplicates": summary.duplicates,
                "exceptions": summary.exceptions,
                "charge": summary.charge,
                "rerated": summary.rerated,
                "batch": batch_id,
                "sealed": ledger.seal.summary(),
            },
        )
    return summary


def _header_notes(header: list[str] | None) -> list[str]:
    """What the header says that the import read otherwise than written."""
    padded = [cell for cell in header or [] if cell != cell.strip()]
    if not padded:
        return []
    shown = ", ".join(repr(cell) for cell in padded[:5])
    return [f"header: blanks around {shown} were ignored (read as the names without them)"]


def _check_zone(zone: str) -> None:
    if not is_zone(zone):
        raise InputError("UNKNOWN_TIME_ZONE", f"{zone!r} is not an IANA time zone", path="--tz")


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadChunk:
    """What one chunk's rows are, before anything is stored (``read_chunk``).

    Attributes:
        records: the canonical records of the rows that are valid.
        new: the records not known before (with ``origin``), matched, rated and placed in
            ``assessed``.
        duplicates: ``row_idx`` and ``record_id`` of exact repeats (of the store or of an
            earlier row of the chunk).
        conflicts: ``ID_CONFLICT`` rejections.
        unparsed: rejections of rows that are not records (shape and validation), with the
            ``record_id`` each names where that column could be read.
        assessed: ``new`` matched, rated and placed, and its rejections.
    """

    records: pl.DataFrame
    new: pl.DataFrame
    duplicates: pl.DataFrame
    conflicts: pl.DataFrame
    unparsed: pl.DataFrame
    assessed: Assessed


def read_chunk(
    conn: Connection,
    chunk: RawChunk,
    *,
    fmt: FeedFormat,
    columns: list[str],
    entity: Entity,
    zone: str,
    origin: str,
    reference: Reference,
    cycle: CycleUsage,
    settings: Settings,
    place: bool = True,
) -> ReadChunk:
    """Every stage of a chunk up to what it would store, writing nothing: shape, normalise,
    validate, dedupe against the store, match, rate and place. An import stores what this
    gives (``import_chunk``); a quote answers with it."""
    raw, shape_rejects = fmt.to_frame(chunk, columns, settings.max_field_chars)
    normal = normalise(
        raw, time_layout=fmt.time_layout, feed_zone=zone, plan=number_plan(entity.region)
    )
    records, invalid = validate(normal, entity_zone=entity.timezone)
    known = usage.known_versions(conn, entity.id, origin, records["record_id"].unique().to_list())
    new, duplicates, conflicts = dedupe(records, known)
    new = new.with_columns(pl.lit(origin).alias("origin"))
    assessed = assess(
        new,
        reference=reference,
        cycle=cycle,
        zone=entity.timezone,
        late_usage=entity.late_usage,
        place=place,
    )
    return ReadChunk(
        records=records,
        new=new,
        duplicates=duplicates,
        conflicts=conflicts,
        # an unreadable row still names its record id when that column could be read
        unparsed=pl.concat([shape_rejects, invalid]).join(
            raw.select("row_idx", pl.col("record_id").str.slice(0, 255)), on="row_idx", how="left"
        ),
        assessed=assessed,
    )


def import_chunk(
    conn: Connection,
    chunk: RawChunk,
    *,
    fmt: FeedFormat,
    columns: list[str],
    entity: Entity,
    zone: str,
    origin: str,
    batch_id: int,
    source_sha256: str | list[str],
    reference: Reference,
    cycle: CycleUsage,
    ledger: Ledger,
    settings: Settings,
    summary: ImportSummary,
    deferred: DeferredCharges | None = None,
) -> ReadChunk:
    """Run one chunk of rows through every stage and store what became of each row: a
    rated record, a counted duplicate or an exception. Shared by file imports and by events
    pushed to the API; the caller owns the batch and the transaction. ``source_sha256`` is
    the file's digest, or one per row of the chunk (events of several requests). With
    ``deferred``, the rated records' charges are held there to be placed and booked after
    the last chunk; without, they are booked now, and the rated records in what this
    returns are the charges as stored."""
    summary.rows_read += chunk.height
    read = read_chunk(
        conn,
        chunk,
        fmt=fmt,
        columns=columns,
        entity=entity,
        zone=zone,
        origin=origin,
        reference=reference,
        cycle=cycle,
        settings=settings,
        place=deferred is None,
    )
    new, duplicates, assessed = read.new, read.duplicates, read.assessed
    placed = assessed.placed
    rated = placed.rated

    # every new record is kept, billed or not, so its id is known from now on
    stored = new.join(assessed.matched, on="row_idx", how="left").with_columns(
        pl.when(pl.col("row_idx").is_in(rated["row_idx"].implode()))
        .then(pl.lit("rated"))
        .otherwise(pl.lit("exception"))
        .alias("status")
    )
    ids = usage.add_records(
        conn,
        stored.select(
            pl.lit(entity.id).alias("entity_id"),
            pl.lit(origin).alias("origin"),
            "record_id",
            "content_sha256",
            "service",
            "start_time",
            "quantity",
            "unit",
            "account",
            "caller",
            "destination",
            "disposition",
            "direction",
            "attributes",
            "customer_id",
            "status",
            pl.lit(batch_id).alias("batch_id"),
            _digests(source_sha256, stored["row_idx"]),
            pl.col("line").alias("source_line"),
            chunk.frame["raw"].gather(stored["row_idx"]),
        ),
        seal=ledger.seal,
    )
    pks = stored.select("row_idx").with_columns(ids.alias("record_pk"))
    rated = rated.join(pks, on="row_idx", how="left", maintain_order="left")
    if deferred is not None:
        deferred.hold(rated)
    else:
        ledger.book(
            conn, rated, placed, entity_id=entity.id, batch_id=batch_id, now=datetime.now(UTC)
        )
        summary.charge += int(rated["charge"].sum() or 0)
        summary.rerated += placed.replacements.height
        summary.rerated_change += int(placed.replacements["charge"].sum() or 0) - int(
            placed.replaced["charge"].sum() or 0
        )

    _store_exceptions(
        conn,
        chunk,
        entity_id=entity.id,
        origin=origin,
        batch_id=batch_id,
        source_sha256=source_sha256,
        unparsed=read.unparsed,
        conflicts=read.conflicts.join(
            read.records.select(
                "row_idx", "record_id", "content_sha256", "period", _payload().alias("payload")
            ),
            on="row_idx",
            how="left",
        ),
        unbilled=assessed.rejections.join(
            new.select("row_idx", "record_id", "content_sha256", "period"),
            on="row_idx",
            how="left",
        ).join(pks, on="row_idx", how="left"),
        summary=summary,
    )
    summary.rated += rated.height
    summary.duplicates += duplicates.height
    return read


def _digests(source_sha256: str | list[str], row_idx: pl.Series) -> pl.Expr | pl.Series:
    """The source digest of the rows ``row_idx`` of a chunk: the file's, or each row's own."""
    if isinstance(source_sha256, str):
        return pl.lit(source_sha256).alias("source_sha256")
    return pl.Series("source_sha256", [source_sha256[i] for i in row_idx], dtype=pl.String)


def _payload() -> pl.Expr:
    """The canonical content of a record as JSON (kept with an ID_CONFLICT exception)."""
    return pl.struct(
        "record_id",
        pl.col("start_time").dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ"),
        "quantity",
        "unit",
        "service",
        "account",
        "caller",
        "destination",
        "disposition",
        "direction",
        "attributes",
    ).struct.json_encode()


def _store_exceptions(
    conn: Connection,
    chunk: RawChunk,
    *,
    entity_id: int,
    origin: str,
    batch_id: int,
    source_sha256: str | list[str],
    unparsed: pl.DataFrame,
    conflicts: pl.DataFrame,
    unbilled: pl.DataFrame,
    summary: ImportSummary,
) -> None:
    parts: list[pl.DataFrame] = []
    for frame in (unparsed, conflicts, unbilled):
        if frame.is_empty():
            continue
        for name in ("record_id", "content_sha256", "period", "payload"):
            if name not in frame.columns:
                frame = frame.with_columns(pl.lit(None, pl.String).alias(name))
        if "record_pk" not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.Int64).alias("record_pk"))
        parts.append(
            frame.select(
                "row_idx",
                "code",
                "sub_code",
                "field",
                "reason",
                "record_id",
                "content_sha256",
                "period",
                "payload",
                "record_pk",
            )
        )
    if not parts:
        return
    found = pl.concat(parts).sort("row_idx")
    now = datetime.now(UTC)
    insert_frame(
        conn,
        exceptions,
        found.with_columns(
            chunk.frame["line"].gather(found["row_idx"]).alias("source_line"),
            chunk.frame["raw"].gather(found["row_idx"]),
        ).select(
            pl.lit(entity_id).alias("entity_id"),
            pl.lit(batch_id).alias("batch_id"),
            "code",
            "sub_code",
            "field",
            "reason",
            pl.lit("open").alias("status"),
            pl.lit(origin).alias("origin"),
            "record_id",
            "record_pk",
            "content_sha256",
            "period",
            _digests(source_sha256, found["row_idx"]),
            "source_line",
            "raw",
            "payload",
            pl.lit(now).alias("created_at"),
        ),
    )
    summary.exceptions += found.height
    summary.by_code.update(found["code"].to_list())
