"""Reading the reference data: ``customers list|show`` and ``rates list|show``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ratebook.cli.common import EntityOption, FormatOption, out, run, state
from ratebook.cli.setup import customers_app, rates_app
from ratebook.render.listing import OutputFormat, render

#: Rows a listing shows unless told otherwise.
DEFAULT_LIMIT = 100
LimitOption = Annotated[
    int, typer.Option(min=1, max=1_000_000, help="Show at most this many.", metavar="N")
]


def _local(version: dict[str, Any]) -> str:
    """A version's start as its table writes it: the local date in the table's zone."""
    from datetime import datetime

    from ratebook.model.tariffs import version_label

    return version_label(datetime.fromisoformat(version["effective_from"]), version["timezone"])


@customers_app.command("list")
def customers_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="active or closed.", metavar="STATUS")] = None,
    limit: LimitOption = DEFAULT_LIMIT,
    fmt: FormatOption = OutputFormat.TABLE,
    entity: EntityOption = None,
) -> None:
    """The entity's customers, by account."""
    from ratebook.money import AMOUNT_SCALE, format_fixed
    from ratebook.workflows.customer_accounts import list_customers

    engine = run(state(ctx).reader)
    found, customers = run(lambda: list_customers(engine, status=status, entity_code=entity))
    rows = [
        {
            "account": c["account"],
            "name": c["name"],
            "status": c["status"],
            "segment": c["segment"],
            "floor": ""
            if c["invoicing_floor"] is None
            else format_fixed(c["invoicing_floor"], AMOUNT_SCALE, 2),
        }
        for c in customers[:limit]
    ]
    render(rows, ["account", "name", "status", "segment", "floor"], fmt, out, title="Customers")
    if fmt is OutputFormat.TABLE and len(customers) > limit:
        out.print(f"{limit} of {len(customers)} customers of {found.code}; --limit N for more")


@customers_app.command("show")
def customers_show(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(help="The customer's account.", metavar="ACCOUNT")],
    fmt: FormatOption = OutputFormat.TABLE,
    entity: EntityOption = None,
) -> None:
    """One customer and its numbers, accounts and patterns, with their validity."""
    from ratebook.workflows.customer_accounts import show_customer

    engine = run(state(ctx).reader)
    found, customer, identifiers = run(lambda: show_customer(engine, account, entity_code=entity))
    zone = found.zone
    rows = [
        {
            "kind": i.kind,
            "value": i.value,
            "valid_from": ""
            if i.valid_from is None
            else f"{i.valid_from.astimezone(zone):%Y-%m-%d %H:%M}",
            "valid_to": ""
            if i.valid_to is None
            else f"{i.valid_to.astimezone(zone):%Y-%m-%d %H:%M}",
        }
        for i in identifiers
    ]
    if fmt is OutputFormat.TABLE:
        out.print(
            f"{customer['account']}: {customer['name']} ({customer['status']},"
            f" {customer['segment']})",
            markup=False,
        )
    render(rows, ["kind", "value", "valid_from", "valid_to"], fmt, out, title="Identifiers")


@rates_app.command("list")
def rates_list(
    ctx: typer.Context, fmt: FormatOption = OutputFormat.TABLE, entity: EntityOption = None
) -> None:
    """Every rate table with its versions (each revision), by name."""
    from ratebook.workflows.rate_tables import list_rate_tables

    engine = run(state(ctx).reader)
    tables = run(lambda: list_rate_tables(engine, entity_code=entity))
    rows = [
        {
            "table": t["name"],
            "effective_from": _local(v),
            "revision": v["revision"],
            "currency": v["currency"] or "",
            "rows": v["rows"],
            "source": v["source"] or "",
        }
        for t in tables
        for v in t["versions"]
    ]
    columns = ["table", "effective_from", "revision", "currency", "rows", "source"]
    render(rows, columns, fmt, out, title="Rate tables", right=["revision", "rows"])


@rates_app.command("show")
def rates_show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The rate table's name.", metavar="NAME")],
    limit: LimitOption = DEFAULT_LIMIT,
    fmt: FormatOption = OutputFormat.TABLE,
    entity: EntityOption = None,
) -> None:
    """A rate table's rows, version by version (the newest revision of each)."""
    from ratebook.workflows.rate_tables import show_rate_table

    engine = run(state(ctx).reader)
    table = run(lambda: show_rate_table(engine, name, entity_code=entity))
    rows = [
        {
            "effective_from": _local(v),
            "revision": v["revision"],
            "service": r["service"],
            "prefix": r["prefix"],
            "destination": r["destination"] or "",
            "band": r["band"],
            "price": r["price"],
            "per": f"{r['rate_unit']}{r['unit']}",
            "tiers": " ".join(f"{t['from']}={t['price']}" for t in r["tiers"] or []),
        }
        for v in table["versions"]
        for r in v["rates"]
    ]
    columns = ["effective_from", "revision", "service", "prefix", "destination", "band"]
    columns += ["price", "per", "tiers"]
    render(rows[:limit], columns, fmt, out, title=f"Rate table {name}", right=["price"])
    if fmt is OutputFormat.TABLE and len(rows) > limit:
        out.print(f"{limit} of {len(rows)} rows; --limit N for more")
