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

import psycopg
from api_part import api_bench
from console_part import console_bench
from ingest_part import ingest_bench, sqlite_stores
from report_part import report_bench
from stream_part import stream_bench

from ratebook.store.engine import open_store

ZONE = "Asia/Kuala_Lumpur"


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
            with sqlite_stores(work / f"ingest-{rows}") as files, _postgres_schemas() as pgs:
                makers = [("SQLite", files)] + ([("PostgreSQL", pgs)] if pgs else [])
                ingest_bench(work / f"ingest-{rows}", rows, makers)


if __name__ == "__main__":
    main()
