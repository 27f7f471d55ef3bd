"""One chunk of rows through the intake: shaped, normalised, validated, deduplicated against
the store, matched, rated and placed (``read_chunk``, writing nothing), then stored
(``store_chunk``): every row ends as a rated record, a counted duplicate or an exception with
a reason. Shared by file imports, pushed events and quotes; the caller owns the batch and the
transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Connection

from ratebook.intake.book import Assessed, Ledger, assess
from ratebook.intake.deferred import DeferredCharges
from ratebook.intake.place import CycleUsage
from ratebook.intake.tally import Tally, codes
from ratebook.model.frames import empty_frame
from ratebook.model.parties import Entity
from ratebook.model.rejections import REJECTION_SCHEMA
from ratebook.model.usage import RECORD_COLUMNS, STORED_FIELDS
from ratebook.pipeline.dedupe import dedupe
from ratebook.pipeline.destinations import describe, stored_kind
from ratebook.pipeline.normalise import normalise
from ratebook.pipeline.numbers import entity_plan
from ratebook.pipeline.price import Reference
from ratebook.pipeline.validate import validate
from ratebook.settings import Settings
from ratebook.sources.csvread import RawChunk
from ratebook.sources.formats import FeedFormat, with_raw_bytes
from ratebook.store import usage
from ratebook.store.bulk import FEW_ROWS, insert_frame
from ratebook.store.tables import exceptions

#: Rejections of rows that are not records, with the record id each names.
_UNPARSED_SCHEMA = {**REJECTION_SCHEMA, "record_id": pl.String()}


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
    window: tuple[datetime, datetime] | None = None,
    canonical: list[dict[str, Any]] | None = None,
) -> ReadChunk:
    """Every stage of a chunk up to what it would store, writing nothing: shape, normalise,
    validate, dedupe against the store, match, rate and place. An import stores what this
    gives (``import_chunk``); a quote answers with it. ``window``: pushed events' start
    times (``validate``). ``canonical``: every row's record as ``pipeline.event_record``
    read it (pushed events, each valid and inside ``window``), which stands for shaping,
    normalising and validating them."""
    if canonical is not None:
        records = pl.DataFrame(canonical, schema=RECORD_COLUMNS)
        unparsed = empty_frame(_UNPARSED_SCHEMA)
        ids = list({record["record_id"] for record in canonical})
    else:
        raw, shape_rejects = fmt.to_frame(chunk, columns, settings.max_field_chars)
        raw = with_raw_bytes(raw, chunk)
        normal = normalise(
            raw, time_layout=fmt.time_layout, feed_zone=zone, plan=entity_plan(entity)
        )
        records, invalid = validate(normal, entity_zone=entity.timezone, window=window)
        # an unreadable row still names its record id when that column could be read
        unparsed = pl.concat([shape_rejects, invalid]).join(
            raw.select("row_idx", pl.col("record_id").str.slice(0, 255)), on="row_idx", how="left"
        )
        ids = records["record_id"].unique().to_list()
    known = usage.known_versions(conn, entity.id, origin, ids)
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
        unparsed=unparsed,
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
    now: datetime,
    deferred: DeferredCharges | None = None,
    window: tuple[datetime, datetime] | None = None,
    canonical: list[dict[str, Any]] | None = None,
) -> tuple[ReadChunk, Tally]:
    """``read_chunk`` then ``store_chunk``: one chunk of a batch through every stage, and
    what became of its rows."""
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
        window=window,
        canonical=canonical,
    )
    tally = store_chunk(
        conn,
        chunk,
        read,
        entity_id=entity.id,
        origin=origin,
        batch_id=batch_id,
        source_sha256=source_sha256,
        ledger=ledger,
        now=now,
        deferred=deferred,
    )
    return read, tally


def store_chunk(
    conn: Connection,
    chunk: RawChunk,
    read: ReadChunk,
    *,
    entity_id: int,
    origin: str,
    batch_id: int,
    source_sha256: str | list[str],
    ledger: Ledger,
    now: datetime,
    deferred: DeferredCharges | None = None,
) -> Tally:
    """Store what ``read_chunk`` made of ``chunk``'s rows: every new record (billed or not,
    so its id is known from now on), the charges of the rated ones, and the exceptions.
    ``source_sha256`` is the file's digest, or one per row of the chunk (events of several
    requests). With ``deferred``, the rated records' charges are held there to be placed
    and booked after the last chunk; without, they are booked now.

    One function: records, charges and exceptions of one chunk, in the order their ids need."""
    assessed = read.assessed
    placed = assessed.placed
    pks = _store_records(
        conn,
        chunk,
        read,
        entity_id=entity_id,
        origin=origin,
        batch_id=batch_id,
        source_sha256=source_sha256,
        ledger=ledger,
    )
    if pks.height < FEW_ROWS:
        pk_of = dict(pks.iter_rows())
        rated = placed.rated.with_columns(
            pl.Series("record_pk", [pk_of.get(at) for at in placed.rated["row_idx"]], pl.Int64())
        )
    else:
        rated = placed.rated.join(pks, on="row_idx", how="left", maintain_order="left")
    booked = Tally()
    if deferred is not None:
        deferred.hold(rated)
    else:
        ledger.book(conn, rated, placed, entity_id=entity_id, batch_id=batch_id, now=now)
        booked = Tally(
            charge=int(rated["charge"].sum() or 0),
            rerated=placed.replacements.height,
            rerated_change=int(placed.replacements["charge"].sum() or 0)
            - int(placed.replaced["charge"].sum() or 0),
        )
    refused = _store_exceptions(
        conn,
        chunk,
        entity_id=entity_id,
        origin=origin,
        batch_id=batch_id,
        source_sha256=source_sha256,
        unparsed=read.unparsed,
        conflicts=read.conflicts
        if read.conflicts.is_empty()
        else read.conflicts.join(
            read.records.select(
                "row_idx", "record_id", "content_sha256", "period", _payload().alias("payload")
            ),
            on="row_idx",
            how="left",
        ),
        unbilled=assessed.rejections
        if assessed.rejections.is_empty()
        else assessed.rejections.join(
            read.new.select("row_idx", "record_id", "content_sha256", "period"),
            on="row_idx",
            how="left",
        ).join(pks, on="row_idx", how="left"),
        now=now,
    )
    return booked + Tally(
        read=chunk.height,
        rated=rated.height,
        duplicates=read.duplicates.height,
        exceptions=len(refused),
        by_code=codes(refused),
    )


def _store_records(
    conn: Connection,
    chunk: RawChunk,
    read: ReadChunk,
    *,
    entity_id: int,
    origin: str,
    batch_id: int,
    source_sha256: str | list[str],
    ledger: Ledger,
) -> pl.DataFrame:
    """Store every new record of the chunk; ``row_idx`` and ``record_pk`` of each."""
    if read.new.height < FEW_ROWS:
        return _store_few_records(
            conn,
            chunk,
            read,
            entity_id=entity_id,
            origin=origin,
            batch_id=batch_id,
            source_sha256=source_sha256,
            ledger=ledger,
        )
    rated = read.assessed.placed.rated
    stored = read.new.join(read.assessed.matched, on="row_idx", how="left").with_columns(
        pl.when(pl.col("row_idx").is_in(rated["row_idx"].implode()))
        .then(pl.lit("rated"))
        .otherwise(pl.lit("exception"))
        .alias("status")
    )
    kinds = describe(stored["destination"]).rename(
        {"region": "destination_region", "number_type": "destination_type"}
    )
    stored = stored.join(
        kinds, left_on="destination", right_on="number", how="left", maintain_order="left"
    )
    ids = usage.add_records(
        conn,
        stored.select(
            pl.lit(entity_id).alias("entity_id"),
            pl.lit(origin).alias("origin"),
            *STORED_FIELDS,
            "destination_region",
            "destination_type",
            "customer_id",
            "status",
            pl.lit(batch_id).alias("batch_id"),
            _digests(source_sha256, stored["row_idx"]),
            pl.col("line").alias("source_line"),
            chunk.frame["raw"].gather(stored["row_idx"]),
        ),
        seal=ledger.seal,
    )
    return stored.select("row_idx").with_columns(ids.alias("record_pk"))


def _store_few_records(
    conn: Connection,
    chunk: RawChunk,
    read: ReadChunk,
    *,
    entity_id: int,
    origin: str,
    batch_id: int,
    source_sha256: str | list[str],
    ledger: Ledger,
) -> pl.DataFrame:
    """``_store_records`` for fewer than ``FEW_ROWS`` records (a push's), as rows: the same
    rows it makes of a frame."""
    customer = dict(read.assessed.matched.iter_rows())  # row_idx, customer_id
    rated = set(read.assessed.placed.rated["row_idx"].to_list())
    raw = chunk.frame["raw"]
    rows: list[dict[str, Any]] = []
    row_idx: list[int] = []
    for new in read.new.iter_rows(named=True):
        at = new["row_idx"]
        rows.append(
            {
                "entity_id": entity_id,
                "origin": origin,
                **{name: new[name] for name in STORED_FIELDS},
                **stored_kind(new["destination"]),
                "customer_id": customer.get(at),
                "status": "rated" if at in rated else "exception",
                "batch_id": batch_id,
                "source_sha256": source_sha256
                if isinstance(source_sha256, str)
                else source_sha256[at],
                "source_line": new["line"],
                "raw": raw[at],
            }
        )
        row_idx.append(at)
    ids = usage.add_record_rows(conn, rows, seal=ledger.seal)
    return pl.DataFrame(
        {"row_idx": row_idx, "record_pk": ids},
        schema={"row_idx": read.new.schema["row_idx"], "record_pk": pl.Int64()},
    )


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
    now: datetime,
) -> list[str]:
    """Store a chunk's rows that are no records (``unparsed``), clashing copies of known
    records (``conflicts``) and records that cannot be billed (``unbilled``) as exceptions,
    in row order; their codes.

    One function: it lines up three kinds of refusal into one insert."""
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
        return []
    found = pl.concat(parts).sort("row_idx")
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
    return [str(code) for code in found["code"]]
