"""Import commands: ``ingest`` (files), ``pull`` and ``feeds`` (scheduled imports), and
``quote``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from ratebook.cli.common import (
    EntityOption,
    FeedsOption,
    FormatOption,
    WorkersOption,
    err,
    feed_list,
    import_progress,
    out,
    progress_bar,
    run,
    state,
)
from ratebook.errors import RatebookError
from ratebook.render.listing import OutputFormat, render

if TYPE_CHECKING:
    from ratebook.intake.tally import ImportSummary

PANEL = "Import"

commands = typer.Typer()
feeds_app = typer.Typer(help="Scheduled imports: folders, SFTP and S3.", no_args_is_help=True)

formats_app = typer.Typer(help="The layouts usage files may be in.", no_args_is_help=True)

commands.add_typer(feeds_app, name="feeds", rich_help_panel=PANEL)
commands.add_typer(formats_app, name="formats", rich_help_panel=PANEL)


@formats_app.command("list")
def formats_list(fmt: FormatOption = OutputFormat.TABLE) -> None:
    """The formats 'ingest --format' takes, and the profiles 'ingest --profile' takes."""
    from ratebook.workflows.feed_formats import format_layouts

    rows = [
        {"format": name, "option": option, "layout": layout}
        for name, option, layout in format_layouts()
    ]
    render(rows, ["format", "option", "layout"], fmt, out, title="Formats", prose=["layout"])


@formats_app.command("show")
def formats_show(
    name: Annotated[
        str,
        typer.Argument(
            metavar="FORMAT",
            help="generic|asterisk|freeswitch, a shipped profile's name, or a profile's YAML file",
        ),
    ],
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """A format's or profile's columns, in file order, and what Ratebook reads from each."""
    from ratebook.workflows.feed_formats import format_columns

    columns = run(lambda: format_columns(name))
    rows = [
        {"column": c.column, "read as": c.meaning, "required": "yes" if c.required else ""}
        for c in columns
    ]
    render(
        rows, ["column", "read as", "required"], fmt, out, title=f"Format {name}", prose=["read as"]
    )


@commands.command(rich_help_panel=PANEL)
def ingest(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="Usage files to import.")],
    fmt: Annotated[
        str, typer.Option("--format", help="Feed format: generic|asterisk|freeswitch.")
    ] = "generic",
    origin: Annotated[str | None, typer.Option(help="Feed name (default: the format).")] = None,
    tz: Annotated[str | None, typer.Option("--tz", help="Zone of times without offset.")] = None,
    template: Annotated[
        str | None,
        typer.Option(
            metavar="LINE",
            help="FreeSWITCH: the cdr_csv template line the files were written with, e.g."
            ' \'"${uuid}","${start_stamp}",...\' (default: the stock "example" one).',
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            metavar="NAME|FILE.yaml",
            help="A mapping profile naming the files' layout, instead of --format: a shipped"
            " one ('ratebook formats list') or your own YAML file.",
        ),
    ] = None,
    workers: WorkersOption = 1,
    entity: EntityOption = None,
) -> None:
    """Import usage files: each file in one transaction, each row accounted for. With
    --workers N, each file in N shards by customer, a transaction each."""
    from ratebook.store.reference import ReferenceCache
    from ratebook.workflows.import_feed import check_format
    from ratebook.workflows.import_shards import import_in_shards

    cli = state(ctx)
    run(lambda: check_format(fmt, template, profile))
    engine = run(cli.store)
    failed = False
    summaries: list[ImportSummary] = []
    references = ReferenceCache()  # the deck and customers read once for all the files
    for path in files:
        try:
            with import_progress(path.name) as advance:
                summary = import_in_shards(
                    engine,
                    path,
                    workers=workers,
                    format_name=fmt,
                    entity_code=entity,
                    origin=origin,
                    feed_zone=tz,
                    settings=cli.settings,
                    progress=advance,
                    references=references,
                    template=template,
                    profile=profile,
                )
        except RatebookError as error:
            err.print(f"error: {error.render()}", markup=False)
            failed = True
            continue
        summaries.append(summary)
        for note in summary.notes:
            err.print(f"note: {path}: {note}", markup=False)
        if summary.already_imported:
            out.print(f"{path}: already imported (batch {summary.batch_id}); nothing changed")
    if summaries:
        _print_import_table(summaries)
    if failed:
        raise typer.Exit(code=1)


def _print_import_table(summaries: list[ImportSummary]) -> None:
    from ratebook.money import AMOUNT_SCALE, format_fixed

    table = Table(title="Import summary", header_style="bold")
    # numbers are never cut: a narrow terminal folds the file name instead
    table.add_column("file", justify="left", overflow="fold")
    for name in ("read", "rated", "duplicates", "exceptions", "charge", "seconds"):
        table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
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


@commands.command(rich_help_panel=PANEL)
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

    engine = run(state(ctx).reader)
    event = {
        "start_time": start,
        "quantity": quantity,
        "unit": unit,
        "service": service,
        "account": account,
        "caller": caller,
        "destination": destination,
    }
    result = run(lambda: quote_in_cycle(engine, [event], entity_code=entity)).results[0]
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


@commands.command(rich_help_panel=PANEL)
def pull(
    ctx: typer.Context,
    feed: Annotated[str | None, typer.Argument(help="Feed name.")] = None,
    all_feeds: Annotated[bool, typer.Option("--all", help="Every feed.")] = False,
    feeds_file: FeedsOption = None,
) -> None:
    """Pull feeds once: import new files exactly once, then leave, move or delete them."""
    from datetime import UTC, datetime

    from ratebook.store.reference import ReferenceCache
    from ratebook.workflows.pull_feeds import pull_all

    cli = state(ctx)
    feeds = feed_list(cli, feeds_file)
    if all_feeds == (feed is not None):
        err.print("error: name one feed, or give --all")
        raise typer.Exit(code=2)
    chosen = feeds if all_feeds else [f for f in feeds if f.name == feed]
    if not chosen:
        err.print(f"error: FEED_NOT_FOUND no feed {feed!r} in the feeds file", markup=False)
        raise typer.Exit(code=1)
    engine = run(cli.store)
    with progress_bar("pulling") as advance:

        def files_done(feed: str, done: int, total: int) -> None:
            advance(done, total, f"pulling {feed}")

        results = pull_all(
            engine,
            chosen,
            settings=cli.settings,
            now=datetime.now(UTC),
            references=ReferenceCache(),
            progress=files_done,
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
    feeds = feed_list(state(ctx), feeds_file)
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

    from ratebook.workflows.schedule_feeds import feed_statuses
    from ratebook.workflows.stream_status import stream_statuses

    cli = state(ctx)
    # without a feeds file (none given, none in its usual place), the streams' positions only
    alone = feeds_file is None and not cli.settings.feeds_file.exists()
    feeds = [] if alone else feed_list(cli, feeds_file)
    engine = run(cli.reader)
    statuses = run(lambda: feed_statuses(engine, feeds, now=datetime.now(UTC)))
    rows = [
        {
            "feed": s.feed,
            "last_run": f"{s.history.last_started:%Y-%m-%d %H:%M:%S}Z"
            if s.history.last_started
            else None,
            "status": s.history.last_status,
            "files_imported": s.history.files_imported,
            "failures_in_a_row": s.history.failures_in_a_row,
            "last_error": s.history.last_error,
            "next_run": f"{s.next_run:%Y-%m-%d %H:%M:%S}Z",
        }
        for s in statuses
    ]
    streams = run(lambda: stream_statuses(engine))
    if alone and not streams:
        err.print(
            f"error: {cli.settings.feeds_file}: FILE_NOT_FOUND no feeds file, and no stream"
            " has stored a position yet",
            markup=False,
        )
        raise typer.Exit(code=1)
    if not alone:
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
    if streams and fmt is OutputFormat.TABLE:
        render(
            [
                {
                    **s,
                    "group": s["group_id"],
                    "events/s": s["events_per_second"],
                    "updated": f"{s['updated_at']:%Y-%m-%d %H:%M:%S}Z",
                }
                for s in streams
            ],
            [
                "group",
                "topic",
                "partition",
                "next_offset",
                "lag",
                "events/s",
                "batch_ms",
                "updated",
                "last_error",
            ],
            fmt,
            out,
            title="Streams (positions stored with the events)",
            right=["partition", "next_offset", "lag", "events/s", "batch_ms"],
            prose=["last_error"],
        )
