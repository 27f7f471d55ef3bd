"""Import a usage file: read, normalise, validate, dedupe, match, rate, post — one transaction.

Every data row ends as exactly one of: a rated record, a counted duplicate, or an exception
with a reason; the import checks ``read == rated + duplicates + exceptions`` before it
commits. A file already imported (same SHA-256 for the entity) changes nothing. The stages
themselves are the intake's (``intake.chunk``), shared with pushed events and streams.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine

from ratebook.errors import InputError
from ratebook.intake.batch import finish_batch
from ratebook.intake.book import Ledger
from ratebook.intake.chunk import import_chunk
from ratebook.intake.deferred import DeferredCharges
from ratebook.intake.place import CycleUsage
from ratebook.intake.shards import Shard
from ratebook.intake.tally import ImportProgress, ImportSummary, Tally
from ratebook.model.parties import Entity
from ratebook.pipeline.clocks import ClockCheck
from ratebook.pipeline.price import Reference
from ratebook.settings import Settings
from ratebook.sources.cdr_profiles import (
    CdrProfile,
    layout_json,
    load_cdr_profile,
    profile_format,
)
from ratebook.sources.csvread import CsvRows, FileFacts, inspect_file
from ratebook.sources.dates import is_zone
from ratebook.sources.formats import (
    FORMATS,
    AsteriskFormat,
    FeedFormat,
    freeswitch_template,
    get_format,
)
from ratebook.store import billing, usage
from ratebook.store.engine import import_cache
from ratebook.store.entities import get_entity
from ratebook.store.reference import ReferenceCache, reference_for

log = logging.getLogger(__name__)


def import_feed(
    engine: Engine,
    path: Path,
    *,
    format_name: str = "generic",
    entity_code: str | None = None,
    origin: str | None = None,
    feed_zone: str | None = None,
    settings: Settings | None = None,
    progress: ImportProgress | None = None,
    source_name: str | None = None,
    references: ReferenceCache | None = None,
    template: str | None = None,
    profile: str | None = None,
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
            each entity's reference data between imports; without it, it is loaded.
        template: for ``freeswitch``, the ``mod_cdr_csv`` template line the file was
            written with, when it is not the stock ``example`` one.
        profile: a mapping profile (a shipped one's name, or a YAML file) the file is read
            through, instead of ``format_name`` (``sources.cdr_profiles``).

    Another writer may store the same file, or records with the same ids, while this import
    runs (PostgreSQL, where writers run side by side): the import then runs again and finds
    them, as a file already imported or as duplicates, instead of failing on a unique key.

    Raises:
        InputError: the file cannot be imported at all (missing, empty, bad header, ...).

    One function: most of it is its arguments' documentation.
    """
    settings = settings or Settings()
    layout, fmt = read_format(format_name, template, profile)
    started = time.perf_counter()
    name = source_name or str(path)
    with as_utf8(path, None if layout is None else layout.encoding) as (text, facts):
        summary = usage.storing(
            lambda: import_once(
                engine,
                ImportFile(
                    path=text,
                    facts=facts,
                    fmt=fmt,
                    name=name,
                    origin=origin,
                    zone=feed_zone or (None if layout is None else layout.zone),
                    layout=None if layout is None else layout_json(layout),
                ),
                entity_code=entity_code,
                settings=settings,
                progress=progress,
                references=references,
            ),
            what=name,
        )
    if summary.already_imported:
        return summary
    summary = replace(summary, seconds=time.perf_counter() - started)
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


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportFile:
    """The file being imported: where, what it is, how it is read and named."""

    path: Path
    facts: FileFacts
    fmt: FeedFormat
    name: str
    origin: str | None
    zone: str | None
    layout: str | None = None
    shard: Shard | None = None

    @property
    def batch_sha256(self) -> str:
        """The manifest's key of what this import stores: the file's digest, or its
        shard's."""
        return self.facts.sha256 if self.shard is None else self.shard.sha256(self.facts.sha256)


@contextmanager
def as_utf8(path: Path, encoding: str | None) -> Iterator[tuple[Path, FileFacts]]:
    """The file as UTF-8 text to read, and its facts: itself, or (a profile's ``encoding``
    other than UTF-8) a copy decoded from it, whose manifest key is still the original's
    bytes' SHA-256. Bytes the encoding does not define are read as U+FFFD."""
    facts = inspect_file(path)
    if encoding in (None, "utf-8"):
        yield path, facts
        return
    with tempfile.TemporaryDirectory(prefix="ratebook-decoded-") as folder:
        decoded = Path(folder) / path.name
        with (
            path.open(encoding=encoding, errors="replace", newline="") as source,
            decoded.open("w", encoding="utf-8", newline="") as target,
        ):
            while block := source.read(1 << 20):
                target.write(block)
        yield decoded, replace(inspect_file(decoded), sha256=facts.sha256, size=facts.size)


def import_once(
    engine: Engine,
    file: ImportFile,
    *,
    entity_code: str | None,
    settings: Settings,
    progress: ImportProgress | None = None,
    references: ReferenceCache | None = None,
) -> ImportSummary:
    """``import_feed``'s one transaction: ``file`` (or its shard) imported."""
    summary = _import_transaction(
        engine,
        lambda conn: file,
        entity_code=entity_code,
        settings=settings,
        progress=progress,
        references=references,
    )
    assert summary is not None  # the file is taken whatever the transaction
    return summary


def import_claimed(
    engine: Engine,
    claim: Callable[[Connection], ImportFile | None],
    *,
    entity_code: str | None,
    settings: Settings,
) -> ImportSummary | None:
    """One transaction importing what ``claim`` takes in it (a shard of a parallel import,
    ``import_shards``); None when it takes nothing."""
    return _import_transaction(
        engine,
        claim,
        entity_code=entity_code,
        settings=settings,
        progress=None,
        references=None,
    )


def _import_transaction(
    engine: Engine,
    claim: Callable[[Connection], ImportFile | None],
    *,
    entity_code: str | None,
    settings: Settings,
    progress: ImportProgress | None,
    references: ReferenceCache | None,
) -> ImportSummary | None:
    """The transaction of ``import_once`` and ``import_claimed``.

    One function: it is the transaction, its steps in order."""
    now = datetime.now(UTC)
    with engine.begin() as conn, import_cache(conn):
        file = claim(conn)
        if file is None:
            return None
        entity = get_entity(conn, entity_code)
        billing.lock_entity(conn, entity.id, shared=True)
        zone = file.zone or entity.timezone
        _check_zone(zone)
        earlier = usage.find_batch_by_sha(conn, entity.id, file.batch_sha256)
        if earlier is not None:
            return ImportSummary(
                path=file.name,
                batch_id=earlier.id,
                already_imported=True,
                tally=Tally(
                    read=earlier.rows_read,
                    rated=earlier.rated,
                    duplicates=earlier.duplicates,
                    exceptions=earlier.exceptions,
                ),
                currency=entity.currency,
                charge_places=entity.charge_places,
            )
        with CsvRows(
            file.path,
            file.facts,
            chunk_rows=settings.chunk_rows,
            skip_header=file.fmt.has_header,
        ) as source:
            columns = file.fmt.bind_header(source.header, file.path)
            origin = file.origin or file.fmt.name
            batch_id = usage.start_batch(
                conn,
                entity_id=entity.id,
                origin=origin,
                fmt=file.fmt.name,
                source_name=file.name,
                source_sha256=file.batch_sha256,
                size_bytes=file.facts.size,
                columns=columns,
                feed_zone=zone,
                layout=file.layout,
                now=now,
            )
            reference = reference_for(conn, entity.id, references)
            cycle = CycleUsage(conn, entity_id=entity.id, rows=reference.rows)
            ledger = Ledger(cycle)
            tally, clock = _read_file(
                conn,
                source,
                file,
                _Into(entity=entity, zone=zone, origin=origin, batch_id=batch_id, now=now),
                columns=columns,
                reference=reference,
                ledger=ledger,
                settings=settings,
                progress=progress,
            )
        finish_batch(
            conn,
            entity_id=entity.id,
            batch_id=batch_id,
            ledger=ledger,
            tally=tally,
            source=file.name,
            now=now,
            audited={
                "source": file.name,
                "sha256": file.facts.sha256,
                "format": file.fmt.name,
                "origin": origin,
                **({} if file.shard is None else {"shard": file.shard.label}),
            },
        )
        cycle.save()
        # what the import wrote last (its charges, totals and postings) described to the
        # planner for the queries of the next imports and requests
        usage.refresh_statistics(
            conn, adding=tally.rated, tables=("rated_charges", "usage_totals", "ledger_postings")
        )
    return ImportSummary(
        path=file.name,
        batch_id=batch_id,
        tally=tally,
        currency=entity.currency,
        charge_places=entity.charge_places,
        notes=_header_notes(source.header)
        + tuple(note for note in [clock.note(zone)] if note is not None),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class _Into:
    """Where the file's rows go: the entity, their zone, the feed, the batch, and when."""

    entity: Entity
    zone: str
    origin: str
    batch_id: int
    now: datetime


def _read_file(
    conn: Connection,
    source: CsvRows,
    file: ImportFile,
    into: _Into,
    *,
    columns: list[str],
    reference: Reference,
    ledger: Ledger,
    settings: Settings,
    progress: ImportProgress | None,
) -> tuple[Tally, ClockCheck]:
    """Every chunk of the file through the intake, their charges held and then placed and
    booked at once; what became of the rows, and how their starts agree with the clocks in
    their ids."""
    tally = Tally()
    clock = ClockCheck()
    with ExitStack() as stack:
        deferred: DeferredCharges | None = None
        for whole in source.chunks(width=len(columns)):
            chunk = whole if file.shard is None else file.shard.rows_of(whole)
            if chunk.height == 0:  # none of the shard's rows
                if progress is not None:
                    progress.read(chunk.bytes_read, file.facts.size)
                continue
            if deferred is None:
                # partitions of about a chunk each, from the first chunk's bytes per row
                deferred = stack.enter_context(
                    DeferredCharges(
                        expected_rows=chunk.height * file.facts.size // max(1, chunk.bytes_read),
                        partition_rows=settings.chunk_rows,
                    )
                )
            read, of_chunk = import_chunk(
                conn,
                chunk,
                fmt=file.fmt,
                columns=columns,
                entity=into.entity,
                zone=into.zone,
                origin=into.origin,
                batch_id=into.batch_id,
                source_sha256=file.facts.sha256,
                reference=reference,
                cycle=ledger.cycle,
                ledger=ledger,
                settings=settings,
                now=into.now,
                deferred=deferred,
            )
            tally += of_chunk
            if isinstance(file.fmt, AsteriskFormat):
                clock.add(read.records)
            if progress is not None:
                progress.read(chunk.bytes_read, file.facts.size)
        if deferred is not None:
            tally += deferred.settle(
                conn,
                cycle=ledger.cycle,
                ledger=ledger,
                entity_id=into.entity.id,
                batch_id=into.batch_id,
                now=into.now,
                progress=None if progress is None else progress.place,
            )
    return tally, clock


def _header_notes(header: list[str] | None) -> tuple[str, ...]:
    """What the header says that the import read otherwise than written."""
    padded = [cell for cell in header or [] if cell != cell.strip()]
    if not padded:
        return ()
    shown = ", ".join(repr(cell) for cell in padded[:5])
    return (f"header: blanks around {shown} were ignored (read as the names without them)",)


def known_formats() -> list[str]:
    """The feed formats a file may be imported in, by name."""
    return sorted(FORMATS)


def check_format(name: str, template: str | None = None, profile: str | None = None) -> None:
    """Refuse a format that is not known, a template it cannot take, or a profile that
    cannot be read, before a file is read.

    Raises:
        InputError: ``UNKNOWN_FORMAT``, ``BAD_TEMPLATE``, ``UNKNOWN_PROFILE``, ``BAD_PROFILE``.
    """
    if read_layout(name, template, profile) is None:
        feed_format(name, template)


def read_format(
    name: str, template: str | None = None, profile: str | None = None
) -> tuple[CdrProfile | None, FeedFormat]:
    """The mapping profile ``profile`` names (None without one), and the format files are
    read through: the profile's, or ``name`` written with ``template``."""
    layout = read_layout(name, template, profile)
    return layout, feed_format(name, template) if layout is None else profile_format(layout)


def read_layout(
    name: str, template: str | None = None, profile: str | None = None
) -> CdrProfile | None:
    """The mapping profile ``profile`` names, checked (None without one).

    Raises:
        InputError: ``UNKNOWN_PROFILE``, ``BAD_PROFILE``, ``BAD_TEMPLATE``; ``BAD_PROFILE``
            for a profile given with a template or a format other than the default.
    """
    if profile is None:
        return None
    if template is not None or name != "generic":
        raise InputError(
            "BAD_PROFILE",
            "a profile names its layout: give --profile without --format or --template",
            path="--profile",
        )
    return load_cdr_profile(profile)


def feed_format(name: str, template: str | None) -> FeedFormat:
    """The format ``name``, written with ``template`` (FreeSWITCH's only).

    Raises:
        InputError: ``UNKNOWN_FORMAT``, ``BAD_TEMPLATE``.
    """
    fmt = get_format(name)
    if template is None:
        return fmt
    if fmt.name != "freeswitch":
        raise InputError(
            "BAD_TEMPLATE",
            f"a template is FreeSWITCH's; format {name!r} has none",
            path="--template",
        )
    return freeswitch_template(template)


def _check_zone(zone: str) -> None:
    if not is_zone(zone):
        raise InputError("UNKNOWN_TIME_ZONE", f"{zone!r} is not an IANA time zone", path="--tz")
