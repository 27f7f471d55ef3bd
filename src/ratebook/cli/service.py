"""Service commands: ``serve`` (the REST API and the feed scheduler in one process) and ``keys``."""

from __future__ import annotations

import os
import threading
from typing import Annotated

import typer

from ratebook.cli.common import (
    EntityOption,
    FeedsOption,
    FormatOption,
    err,
    feed_list,
    out,
    run,
    state,
)
from ratebook.render.listing import OutputFormat, render

PANEL = "Service"

commands = typer.Typer()
keys_app = typer.Typer(help="API keys, each confined to one entity.", no_args_is_help=True)

commands.add_typer(keys_app, name="keys", rich_help_panel=PANEL)


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Who holds the key (audited as key:NAME).")],
    scope: Annotated[
        str, typer.Option("--scope", help="Comma-separated: ingest,read,review,admin.")
    ] = "ingest,read",
    entity: EntityOption = None,
) -> None:
    """Create a key; it is printed once and only its SHA-256 is stored."""
    from ratebook.workflows import manage_keys

    engine = run(state(ctx).store)
    scopes = run(lambda: manage_keys.parse_scopes(scope))
    made = run(lambda: manage_keys.create_key(engine, name=name, scopes=scopes, entity_code=entity))
    err.print(
        f"key {made.key.name} for entity {made.key.entity_code} ({','.join(scopes)}); "
        "store it now, it cannot be shown again:"
    )
    out.print(made.secret, markup=False)


@keys_app.command("list")
def keys_list(
    ctx: typer.Context, fmt: FormatOption = OutputFormat.TABLE, entity: EntityOption = None
) -> None:
    """The entity's keys (never their secrets)."""
    from ratebook.workflows import manage_keys

    engine = run(state(ctx).reader)
    found = run(lambda: manage_keys.list_keys(engine, entity_code=entity))
    rows = [
        {
            "name": k.name,
            "prefix": k.prefix,
            "scopes": ",".join(s for s in manage_keys.SCOPES if s in k.scopes),
            "created_by": k.created_by,
            "created_at": k.created_at.isoformat(timespec="seconds"),
            "revoked_at": k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else "",
        }
        for k in found
    ]
    columns = ["name", "prefix", "scopes", "created_by", "created_at", "revoked_at"]
    render(rows, columns, fmt, out, title="API keys")


@keys_app.command("revoke")
def keys_revoke(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The key's name.")],
    entity: EntityOption = None,
) -> None:
    """Revoke a key; requests with it fail from now on."""
    from ratebook.workflows import manage_keys

    engine = run(state(ctx).store)
    key = run(lambda: manage_keys.revoke_key(engine, name, entity_code=entity))
    out.print(f"revoked key {key.name} ({key.prefix})")


@commands.command(rich_help_panel=PANEL)
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    feeds_file: FeedsOption = None,
    no_feeds: Annotated[
        bool, typer.Option("--no-feeds", help="Serve the API only, even with a feeds file.")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1, max=64, help="API server processes, each with its own writer (docs/api.md)."
        ),
    ] = 1,
) -> None:
    """Serve the REST API (OpenAPI at /docs) and run the scheduled feeds, until Ctrl-C.

    With --workers N, N processes share the port; the feeds run in the first, the
    supervisor."""
    from datetime import UTC, datetime

    import uvicorn

    from ratebook.api import create_app
    from ratebook.workflows.meters import configured_meters
    from ratebook.workflows.schedule_feeds import Scheduler

    cli = state(ctx)
    run(lambda: configured_meters(cli.settings))  # a bad meters file stops the start
    engine = run(cli.store)  # migrates before the first request
    path = feeds_file or cli.settings.feeds_file
    stop = threading.Event()

    def pause(seconds: float) -> None:  # float-ok: a wait, not money
        stop.wait(seconds)

    app = create_app(cli.settings, engine=engine, writer_process=cli.settings.api_writer_process)
    references = app.state.references
    if not no_feeds and path.exists():
        feeds = feed_list(cli, path)
        scheduler = Scheduler(
            engine=engine,
            feeds=feeds,
            settings=cli.settings,
            clock=lambda: datetime.now(UTC),
            sleep=pause,
            references=references,  # one copy of each entity's reference data
        )
        threading.Thread(
            target=scheduler.run, kwargs={"stop": stop.is_set}, name="feeds", daemon=True
        ).start()
        err.print(f"scheduling {len(feeds)} feeds from {path}")
        from ratebook.workflows.consume_stream import start_streams

        for feed, config in run(
            lambda: start_streams(engine, path, settings=cli.settings, stop=stop)
        ):
            err.print(
                f"consuming {', '.join(config.topics)} as group {config.group!r} (feed {feed})",
                markup=False,
            )
    err.print(
        f"serving the API on http://{host}:{port} (OpenAPI at /docs)"
        + (f" in {workers} processes" if workers > 1 else "")
        + "; Ctrl-C to stop"
    )
    try:
        if workers == 1:
            uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
        else:
            # each worker process builds its own app from the settings, which it reads from
            # the environment: the store this command was given goes there
            os.environ["RATEBOOK_DATABASE_URL"] = cli.settings.database_url
            uvicorn.run(
                "ratebook.api.app:app_from_environment",
                factory=True,
                workers=workers,
                host=host,
                port=port,
                log_level="warning",
                access_log=False,
            )
    finally:
        stop.set()


@commands.command(rich_help_panel=PANEL)
def consume(
    ctx: typer.Context,
    topic: Annotated[
        list[str], typer.Option("--topic", metavar="TOPIC", help="A topic to read (repeat).")
    ],
    group: Annotated[
        str, typer.Option(metavar="GROUP", help="The consumer group; its members share.")
    ] = "ratebook",
    bootstrap_servers: Annotated[
        str, typer.Option(metavar="HOST:PORT", help="The brokers, comma-separated.")
    ] = "127.0.0.1:9092",
    entity: Annotated[
        str | None,
        typer.Option(
            metavar="CODE",
            help="Every event's entity; without it, each message names its own in the"
            " --entity-header header (and --dead-letter-topic is needed).",
        ),
    ] = None,
    entity_header: Annotated[
        str, typer.Option(metavar="NAME", help="The header naming an event's entity.")
    ] = "ratebook-entity",
    origin: Annotated[
        str, typer.Option(metavar="ORIGIN", help="The origin of events naming none.")
    ] = "kafka",
    batch_size: Annotated[
        int, typer.Option(min=1, max=100_000, metavar="N", help="Most messages per transaction.")
    ] = 1000,
    batch_wait: Annotated[
        float,  # float-ok: seconds
        typer.Option(min=0.01, metavar="SECONDS", help="Longest wait to fill a batch."),
    ] = 0.5,
    dead_letter_topic: Annotated[
        str | None,
        typer.Option(metavar="TOPIC", help="Where messages naming no known entity go."),
    ] = None,
    client: Annotated[
        list[str] | None,
        typer.Option(
            "--client", metavar="KEY=VALUE", help="A librdkafka setting passed through (repeat)."
        ),
    ] = None,
    stop_when_idle: Annotated[
        float | None,  # float-ok: seconds
        typer.Option(metavar="SECONDS", help="Leave after this long without a message."),
    ] = None,
) -> None:
    """Consume usage events from Kafka as a member of a consumer group, each batch applied
    exactly once (docs/streaming.md), until Ctrl-C or SIGTERM."""
    import signal

    from ratebook.model.stream import StreamConfig
    from ratebook.workflows.consume_stream import StreamTotals
    from ratebook.workflows.consume_stream import consume as consume_stream

    cli = state(ctx)
    settings_given: dict[str, str] = {}
    for item in client or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            err.print(f"error: --client {item!r}: BAD_CLIENT_SETTING give KEY=VALUE")
            raise typer.Exit(code=2)
        settings_given[key.strip()] = value
    config = run(
        lambda: StreamConfig(
            bootstrap=bootstrap_servers,
            topics=tuple(topic),
            group=group,
            entity=entity,
            entity_header=entity_header,
            origin=origin,
            batch_size=batch_size,
            batch_wait=batch_wait,
            dead_letter_topic=dead_letter_topic,
            client=settings_given,
        )
    )
    from ratebook.workflows.meters import configured_meters

    run(lambda: configured_meters(cli.settings))  # a bad meters file stops the start
    engine = run(cli.store)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    def line(totals: StreamTotals) -> str:
        return (
            f"{totals.batches} batches: read {totals.read:,} = rated {totals.rated:,}"
            f" + duplicates {totals.duplicates:,} + exceptions {totals.exceptions:,};"
            f" dead-lettered {totals.dead_lettered:,}"
        )

    err.print(
        f"consuming {', '.join(topic)} from {bootstrap_servers} as group {group!r}; Ctrl-C to stop",
        markup=False,
    )
    with err.status(f"waiting for messages from {bootstrap_servers}") as status:

        def told(totals: StreamTotals) -> None:
            status.update(line(totals) + "; waiting for more")

        totals = consume_stream(
            engine,
            config,
            settings=cli.settings,
            stop=stop,
            idle_exit=stop_when_idle,
            on_batch=told,
        )
    out.print(f"consumed {line(totals)}", markup=False)
