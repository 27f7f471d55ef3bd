"""The ``ratebook`` command line: parses options, calls one workflow, prints the result.

Errors a user can act on print as ``file:line: field: CODE message`` on stderr and exit 1.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.filesize import decimal
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from ratebook.errors import RatebookError
from ratebook.money import AMOUNT_SCALE, format_fixed
from ratebook.render.listing import OutputFormat, render
from ratebook.settings import Settings
from ratebook.store.audit import acting_as
from ratebook.store.engine import open_store
from ratebook.store.reference import ReferenceCache
from ratebook.workflows import report_usage
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import ImportProgress, ImportSummary, import_feed
from ratebook.workflows.import_rates import import_rate_table, import_rates
from ratebook.workflows.init_entity import init_entity

app = typer.Typer(
    help="Ratebook: ingest usage records, rate them, and bill them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
customers_app = typer.Typer(help="Customers and their numbers.", no_args_is_help=True)
rates_app = typer.Typer(help="Rate tables.", no_args_is_help=True)
exceptions_app = typer.Typer(help="The exception queue.", no_args_is_help=True)
feeds_app = typer.Typer(help="Scheduled imports: folders, SFTP and S3.", no_args_is_help=True)
app.add_typer(customers_app, name="customers")
app.add_typer(rates_app, name="rates")
app.add_typer(exceptions_app, name="exceptions")
app.add_typer(feeds_app, name="feeds")

# piped output (files, pagers) gets wide tables instead of Rich's 80-column default
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=True)

T = TypeVar("T")


@dataclass(slots=True)
class _State:
    settings: Settings
    engine: Engine | None = None

    def store(self) -> Engine:
        if self.engine is None:
            self.engine = open_store(self.settings.database_url)
        return self.engine

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None


DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: $RATEBOOK_DATABASE_URL or ./ratebook.db)."),
]
EntityOption = Annotated[
    str | None, typer.Option("--entity", help="Entity code (default: the only entity).")
]
FormatOption = Annotated[
    OutputFormat, typer.Option("--format", help="Output format.", case_sensitive=False)
]
PeriodOption = Annotated[str, typer.Option("--period", help="Calendar month, YYYY-MM.")]


def _state(ctx: typer.Context) -> _State:
    state = ctx.obj
    if not isinstance(state, _State):
        raise RuntimeError("CLI state missing")
    return state


def _fail(error: RatebookError) -> None:
    err.print(f"error: {error.render()}", markup=False)
    raise typer.Exit(code=1)


def _run(call: Callable[[], T]) -> T:
    try:
        return call()
    except RatebookError as error:
        _fail(error)
        raise  # unreachable; _fail exits


@app.callback()
def _main(
    ctx: typer.Context,
    db: DbOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each stage.")] = False,
    actor: Annotated[
        str | None,
        typer.Option(
            "--actor",
            envvar="RATEBOOK_ACTOR",
            help="Who is acting, for the audit log (default: the system user).",
        ),
    ] = None,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    settings = Settings()
    if db:
        settings = settings.model_copy(update={"database_url": db})
    state = _State(settings=settings)
    ctx.obj = state
    ctx.call_on_close(state.close)
    if actor:
        ctx.with_resource(acting_as(actor))


@app.command()
def init(
    ctx: typer.Context,
    entity: Annotated[str, typer.Option("--entity", help="Short code of the entity.")] = "MAIN",
    name: Annotated[str, typer.Option(help="Legal name.")] = "Ratebook Sdn Bhd",
    currency: Annotated[str, typer.Option(help="ISO 4217 currency.")] = "MYR",
    tz: Annotated[str, typer.Option("--tz", help="IANA time zone.")] = "Asia/Kuala_Lumpur",
    region: Annotated[str, typer.Option(help="Region for national numbers.")] = "MY",
    floor: Annotated[str, typer.Option(help="Invoicing floor.")] = "1.00",
    places: Annotated[int, typer.Option(help="Decimal places of charges.")] = 4,
    rounding: Annotated[str, typer.Option(help="half-up|half-even|up|down")] = "half-up",
) -> None:
    """Create the database and an entity (harmless if they exist)."""
    state = _state(ctx)
    engine = _run(state.store)
    result = _run(
        lambda: init_entity(
            engine,
            code=entity,
            name=name,
            currency=currency,
            timezone=tz,
            region=region,
            floor=floor,
            charge_places=places,
            rounding=rounding,
        )
    )
    e = result.entity
    if result.created:
        out.print(
            f"created entity {e.code} ({e.name}, {e.currency}, {e.timezone}, region "
            f"{e.region}, floor {format_fixed(e.invoicing_floor, AMOUNT_SCALE, 2)})"
        )
    else:
        out.print(f"entity {e.code} already exists; nothing changed")


@app.command()
def ingest(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="Usage files to import.")],
    fmt: Annotated[
        str, typer.Option("--format", help="Feed format: generic|asterisk|freeswitch.")
    ] = "generic",
    origin: Annotated[str | None, typer.Option(help="Feed name (default: the format).")] = None,
    tz: Annotated[str | None, typer.Option("--tz", help="Zone of times without offset.")] = None,
    entity: EntityOption = None,
) -> None:
    """Import usage files: each file in one transaction, each row accounted for."""
    from ratebook.sources.formats import get_format

    state = _state(ctx)
    _run(lambda: get_format(fmt))
    engine = _run(state.store)
    failed = False
    summaries: list[ImportSummary] = []
    references = ReferenceCache()  # the deck and customers read once for all the files
    for path in files:
        try:
            with _progress(path.name) as advance:
                summary = import_feed(
                    engine,
                    path,
                    format_name=fmt,
                    entity_code=entity,
                    origin=origin,
                    feed_zone=tz,
                    settings=state.settings,
                    progress=advance,
                    references=references,
                )
        except RatebookError as error:
            err.print(f"error: {error.render()}", markup=False)
            failed = True
            continue
        summaries.append(summary)
        if summary.already_imported:
            out.print(f"{path}: already imported (batch {summary.batch_id}); nothing changed")
    if summaries:
        _print_import_table(summaries)
    if failed:
        raise typer.Exit(code=1)


@contextmanager
def _progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr (when it is a terminal) for long work that reports
    ``(done, total)``; the callable it yields moves it."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    with progress:
        task = progress.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield advance


@contextmanager
def _progress(label: str) -> Iterator[ImportProgress]:
    """Progress of one file's import: the bytes read, then the held charges placed."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    with progress:
        reading = progress.add_task(label, total=None, detail="")
        placing: list[TaskID] = []

        def read(done: int, total: int) -> None:
            detail = f"{decimal(done)}/{decimal(total)}"
            progress.update(reading, completed=done, total=total, detail=detail)

        def place(done: int, total: int) -> None:
            if not placing:
                placing.append(progress.add_task("placing charges", total=total, detail=""))
            detail = f"{done}/{total} partitions"
            progress.update(placing[0], completed=done, total=total, detail=detail)

        yield ImportProgress(read=read, place=place)


def _print_import_table(summaries: list[ImportSummary]) -> None:
    table = Table(title="Import summary", header_style="bold")
    for name in ("file", "read", "rated", "duplicates", "exceptions", "charge", "seconds"):
        table.add_column(name, justify="left" if name == "file" else "right")
    for s in summaries:
        charge = (
            "(earlier)"
            if s.already_imported
            else f"{format_fixed(s.charge, AMOUNT_SCALE, s.charge_places)} {s.currency}"
        )
        table.add_row(
            s.path,
            f"{s.rows_read:,}",
            f"{s.rated:,}",
            f"{s.duplicates:,}",
            f"{s.exceptions:,}",
            charge,
            f"{s.seconds:.2f}",
        )
    out.print(table)
    codes: dict[str, int] = {}
    for s in summaries:
        for code, count in s.by_code.items():
            codes[code] = codes.get(code, 0) + count
    if codes:
        out.print("exceptions by code: " + ", ".join(f"{c} {n}" for c, n in sorted(codes.items())))
    for s in summaries:
        if not s.already_imported:
            out.print(
                f"{s.path}: read {s.rows_read} = rated {s.rated} + duplicates {s.duplicates}"
                f" + exceptions {s.exceptions}"
            )
        if s.rerated:
            change = format_fixed(s.rerated_change, AMOUNT_SCALE, s.charge_places)
            out.print(
                f"{s.path}: re-rated {s.rerated} earlier charge(s) whose tier place it changed:"
                f" {change} {s.currency} (reversal and new posting in the ledger)"
            )


@customers_app.command("import")
def customers_import(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="CSV: account,name,rate_table,numbers[,valid_from,valid_to]")
    ],
    entity: EntityOption = None,
) -> None:
    """Import or update customers, their numbers and rate tables."""
    engine = _run(_state(ctx).store)
    result = _run(lambda: import_customers(engine, file, entity_code=entity))
    out.print(
        f"{file}: {result.rows} rows; {result.customers_created} customers created,"
        f" {result.identifiers_added} numbers added, {result.assignments_added} rate"
        " assignments added"
    )


@rates_app.command("import")
def rates_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A rate-table YAML file, or a CSV deck.")],
    name: Annotated[str | None, typer.Option(help="Rate table name (CSV deck).")] = None,
    effective_from: Annotated[
        str | None, typer.Option(help="First day in force, YYYY-MM-DD (CSV deck).")
    ] = None,
    increment: Annotated[str, typer.Option(help="Default increments, e.g. 30/6.")] = "60/60",
    places: Annotated[int | None, typer.Option(help="Places of each charge.")] = None,
    rounding: Annotated[str | None, typer.Option(help="half-up|half-even|up|down")] = None,
    correct: Annotated[
        bool,
        typer.Option(
            "--correct",
            help="A version that differs from the stored one at the same date is a correction:"
            " store it as a new revision (then run 'ratebook rerate').",
        ),
    ] = False,
    entity: EntityOption = None,
) -> None:
    """Import a rate table: a YAML file with its versions, or a CSV deck as one version."""
    engine = _run(_state(ctx).store)
    if file.suffix.lower() in (".yaml", ".yml"):
        if name or effective_from:
            err.print(
                "error: a YAML rate table names itself and its versions; drop --name"
                " and --effective-from"
            )
            raise typer.Exit(code=2)
        table = _run(lambda: import_rate_table(engine, file, entity_code=entity, correct=correct))
        for label in table.added:
            out.print(f"{file}: rate table {table.table}, version from {label} added")
        for label in table.corrected:
            out.print(
                f"{file}: rate table {table.table}, version from {label} corrected (new"
                " revision); run 'ratebook rerate' to re-rate usage already rated"
            )
        for label in table.unchanged:
            out.print(f"{file}: rate table {table.table}, version from {label} unchanged")
        return
    if not name or not effective_from:
        err.print("error: a CSV deck needs --name and --effective-from")
        raise typer.Exit(code=2)
    result = _run(
        lambda: import_rates(
            engine,
            file,
            name=name,
            effective_from=effective_from,
            entity_code=entity,
            increment=increment,
            places=places,
            rounding=rounding,
            correct=correct,
        )
    )
    if result.created:
        revision = f" (revision {result.revision})" if result.revision > 1 else ""
        out.print(
            f"{file}: rate table {result.table}, version {result.version_id}{revision} from"
            f" {effective_from}, {result.rows} rows"
        )
    else:
        out.print(f"{file}: already imported as version {result.version_id}; nothing changed")


@app.command()
def balances(
    ctx: typer.Context,
    period: PeriodOption,
    fmt: FormatOption = OutputFormat.TABLE,
    entity: EntityOption = None,
) -> None:
    """Per-customer usage and charges for a month."""
    engine = _run(_state(ctx).store)
    lines = _run(lambda: report_usage.balances(engine, period, entity_code=entity))
    rows = [
        {
            "account": b.account,
            "records": b.records,
            "billed_quantity": b.billed_quantity,
            "charge": b.charge,
            "currency": b.currency,
        }
        for b in lines
    ]
    render(
        rows,
        ["account", "records", "billed_quantity", "charge", "currency"],
        fmt,
        out,
        title=f"Balances {period}",
        right=["records", "billed_quantity", "charge"],
    )


@app.command()
def statement(
    ctx: typer.Context,
    customer: Annotated[str, typer.Option(help="Customer account.")],
    period: PeriodOption,
    out_file: Annotated[Path, typer.Option("--out", help="CSV (or PDF) file to write.")],
    pdf: Annotated[bool, typer.Option("--pdf", help="The itemised PDF statement.")] = False,
    entity: EntityOption = None,
) -> None:
    """Write a customer's monthly statement: usage CSV, or the itemised PDF with --pdf."""
    engine = _run(_state(ctx).store)
    if pdf:
        from ratebook.workflows.statement_pdf import write_statement_pdf

        made = _run(
            lambda: write_statement_pdf(
                engine, account=customer, period=period, out=out_file, entity_code=entity
            )
        )
        out.print(
            f"{made.path}: statement {made.number}, {made.items} records, "
            f"{made.total} {made.currency}"
        )
        return
    result = _run(
        lambda: report_usage.write_statement(
            engine, account=customer, period=period, out=out_file, entity_code=entity
        )
    )
    out.print(f"{result.path}: {result.lines} records, total {result.total} {result.currency}")


@app.command()
def statements(
    ctx: typer.Context,
    period: PeriodOption,
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write into.")],
    entity: EntityOption = None,
) -> None:
    """Write the statement of every customer with usage in the month."""
    engine = _run(_state(ctx).store)
    results = _run(
        lambda: report_usage.write_statements(
            engine, period=period, out_dir=out_dir, entity_code=entity
        )
    )
    out.print(f"{len(results)} statements written to {out_dir}")


@app.command()
def quote(
    ctx: typer.Context,
    start: Annotated[str, typer.Option(help="Start time, ISO 8601 (local if no offset).")],
    quantity: Annotated[str, typer.Option(help="Quantity in --unit.")],
    account: Annotated[str | None, typer.Option(help="Customer account.")] = None,
    caller: Annotated[str | None, typer.Option(help="Calling number.")] = None,
    destination: Annotated[str | None, typer.Option(help="Called number.")] = None,
    service: Annotated[str, typer.Option(help="voice, sms, data, ...")] = "voice",
    unit: Annotated[str, typer.Option(help="s, msg, B, kWh, m3, call, req")] = "s",
    entity: EntityOption = None,
) -> None:
    """Price a hypothetical event as pushing it now would: with the rates in force, after
    the usage its customer's cycle already holds (tiers). Nothing is stored."""
    from ratebook.workflows.quote_in_cycle import quote_in_cycle

    engine = _run(_state(ctx).store)
    event = {
        "start_time": start,
        "quantity": quantity,
        "unit": unit,
        "service": service,
        "account": account,
        "caller": caller,
        "destination": destination,
    }
    result = _run(lambda: quote_in_cycle(engine, [event], entity_code=entity)).results[0]
    if result.status != "rated":
        err.print(f"{result.code}: {result.reason}", markup=False)
        raise typer.Exit(code=1)
    out.print(
        f"{result.charge} {result.currency}: {result.billed_quantity} {unit} billed at"
        f" {result.unit_price} (prefix {result.prefix}, band {result.band})",
        markup=False,
    )
    if result.tiers is not None and len(result.tiers) > 1:
        parts = ", ".join(f"tier {p.tier}: {p.quantity} {unit} at {p.price}" for p in result.tiers)
        out.print(f"  split after the usage the cycle holds: {parts}", markup=False)


@app.command()
def rerate(
    ctx: typer.Context,
    period: PeriodOption,
    customer: Annotated[str | None, typer.Option(help="Only this customer account.")] = None,
    fmt: FormatOption = OutputFormat.TABLE,
    entity: EntityOption = None,
) -> None:
    """Re-rate a month with the rates in force now (after 'rates import --correct')."""
    from ratebook.workflows.rerate import rerate as rerate_period

    engine = _run(_state(ctx).store)
    result = _run(lambda: rerate_period(engine, period, account=customer, entity_code=entity))

    def money(value: int) -> str:
        return format_fixed(value, AMOUNT_SCALE, result.charge_places)

    rows = [
        {
            "account": account,
            "re-rated": n,
            "before": money(before),
            "after": money(after),
            "change": money(after - before),
            "currency": result.currency,
        }
        for account, (n, before, after) in result.by_account.items()
    ]
    render(
        rows,
        ["account", "re-rated", "before", "after", "change", "currency"],
        fmt,
        out,
        title=f"Re-rated {period}",
        right=["re-rated", "before", "after", "change"],
    )
    if fmt is OutputFormat.TABLE:
        out.print(
            f"{period}: {result.examined} current charges priced again, {result.rerated}"
            f" re-rated ({money(result.after - result.before)} {result.currency})"
            + ("" if result.rerated else "; nothing changed")
        )


@app.command()
def explain(
    ctx: typer.Context,
    record_id: Annotated[str, typer.Argument(help="The record's id (call-id / event-id).")],
    origin: Annotated[str | None, typer.Option(help="Only from this origin.")] = None,
    entity: EntityOption = None,
) -> None:
    """Explain a record: its source, customer, rate, and the arithmetic of its charge."""
    from ratebook.workflows.explain_record import explain as explain_record

    engine = _run(_state(ctx).store)
    for line in _run(lambda: explain_record(engine, record_id, origin=origin, entity_code=entity)):
        out.print(line, markup=False)


@app.command()
def demo(
    ctx: typer.Context,
    records: Annotated[int, typer.Option(help="CDRs to generate.")] = 200_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 2026,
) -> None:
    """Generate a realistic month in this directory and run the whole pipeline on it."""
    from ratebook.workflows.run_demo import run_demo

    state = _state(ctx)
    engine = _run(state.store)
    _run(
        lambda: run_demo(
            engine,
            state.settings,
            Path.cwd(),
            out,
            records=records,
            seed=seed,
            progress=_progress,
        )
    )


FeedsOption = Annotated[
    Path | None,
    typer.Option("--feeds", help="Feeds file (default: $RATEBOOK_FEEDS_FILE or ./feeds.yaml)."),
]


def _feeds(state: _State, path: Path | None) -> list[Any]:
    from ratebook.sources.feeds_config import load_feeds

    return _run(lambda: load_feeds(path or state.settings.feeds_file))


@app.command()
def pull(
    ctx: typer.Context,
    feed: Annotated[str | None, typer.Argument(help="Feed name.")] = None,
    all_feeds: Annotated[bool, typer.Option("--all", help="Every feed.")] = False,
    feeds_file: FeedsOption = None,
) -> None:
    """Pull feeds once: import new files exactly once, then leave, move or delete them."""
    from datetime import UTC, datetime

    from ratebook.workflows.pull_feeds import pull_all

    state = _state(ctx)
    feeds = _feeds(state, feeds_file)
    if all_feeds == (feed is not None):
        err.print("error: name one feed, or give --all")
        raise typer.Exit(code=2)
    chosen = feeds if all_feeds else [f for f in feeds if f.name == feed]
    if not chosen:
        err.print(f"error: FEED_NOT_FOUND no feed {feed!r} in the feeds file", markup=False)
        raise typer.Exit(code=1)
    engine = _run(state.store)
    results = pull_all(
        engine,
        chosen,
        settings=state.settings,
        now=datetime.now(UTC),
        references=ReferenceCache(),
    )
    for r in results:
        fresh = [s for s in r.imported if not s.already_imported]
        line = f"{r.feed}: {r.status}, {r.files_seen} files seen, {len(fresh)} imported"
        if r.status == "failed":
            err.print(f"{line}: {r.error}", markup=False)
            continue
        if r.status == "busy":
            out.print(f"{r.feed}: busy, {r.error}", markup=False)
            continue
        out.print(line, markup=False)
        for s in r.imported:
            note = (
                "content already imported"
                if s.already_imported
                else (
                    f"read {s.rows_read:,} = rated {s.rated:,} + duplicates {s.duplicates:,}"
                    f" + exceptions {s.exceptions:,}"
                )
            )
            out.print(f"  {s.path}: {note}", markup=False)
        for name, why in r.waiting:
            out.print(f"  {name}: waiting ({why})", markup=False)
        for name, why in r.refused:
            err.print(f"  {name!r}: refused ({why})", markup=False)
        for name, why in r.rejected:
            err.print(f"  {name}: not imported: {why}", markup=False)
    if any(r.status == "failed" or r.rejected for r in results):
        raise typer.Exit(code=1)


@feeds_app.command("list")
def feeds_list(
    ctx: typer.Context, feeds_file: FeedsOption = None, fmt: FormatOption = OutputFormat.TABLE
) -> None:
    """The feeds in the feeds file (credentials are named, never shown)."""
    feeds = _feeds(_state(ctx), feeds_file)
    rows = []
    for f in feeds:
        if f.kind == "folder":
            where = str(f.path)
        elif f.kind == "sftp":
            where = f"sftp://{f.host}:{f.port}/{f.path}"
        else:
            where = f"s3://{f.bucket}/{f.prefix}"
        rows.append(
            {
                "feed": f.name,
                "kind": f.kind,
                "location": where,
                "pattern": f.pattern,
                "format": f.format,
                "schedule": f"{f.schedule} ({f.zone})",
                "after_import": f.after_import,
            }
        )
    render(
        rows,
        ["feed", "kind", "location", "pattern", "format", "schedule", "after_import"],
        fmt,
        out,
        title="Feeds",
    )


@feeds_app.command("status")
def feeds_status(
    ctx: typer.Context, feeds_file: FeedsOption = None, fmt: FormatOption = OutputFormat.TABLE
) -> None:
    """Each feed's last run, files imported, last error and next run."""
    from datetime import UTC, datetime
    from functools import partial

    from ratebook.store import feeds as manifest
    from ratebook.store.entities import get_entity
    from ratebook.workflows.schedule_feeds import next_run

    state = _state(ctx)
    feeds = _feeds(state, feeds_file)
    engine = _run(state.store)
    now = datetime.now(UTC)
    rows = []
    with engine.connect() as conn:
        for f in feeds:
            entity = _run(partial(get_entity, conn, f.entity))
            h = manifest.history(conn, entity.id, f.name)
            rows.append(
                {
                    "feed": f.name,
                    "last_run": f"{h.last_started:%Y-%m-%d %H:%M:%S}Z" if h.last_started else None,
                    "status": h.last_status,
                    "files_imported": h.files_imported,
                    "failures_in_a_row": h.failures_in_a_row,
                    "last_error": h.last_error,
                    "next_run": f"{next_run(f, h, now):%Y-%m-%d %H:%M:%S}Z",
                }
            )
    render(
        rows,
        [
            "feed",
            "last_run",
            "status",
            "files_imported",
            "failures_in_a_row",
            "last_error",
            "next_run",
        ],
        fmt,
        out,
        title="Feed status",
        right=["files_imported", "failures_in_a_row"],
    )


def main() -> None:
    """Console-script entry point."""
    os.environ.setdefault("POLARS_MAX_THREADS", str(os.cpu_count() or 2))
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted; nothing of the unfinished file was committed")
        sys.exit(130)
    except SQLAlchemyError as exc:
        # the store itself failed (read-only, disk full, connection lost): its transaction
        # was rolled back, so say so in a line instead of a traceback
        reason = getattr(exc, "orig", None) or exc
        err.print(
            f"error: STORE_ERROR the database failed, and nothing of the unfinished change"
            f" was kept: {reason}",
            markup=False,
        )
        sys.exit(1)


# billing and review commands register themselves on ``app``
from ratebook import cli_api, cli_billing, cli_review  # noqa: E402,F401
