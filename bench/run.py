"""Figures for ``make bench``: ingest throughput, the itemised PDF statement and the API.
Prints figures and ratios, asserts nothing. The ingest inputs have the rating issue's shape
(``bench/shaped.py``); ``--rows N[,N...]`` sets the file sizes (default 1,000,000 and
5,000,000). PostgreSQL is measured too when ``RATEBOOK_BENCH_POSTGRES_URL`` or
``RATEBOOK_TEST_POSTGRES_URL`` is set. ``--only ingest|statement|api|stream|report|console``
runs one part;
the API part starts ``ratebook serve`` and drives it from a separate process
(``bench/api_load.py``); the stream part a local tansu broker and ``ratebook consume``
(``bench/stream_part.py``); the report part the regulatory report of the first size's month
beside a bare ``GROUP BY`` (``bench/report_part.py``); the console part the exception queue's
pages over fifty exceptions and a million (``bench/console_part.py``)."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import polars as pl
import psycopg
from api_part import api_bench
from commands import ratebook_rss
from console_part import console_bench
from report_part import report_bench
from shaped import ShapedInputs, generate
from stream_part import stream_bench

from ratebook.model.usage import KNOWN_SCHEMA
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
from ratebook.store.reference import ReferenceCache, load_reference
from ratebook.workflows.ingest_events import ingest_events

ZONE = "Asia/Kuala_Lumpur"


def _ratebook(db: str, *args: str) -> float:
    return ratebook_rss(db, *args)[0]


def _setup(db: str, inputs: ShapedInputs) -> None:
    _ratebook(db, "init", "--entity", "BENCH")
    _ratebook(db, "rates", "import", str(inputs.table))
    _ratebook(db, "customers", "import", str(inputs.customers))


def _stages(db: str, path: Path) -> tuple[float, float, float, int]:
    """Seconds to parse the file into frames, seconds for the pure stages, seconds of those
    for the rating pass alone (match, rate, tiers), rows."""
    settings = Settings()
    fmt = FORMATS["generic"]
    facts = inspect_file(path)
    began = time.perf_counter()
    frames = []
    with CsvRows(path, facts, chunk_rows=settings.chunk_rows, skip_header=True) as source:
        columns = fmt.bind_header(source.header, path)
        for chunk in source.chunks(width=len(columns)):
            frames.append(fmt.to_frame(chunk, columns, settings.max_field_chars)[0])
    parse = time.perf_counter() - began
    engine = open_store(db)
    with engine.connect() as conn:
        reference = load_reference(conn, get_entity(conn, None).id)
    engine.dispose()
    plan = number_plan("MY")
    began = time.perf_counter()
    rating = 0.0
    total = 0
    for raw in frames:
        normal = normalise(raw, time_layout=fmt.time_layout, feed_zone=ZONE, plan=plan)
        records, _ = validate(normal, entity_zone=ZONE)
        new, _, _ = dedupe(records, pl.DataFrame(schema=KNOWN_SCHEMA))
        rating_began = time.perf_counter()
        # tiers placed once, after rating, as the import does (as if the store were empty)
        rated = price(new, reference, zone=ZONE, place_tiers=False).rated
        price_in_cycle(rated.with_columns(origin=pl.lit("generic")), reference.rows)
        rating += time.perf_counter() - rating_began
        total += raw.height
    return parse, time.perf_counter() - began, rating, total


@contextmanager
def _postgres_url() -> Iterator[str | None]:
    """A URL for a fresh schema on the configured PostgreSQL (None when none is), dropped
    afterwards: each holds millions of rows."""
    base = os.environ.get("RATEBOOK_BENCH_POSTGRES_URL") or os.environ.get(
        "RATEBOOK_TEST_POSTGRES_URL"
    )
    if not base:
        yield None
        return
    schema = f"rb_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    joiner = "&" if "?" in base else "?"
    try:
        yield f"{base}{joiner}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@contextmanager
def _postgres_schemas() -> Iterator[Callable[[str], str] | None]:
    """A maker of URLs for fresh schemas on the configured PostgreSQL (None when none is),
    each dropped afterwards."""
    base = os.environ.get("RATEBOOK_BENCH_POSTGRES_URL") or os.environ.get(
        "RATEBOOK_TEST_POSTGRES_URL"
    )
    if not base:
        yield None
        return
    made: list[str] = []

    def make(name: str) -> str:
        schema = f"rb_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        made.append(schema)
        joiner = "&" if "?" in base else "?"
        return f"{base}{joiner}options={quote(f'-csearch_path={schema}')}"

    try:
        yield make
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            for schema in made:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")


STATEMENT_TABLE = """
name: flat
currency: MYR
timezone: Asia/Kuala_Lumpur
rounding: {places: 4, mode: half-up}
versions:
  - effective_from: 2026-01-01
    rows:
      - {prefix: "60", destination: Malaysia, price: "0.1000", increment: 1s/1s}
"""


def statement_bench(work: Path, lines: int = 10_000) -> None:
    """Seconds to render one customer's itemised PDF statement of ``lines`` calls."""
    from ratebook.workflows.close_cycle import close_cycle
    from ratebook.workflows.import_customers import import_customers
    from ratebook.workflows.import_feed import import_feed
    from ratebook.workflows.import_rate_table import import_rate_table
    from ratebook.workflows.init_entity import init_entity
    from ratebook.workflows.statement_pdf import write_statement_pdf

    work.mkdir(parents=True, exist_ok=True)
    engine = open_store(f"sqlite:///{work / 'statement.db'}")
    init_entity(
        engine,
        code="ST",
        name="Bench Telco",
        currency="MYR",
        timezone=ZONE,
        region="MY",
        floor="1.00",
    )
    (work / "flat.yaml").write_text(STATEMENT_TABLE)
    import_rate_table(engine, work / "flat.yaml")
    (work / "c.csv").write_text("account,name,rate_table,numbers\nBIG,Big Customer Bhd,flat,\n")
    import_customers(engine, work / "c.csv")
    calls = work / "calls.csv"
    with calls.open("w") as out:
        out.write("record_id,start_time,quantity,account,caller,destination,service,unit\n")
        for i in range(lines):
            day, minute = 1 + i % 28, i % 1440
            out.write(
                f"b{i},2026-07-{day:02d}T{minute // 60:02d}:{minute % 60:02d}:00+08:00,"
                f"{30 + i % 600},BIG,+60355550000,+6031{i:07d},voice,s\n"
            )
    import_feed(engine, calls, format_name="generic")
    close_cycle(engine, "2026-07")
    began = time.perf_counter()
    result = write_statement_pdf(engine, account="BIG", period="2026-07", out=work / "big.pdf")
    seconds = time.perf_counter() - began
    engine.dispose()
    print(
        f"PDF statement, {result.items:,} itemised lines: {seconds:.1f}s"
        f" ({result.items / seconds:,.0f} lines/s; target about 5 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--rows",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1_000_000, 5_000_000],
        help="ingest file sizes, comma-separated (default 1000000,5000000)",
    )
    parser.add_argument(
        "--only",
        choices=["ingest", "statement", "api", "stream", "report", "console"],
        default=None,
    )
    parser.add_argument(
        "--console-exceptions",
        type=int,
        default=1_000_000,
        help="exceptions the console part's long queue holds (default 1000000)",
    )
    parser.add_argument(
        "--stream-events",
        type=int,
        default=200_000,
        help="events the stream part produces and consumes (default 200000)",
    )
    parser.add_argument(
        "--api-month",
        type=int,
        default=1_000_000,
        help="records of October the API's store holds before its load (default 1000000)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ratebook-bench-") as folder:
        work = Path(folder)
        if args.only in (None, "statement"):
            statement_bench(work / "statement")
        if args.only in (None, "api"):
            with _postgres_url() as pg:
                stores = [("SQLite", f"sqlite:///{work / 'api.db'}")]
                stores += [("PostgreSQL", pg)] if pg else []
                api_bench(work / "api", stores, args.api_month)
        if args.only in (None, "stream"):
            with _postgres_schemas() as pg:
                sqlite = [("SQLite", lambda name: f"sqlite:///{work / name}.db")]
                stream_bench(
                    work / "stream",
                    sqlite + ([("PostgreSQL", pg)] if pg else []),
                    args.stream_events,
                )
        if args.only in (None, "report"):
            with _postgres_url() as pg:
                stores = [("SQLite", f"sqlite:///{work / 'report.db'}")]
                stores += [("PostgreSQL", pg)] if pg else []
                report_bench(work / "report", stores, args.rows[0])
        if args.only in (None, "console"):
            with _postgres_url() as pg:
                stores = [("SQLite", f"sqlite:///{work / 'console.db'}")]
                stores += [("PostgreSQL", pg)] if pg else []
                console_bench(work / "console", stores, args.console_exceptions)
        if args.only in ("statement", "api", "stream", "report", "console"):
            return
        for rows in args.rows:
            ingest_bench(work / f"ingest-{rows}", rows)


def ingest_bench(work: Path, rows: int) -> None:
    """The real ``ratebook ingest`` of a file with the rating issue's shape, on each store."""
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

    with _postgres_url() as pg:
        targets = [("sqlite", f"sqlite:///{work / 'bench.db'}")]
        if pg:
            targets.append(("postgresql", pg))
        for name, db in targets:
            _ingest_figures(name, db, inputs, rows, polars_s)


def _ingest_figures(name: str, db: str, inputs: ShapedInputs, rows: int, polars_s: float) -> None:
    """Set up ``db`` and print its figures (the pure stages once, on SQLite)."""
    _setup(db, inputs)
    if name == "sqlite":
        parse_s, stages_s, rating_s, parsed = _stages(db, inputs.cdrs)
        print(f"parse (reader + format):          {parsed / parse_s:>12,.0f} rows/s")
        print(
            f"rating core (normalise..tiers):   {parsed / stages_s:>12,.0f} rows/s"
            "   (target 1,500,000)"
        )
        print(f"  of it the rating pass (match, rate, tiers): {parsed / rating_s:,.0f} rows/s")
    seconds, peak_mb = ratebook_rss(db, "ingest", "--format", "generic", str(inputs.cdrs))
    print(
        f"end to end into {name:<10}        {rows / seconds:>12,.0f} rows/s"
        f"  ({seconds:.1f}s; {polars_s / seconds:.3f} x polars read speed;"
        f" target 250,000)  peak RSS {peak_mb:,} MB (target 1,536)"
    )
    # the everyday case: a day's file into a store that holds the month before it
    seconds = _ratebook(db, "ingest", "--format", "generic", str(inputs.daily))
    print(
        f"  then a day's {inputs.daily_rows:,} rows into that store:"
        f" {inputs.daily_rows / seconds:,.0f} rows/s ({seconds:.1f}s, process start included)"
    )
    _single_events(db)


def _single_events(db: str, count: int = 50) -> None:
    """One event at a time through the API's workflow (no HTTP), with the reference data
    kept between calls as the server keeps it, against the shaped deck and customers."""
    engine = open_store(db)
    references = ReferenceCache()
    took: list[float] = []
    for n in range(count + 1):
        event = {
            "record_id": f"single-{uuid.uuid4().hex}",
            "start_time": f"2026-10-31T{10 + n % 8:02d}:00:00+08:00",
            "quantity": 61 + n,
            "account": f"C{n * 37 % 20_000:05d}",
            "destination": "+60312345678",
        }
        began = time.perf_counter()
        ingest_events(engine, [event], references=references)
        took.append(time.perf_counter() - began)
    engine.dispose()
    first, rest = took[0], sorted(took[1:])
    print(
        f"single events, in process ({count}):  first {first * 1000:,.0f} ms (loads the"
        f" reference), then median {rest[len(rest) // 2] * 1000:,.0f} ms,"
        f" max {rest[-1] * 1000:,.0f} ms"
    )


if __name__ == "__main__":
    main()
