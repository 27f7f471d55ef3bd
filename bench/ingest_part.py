"""The ingest part of ``make bench``: for each file size, the rating core in process beside
the same rating as one plan (``core_sketch``), then on each store the real ``ratebook
ingest`` with 1 and with 2 workers, each into a fresh store, beside that store's own ceiling
measured in the same run and with the charges it stored beside the sketch's, and a day's
file into the store that holds the month.

The ceiling is what the store itself does with no Python at all: after the import, the rows
it wrote (records, their keys, charges, cycle totals, postings) are copied by one server-side
``INSERT ... SELECT`` per table into a second store built by the same migrations (the same
indexes and, on PostgreSQL, the same partitions), after a checkpoint. The ratio is the
import's rows/s over the ceiling's.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from decimal import Decimal
from pathlib import Path

import polars as pl
import psycopg
from commands import ratebook_rss
from core_sketch import PLACES, sketch_rate
from shaped import ShapedInputs, generate

from ratebook.model.usage import KNOWN_SCHEMA
from ratebook.money import AMOUNT_SCALE
from ratebook.pipeline.dedupe import dedupe
from ratebook.pipeline.normalise import normalise
from ratebook.pipeline.numbers import number_plan
from ratebook.pipeline.price import price
from ratebook.pipeline.tiers import price_in_cycle
from ratebook.pipeline.validate import validate
from ratebook.settings import Settings
from ratebook.sources.csvread import CsvRows, inspect_file
from ratebook.sources.formats import FORMATS
from ratebook.store.engine import open_store
from ratebook.store.entities import get_entity
from ratebook.store.reference import load_reference

ZONE = "Asia/Kuala_Lumpur"

#: What an import writes, table by table: what the ceiling copies.
WRITTEN = ("usage_records", "record_keys", "rated_charges", "usage_totals", "ledger_postings")

#: A maker of fresh store URLs: SQLite files, or PostgreSQL schemas.
Stores = Callable[[str], str]


def ingest_bench(work: Path, rows: int, stores: list[tuple[str, Stores]]) -> None:
    """Every figure of one file size."""
    began = time.perf_counter()
    inputs = generate(work / "input", rows)
    size_mb = inputs.cdrs.stat().st_size / 1e6
    print(
        f"\n{rows:,} rows ({size_mb:.0f} MB), 50,000-prefix deck with peak/off-peak bands, MY"
        f" holidays and graduated tiers, 20,000 customers, 1% duplicates;"
        f" generated in {time.perf_counter() - began:.1f}s"
    )
    began = time.perf_counter()
    baseline = pl.scan_csv(inputs.cdrs, infer_schema=False).collect().height
    polars_s = time.perf_counter() - began
    print(f"polars.scan_csv().collect():      {baseline / polars_s:>12,.0f} rows/s")
    core = stores[0][1]("core")
    _setup(core, inputs)
    frames, parse_s = _parse(inputs.cdrs)
    parsed = sum(frame.height for frame in frames)
    stages_s, rating_s = _stages(core, frames)
    print(f"parse (reader + format):          {parsed / parse_s:>12,.0f} rows/s")
    print(
        f"rating core (normalise..tiers):   {parsed / stages_s:>12,.0f} rows/s   (target 1,000,000)"
    )
    print(f"  of it the rating pass (match, rate, tiers): {parsed / rating_s:,.0f} rows/s")
    sketch_s, sketch_total = sketch_rate(frames, inputs.deck, inputs.customers)
    del frames
    print(
        f"the same rating as one plan (core_sketch.py): {parsed / sketch_s:>8,.0f} rows/s;"
        f" the rating core at {sketch_s / stages_s:.2f}x of it"
    )
    for name, make in stores:
        for workers in (1, 2):
            db = make(f"ingest-{workers}")
            _setup(db, inputs)
            seconds, peak_mb = ratebook_rss(
                db, "ingest", "--workers", str(workers), "--format", "generic", str(inputs.cdrs)
            )
            stored = _charged(db)
            ceiling_s, copied = _ceiling(db, make(f"ceiling-{workers}"), inputs)
            ratio = ceiling_s / seconds
            print(
                f"{name}, {workers} worker{'s' if workers > 1 else ' '}: end to end"
                f" {rows / seconds:>9,.0f} rows/s ({seconds:.1f}s), store ceiling"
                f" {rows / ceiling_s:>9,.0f} rows/s ({copied:,} rows in {ceiling_s:.1f}s):"
                f" ratio {ratio:.2f} (target 0.6); peak RSS {peak_mb:,} MB (target 1,024);"
                f" {_agreement(stored, sketch_total)}"
            )
            if workers == 1:
                seconds = ratebook_rss(db, "ingest", "--format", "generic", str(inputs.daily))[0]
                print(
                    f"  a day's {inputs.daily_rows:,} rows into the store holding the month:"
                    f" {seconds:.2f}s, process start included (target 2 s)"
                )


def _agreement(stored: int, sketch: int) -> str:
    """The stored charges' total (AMOUNT_SCALE) beside the sketch's (``PLACES``)."""
    total = Decimal(stored).scaleb(-AMOUNT_SCALE)
    if stored == sketch * 10 ** (AMOUNT_SCALE - PLACES):
        return f"charges RM{total:,}, the sketch's to the last digit"
    return f"charges RM{total:,}, NOT the sketch's RM{Decimal(sketch).scaleb(-PLACES):,}"


def _charged(db: str) -> int:
    """The total of the current charges in the store ``db`` (AMOUNT_SCALE)."""
    query = "SELECT sum(charge) FROM rated_charges WHERE superseded_by IS NULL"
    if db.startswith("sqlite:///"):
        with closing(sqlite3.connect(db.removeprefix("sqlite:///"))) as conn:
            return int(conn.execute(query).fetchone()[0])
    with psycopg.connect(_plain(db)) as conn:
        row = conn.execute(query.replace("rated_charges", f"{_schema(db)}.rated_charges"))
        return int(row.fetchone()[0])  # type: ignore[index]


def _setup(db: str, inputs: ShapedInputs) -> None:
    ratebook_rss(db, "init", "--entity", "BENCH")
    ratebook_rss(db, "rates", "import", str(inputs.table))
    ratebook_rss(db, "customers", "import", str(inputs.customers))
    # an operator makes the months' partitions ahead (nothing on SQLite)
    ratebook_rss(db, "partitions", "create", "--from", "2026-10", "--months", "2")


def _ceiling(db: str, fresh: str, inputs: ShapedInputs) -> tuple[float, int]:
    """Seconds for the store itself to copy the rows the import wrote into ``fresh`` (a
    store of the same schema and reference data, and, untimed, the import's batch rows),
    table by table, in one transaction; and the rows copied."""
    _setup(fresh, inputs)
    if db.startswith("sqlite:///"):
        return _sqlite_ceiling(db.removeprefix("sqlite:///"), fresh.removeprefix("sqlite:///"))
    return _postgres_ceiling(db, fresh)


def _sqlite_ceiling(path: str, fresh: str) -> tuple[float, int]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA cache_size=-262144")  # the import's own 256 MiB
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("ATTACH DATABASE ? AS fresh", (fresh,))
        conn.execute("INSERT INTO fresh.import_batches SELECT * FROM main.import_batches")
        began = time.perf_counter()
        conn.execute("BEGIN")
        copied = 0
        for table in WRITTEN:
            copied += conn.execute(f"INSERT INTO fresh.{table} SELECT * FROM main.{table}").rowcount
        conn.execute("COMMIT")
        return time.perf_counter() - began, copied
    finally:
        conn.close()


def _postgres_ceiling(db: str, fresh: str) -> tuple[float, int]:
    with psycopg.connect(_plain(db), autocommit=True) as conn:
        source = _schema(db)
        target = _schema(fresh)
        conn.execute(f"INSERT INTO {target}.import_batches SELECT * FROM {source}.import_batches")
        conn.execute("CHECKPOINT")
        began = time.perf_counter()
        copied = 0
        with conn.transaction():
            for table in WRITTEN:
                done = conn.execute(f"INSERT INTO {target}.{table} SELECT * FROM {source}.{table}")
                copied += done.rowcount
        return time.perf_counter() - began, copied


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://").split("?options=")[0]


def _schema(url: str) -> str:
    return url.rsplit("search_path%3D", 1)[1]


def _parse(path: Path) -> tuple[list[pl.DataFrame], float]:
    """The file's chunks as the import parses them (text frames), and the seconds taken."""
    settings = Settings()
    fmt = FORMATS["generic"]
    facts = inspect_file(path)
    began = time.perf_counter()
    frames = []
    with CsvRows(path, facts, chunk_rows=settings.chunk_rows, skip_header=True) as source:
        columns = fmt.bind_header(source.header, path)
        for chunk in source.chunks(width=len(columns)):
            frames.append(fmt.to_frame(chunk, columns, settings.max_field_chars)[0])
    return frames, time.perf_counter() - began


def _stages(db: str, frames: list[pl.DataFrame]) -> tuple[float, float]:
    """Seconds for the pure stages over the parsed ``frames``, and seconds of those for the
    rating pass alone (match, rate, tiers)."""
    fmt = FORMATS["generic"]
    engine = open_store(db)
    with engine.connect() as conn:
        reference = load_reference(conn, get_entity(conn, None).id)
    engine.dispose()
    plan = number_plan("MY")
    began = time.perf_counter()
    rating = 0.0
    for raw in frames:
        normal = normalise(raw, time_layout=fmt.time_layout, feed_zone=ZONE, plan=plan)
        records, _ = validate(normal, entity_zone=ZONE)
        new, _, _ = dedupe(records, pl.DataFrame(schema=KNOWN_SCHEMA))
        rating_began = time.perf_counter()
        # tiers placed once, after rating, as the import does (as if the store were empty)
        rated = price(new, reference, zone=ZONE, place_tiers=False).rated
        price_in_cycle(rated.with_columns(origin=pl.lit("generic")), reference.rows)
        rating += time.perf_counter() - rating_began
    return time.perf_counter() - began, rating


@contextmanager
def sqlite_stores(work: Path) -> Iterator[Stores]:
    """Fresh SQLite files under ``work``."""
    work.mkdir(parents=True, exist_ok=True)
    yield lambda name: f"sqlite:///{work / f'{name}-{uuid.uuid4().hex[:6]}.db'}"
