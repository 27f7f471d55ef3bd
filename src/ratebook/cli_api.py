"""Service commands: ``entities``, ``keys`` and ``serve`` (the REST API and the feed
scheduler in one process)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Annotated

import typer

from ratebook.billing.tax import Treatment
from ratebook.cli import (
    EntityOption,
    FeedsOption,
    FormatOption,
    _feeds,
    _run,
    _state,
    app,
    err,
    out,
)
from ratebook.money import AMOUNT_SCALE, format_fixed
from ratebook.render.listing import OutputFormat, render
from ratebook.workflows import manage_keys
from ratebook.workflows.billing_setup import set_tax
from ratebook.workflows.init_entity import init_entity

entities_app = typer.Typer(help="Legal entities billing in this deployment.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys, each confined to one entity.", no_args_is_help=True)
app.add_typer(entities_app, name="entities")
app.add_typer(keys_app, name="keys")


@entities_app.command("create")
def entities_create(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="Short code, e.g. MY1.")],
    name: Annotated[str, typer.Option(help="Legal name printed on statements.")],
    currency: Annotated[str, typer.Option(help="ISO 4217 currency.")] = "MYR",
    tz: Annotated[str, typer.Option("--tz", help="IANA time zone.")] = "Asia/Kuala_Lumpur",
    region: Annotated[str, typer.Option(help="Region for national numbers.")] = "MY",
    floor: Annotated[str, typer.Option(help="Invoicing floor.")] = "1.00",
    places: Annotated[int, typer.Option(help="Decimal places of charges.")] = 4,
    rounding: Annotated[str, typer.Option(help="half-up|half-even|up|down")] = "half-up",
    mask_digits: Annotated[
        int, typer.Option("--mask-digits", help="Trailing digits hidden on statements.")
    ] = 3,
    tax: Annotated[
        str | None, typer.Option(help="Standard tax rate in percent for every category.")
    ] = None,
    tax_label: Annotated[str, typer.Option(help="Name of the tax on invoices.")] = "SST",
) -> None:
    """Create an entity (an error if the code is taken)."""
    engine = _run(_state(ctx).store)
    result = _run(
        lambda: init_entity(
            engine,
            code=code,
            name=name,
            currency=currency,
            timezone=tz,
            region=region,
            floor=floor,
            charge_places=places,
            rounding=rounding,
            mask_digits=mask_digits,
        )
    )
    if not result.created:
        err.print(f"error: ENTITY_EXISTS entity {code} already exists; nothing changed")
        raise typer.Exit(code=1)
    if tax is not None:
        _run(
            lambda: set_tax(
                engine,
                "*",
                rate=tax,
                treatment=Treatment.STANDARD,
                label=tax_label,
                entity_code=code,
            )
        )
    e = result.entity
    out.print(
        f"created entity {e.code} ({e.name}, {e.currency}, {e.timezone}, floor "
        f"{format_fixed(e.invoicing_floor, AMOUNT_SCALE, 2)}"
        + (f", {tax_label} {tax}%" if tax is not None else "")
        + ")"
    )


@entities_app.command("list")
def entities_list(ctx: typer.Context, fmt: FormatOption = OutputFormat.TABLE) -> None:
    """Every entity and its settings."""
    from ratebook.store.entities import list_entities

    engine = _run(_state(ctx).store)
    with engine.connect() as conn:
        found = list_entities(conn)
    rows = [
        {
            "code": e.code,
            "name": e.name,
            "currency": e.currency,
            "timezone": e.timezone,
            "region": e.region,
            "floor": format_fixed(e.invoicing_floor, AMOUNT_SCALE, 2),
            "places": e.charge_places,
            "rounding": e.rounding_mode.value,
            "mask_digits": e.mask_digits,
            "late_usage": e.late_usage,
        }
        for e in found
    ]
    render(rows, list(rows[0]) if rows else ["code"], fmt, out, title="Entities")


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
    engine = _run(_state(ctx).store)
    scopes = _run(lambda: manage_keys.parse_scopes(scope))
    made = _run(
        lambda: manage_keys.create_key(engine, name=name, scopes=scopes, entity_code=entity)
    )
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
    engine = _run(_state(ctx).store)
    found = _run(lambda: manage_keys.list_keys(engine, entity_code=entity))
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
    engine = _run(_state(ctx).store)
    key = _run(lambda: manage_keys.revoke_key(engine, name, entity_code=entity))
    out.print(f"revoked key {key.name} ({key.prefix})")


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    feeds_file: FeedsOption = None,
    no_feeds: Annotated[
        bool, typer.Option("--no-feeds", help="Serve the API only, even with a feeds file.")
    ] = False,
) -> None:
    """Serve the REST API (OpenAPI at /docs) and run the scheduled feeds, until Ctrl-C."""
    import uvicorn

    from ratebook.api import create_app
    from ratebook.workflows.schedule_feeds import Scheduler

    state = _state(ctx)
    engine = _run(state.store)  # migrates before the first request
    path = feeds_file or state.settings.feeds_file
    stop = threading.Event()

    def pause(seconds: float) -> None:  # float-ok: a wait, not money
        stop.wait(seconds)

    app = create_app(state.settings, engine=engine)
    if not no_feeds and path.exists():
        feeds = _feeds(state, path)
        scheduler = Scheduler(
            engine=engine,
            feeds=feeds,
            settings=state.settings,
            clock=lambda: datetime.now(UTC),
            sleep=pause,
            references=app.state.references,  # one copy of each entity's reference data
        )
        threading.Thread(
            target=scheduler.run, kwargs={"stop": stop.is_set}, name="feeds", daemon=True
        ).start()
        err.print(f"scheduling {len(feeds)} feeds from {path}")
    err.print(f"serving the API on http://{host}:{port} (OpenAPI at /docs); Ctrl-C to stop")
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
        )
    finally:
        stop.set()
