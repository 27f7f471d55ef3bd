"""Setup commands: ``init``, ``migrate``, ``entities``, ``customers``, ``rates``, ``subscriptions``,
``tax``, ``policy`` and ``demo``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ratebook.cli.common import (
    EntityOption,
    FormatOption,
    err,
    import_progress,
    out,
    run,
    state,
)
from ratebook.errors import InputError
from ratebook.render.listing import OutputFormat, render

if TYPE_CHECKING:
    from datetime import date

PANEL = "Setup"

commands = typer.Typer()
customers_app = typer.Typer(help="Customers and their numbers.", no_args_is_help=True)
rates_app = typer.Typer(help="Rate tables.", no_args_is_help=True)
entities_app = typer.Typer(help="Legal entities billing in this deployment.", no_args_is_help=True)
tax_app = typer.Typer(help="Tax rates by invoice line category.", no_args_is_help=True)
subscriptions_app = typer.Typer(help="Recurring plans.", no_args_is_help=True)

commands.add_typer(customers_app, name="customers", rich_help_panel=PANEL)
commands.add_typer(rates_app, name="rates", rich_help_panel=PANEL)
commands.add_typer(entities_app, name="entities", rich_help_panel=PANEL)
commands.add_typer(tax_app, name="tax", rich_help_panel=PANEL)
commands.add_typer(subscriptions_app, name="subscriptions", rich_help_panel=PANEL)


@commands.command(rich_help_panel=PANEL)
def migrate(ctx: typer.Context) -> None:
    """Bring the store to this Ratebook's schema (commands that write do it themselves)."""
    from ratebook.workflows.init_entity import store_schema

    engine = run(state(ctx).store)
    out.print(f"the store is at schema {store_schema(engine)}")


@commands.command(rich_help_panel=PANEL)
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
    from ratebook.money import AMOUNT_SCALE, format_fixed
    from ratebook.workflows.init_entity import init_entity

    cli = state(ctx)
    engine = run(cli.store)
    result = run(
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


@customers_app.command("import")
def customers_import(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="CSV: account,name,rate_table,numbers[,valid_from,valid_to]")
    ],
    entity: EntityOption = None,
) -> None:
    """Import or update customers, their numbers and rate tables."""
    from ratebook.workflows.import_customers import import_customers

    engine = run(state(ctx).store)
    result = run(lambda: import_customers(engine, file, entity_code=entity))
    out.print(
        f"{file}: {result.rows} rows; {result.customers_created} customers created,"
        f" {result.identifiers_added} numbers added, {result.assignments_added} rate"
        " assignments added"
    )


@rates_app.command("convert-cgrates")
def rates_convert_cgrates(
    folder: Annotated[Path, typer.Argument(help="A CGRateS tariff plan folder (its CSV files).")],
    rating_plan: Annotated[str, typer.Option(help="The rating plan to convert, e.g. RP_RETAIL.")],
    name: Annotated[str, typer.Option(help="The rate table's name.")],
    effective_from: Annotated[str, typer.Option(help="First day in force, YYYY-MM-DD.")],
    target: Annotated[Path, typer.Option("--out", help="The YAML rate table to write.")],
) -> None:
    """Write a CGRateS rating plan as a YAML rate table, to review and then import."""
    from ratebook.workflows.convert_cgrates import convert_cgrates

    rows = run(
        lambda: convert_cgrates(
            folder, rating_plan, name=name, effective_from=effective_from, out=target
        )
    )
    out.print(
        f"{target}: rate table {name} with {rows} rows; review it, then"
        f" 'ratebook rates import {target}'"
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
    columns: Annotated[
        str | None,
        typer.Option(
            metavar="COLUMN=HEADER,...",
            help="A deck's own header names, e.g. prefix=Code,destination=Name,rate=Cost"
            " (CSV deck).",
        ),
    ] = None,
    mapping: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="Another engine's deck layout: astpp (CSV deck; docs/formats.md).",
        ),
    ] = None,
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
    """Import a rate table: a YAML file with its versions, or a CSV deck as one version.

    One function: a YAML table and a CSV deck are the two forms of one command."""
    from ratebook.workflows.import_rate_table import import_rate_table
    from ratebook.workflows.import_rates import column_map, import_rates

    engine = run(state(ctx).store)
    if file.suffix.lower() in (".yaml", ".yml"):
        if name or effective_from or columns or mapping:
            err.print(
                "error: a YAML rate table names itself and its versions, and its rows name"
                " their columns; drop --name, --effective-from, --columns and --mapping"
            )
            raise typer.Exit(code=2)
        table = run(lambda: import_rate_table(engine, file, entity_code=entity, correct=correct))
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
    mapped = run(lambda: column_map(columns))
    result = run(
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
            columns=mapped,
            mapping=mapping,
        )
    )
    version = f"rate table {result.table}, version from {effective_from}"
    if result.created:
        revision = f" (revision {result.revision})" if result.revision > 1 else ""
        out.print(f"{file}: {version}{revision}, {result.rows} rows")
    else:
        out.print(f"{file}: {version} already imported; nothing changed")


@commands.command(rich_help_panel=PANEL)
def demo(
    ctx: typer.Context,
    records: Annotated[int, typer.Option(help="CDRs to generate.")] = 200_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 2026,
) -> None:
    """Generate a realistic month in this directory and run the whole pipeline on it."""
    from ratebook.workflows.run_demo import run_demo

    cli = state(ctx)
    engine = run(cli.store)
    run(
        lambda: run_demo(
            engine,
            cli.settings,
            Path.cwd(),
            out,
            records=records,
            seed=seed,
            progress=import_progress,
        )
    )


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
    from ratebook.billing.tax import Treatment
    from ratebook.money import AMOUNT_SCALE, format_fixed
    from ratebook.workflows.billing_setup import set_tax
    from ratebook.workflows.init_entity import init_entity

    engine = run(state(ctx).store)
    result = run(
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
        run(
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
    from ratebook.money import AMOUNT_SCALE, format_fixed
    from ratebook.workflows.init_entity import list_entities

    engine = run(state(ctx).reader)
    found = list_entities(engine)
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


def _date(text: str | None, option: str) -> date | None:
    from datetime import date

    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError("BAD_DATE", f"{text!r} is not a date (YYYY-MM-DD)", path=option) from None


@subscriptions_app.command("import")
def subscriptions_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Subscriptions CSV.")],
    entity: EntityOption = None,
) -> None:
    """Import subscriptions (reference,account,plan,fee,interval,billing,starts_on,...)."""
    from ratebook.workflows import manage_subscriptions

    engine = run(state(ctx).store)
    result = run(
        lambda: manage_subscriptions.import_subscriptions(engine, file, entity_code=entity)
    )
    out.print(
        f"{file}: {result.rows} rows, {result.added} added, {result.ended} ended, "
        f"{result.unchanged} unchanged"
    )


@subscriptions_app.command("add")
def subscriptions_add(
    ctx: typer.Context,
    reference: Annotated[str, typer.Option(help="Your id for the subscription.")],
    customer: Annotated[str, typer.Option(help="Customer account.")],
    plan: Annotated[str, typer.Option(help="Plan name printed on invoices.")],
    fee: Annotated[str, typer.Option(help="Fee per interval, e.g. 49.00.")],
    starts_on: Annotated[str, typer.Option(help="First day of service, YYYY-MM-DD.")],
    interval: Annotated[str, typer.Option(help="monthly or annual.")] = "monthly",
    billing: Annotated[str, typer.Option(help="advance or arrears.")] = "advance",
    ends_on: Annotated[str | None, typer.Option(help="Last day of service.")] = None,
    category: Annotated[str, typer.Option(help="Invoice line category, for tax.")] = "recurring",
    entity: EntityOption = None,
) -> None:
    """Add one subscription."""
    from ratebook.workflows import manage_subscriptions

    engine = run(state(ctx).store)
    values = {
        "reference": reference,
        "account": customer,
        "plan": plan,
        "fee": fee,
        "interval": interval,
        "billing": billing,
        "starts_on": starts_on,
        "ends_on": ends_on or "",
        "category": category,
    }
    spec = run(lambda: manage_subscriptions.parse_spec(values))
    result = run(lambda: manage_subscriptions.add_subscription(engine, spec, entity_code=entity))
    out.print(f"subscription {reference}: " + ("added" if result.added else "unchanged"))


@subscriptions_app.command("end")
def subscriptions_end(
    ctx: typer.Context,
    reference: Annotated[str, typer.Argument(help="The subscription's reference.")],
    ends_on: Annotated[str, typer.Option(help="Last day of service, YYYY-MM-DD.")],
    entity: EntityOption = None,
) -> None:
    """End a subscription."""
    from ratebook.workflows import manage_subscriptions

    engine = run(state(ctx).store)
    last = run(lambda: _date(ends_on, "--ends-on"))
    assert last is not None
    sub = run(
        lambda: manage_subscriptions.end_subscription(engine, reference, last, entity_code=entity)
    )
    out.print(f"subscription {sub.reference} ({sub.plan}) ends on {sub.ends_on}")


@subscriptions_app.command("list")
def subscriptions_list(
    ctx: typer.Context,
    customer: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    fmt: FormatOption = OutputFormat.TABLE,
    entity: EntityOption = None,
) -> None:
    """Subscriptions."""
    from ratebook.money import AMOUNT_SCALE, format_fixed
    from ratebook.workflows import manage_subscriptions

    engine = run(state(ctx).reader)
    _, subs = run(
        lambda: manage_subscriptions.list_subscriptions(
            engine, account=customer, entity_code=entity
        )
    )
    rows = [
        {
            "reference": s.reference,
            "account": account,
            "plan": s.plan,
            "fee": format_fixed(s.fee, AMOUNT_SCALE, None, min_places=2),
            "interval": s.interval.value,
            "billing": s.billing.value,
            "starts_on": s.starts_on.isoformat(),
            "ends_on": s.ends_on.isoformat() if s.ends_on else None,
            "category": s.category,
        }
        for account, s in subs
    ]
    columns = ["reference", "account", "plan", "fee", "interval", "billing", "starts_on"]
    render(rows, [*columns, "ends_on", "category"], fmt, out, title="Subscriptions", right=["fee"])


@tax_app.command("set")
def tax_set(
    ctx: typer.Context,
    category: Annotated[str, typer.Argument(help="Line category (voice, recurring, ...) or *.")],
    rate: Annotated[str | None, typer.Option(help="Percentage, e.g. 8.")] = None,
    treatment: Annotated[str, typer.Option(help="standard, zero or exempt.")] = "standard",
    label: Annotated[str, typer.Option(help="Name printed on invoices.")] = "SST",
    entity: EntityOption = None,
) -> None:
    """Set the tax of an invoice line category."""
    from ratebook.billing.tax import Treatment
    from ratebook.money import format_fixed
    from ratebook.workflows import billing_setup

    engine = run(state(ctx).store)
    allowed = ("standard", "zero", "exempt")
    if treatment not in allowed:
        err.print(f"error: UNKNOWN_VALUE --treatment is one of {', '.join(allowed)}")
        raise typer.Exit(code=1)
    tax = run(
        lambda: billing_setup.set_tax(
            engine,
            category,
            rate=rate,
            treatment=Treatment(treatment),
            label=label,
            entity_code=entity,
        )
    )
    shown = f"{format_fixed(tax.rate_ppm, 4)}%" if tax.treatment is Treatment.STANDARD else ""
    out.print(f"tax on {tax.category}: {tax.label} {tax.treatment.value} {shown}".rstrip())


@tax_app.command("list")
def tax_list(
    ctx: typer.Context, fmt: FormatOption = OutputFormat.TABLE, entity: EntityOption = None
) -> None:
    """Tax rates by category."""
    from ratebook.money import format_fixed
    from ratebook.workflows import billing_setup

    engine = run(state(ctx).reader)
    rates = run(lambda: billing_setup.list_tax(engine, entity_code=entity))
    rows = [
        {
            "category": t.category,
            "label": t.label,
            "treatment": t.treatment.value,
            "rate": format_fixed(t.rate_ppm, 4),
        }
        for t in rates
    ]
    render(rows, ["category", "label", "treatment", "rate"], fmt, out, title="Tax", right=["rate"])


@commands.command(rich_help_panel=PANEL)
def policy(
    ctx: typer.Context,
    floor: Annotated[str | None, typer.Option(help="Invoicing floor, e.g. 1.00.")] = None,
    max_carry_cycles: Annotated[
        int | None, typer.Option(help="Carry a balance at most this many cycles in a row.")
    ] = None,
    fiscal_year_end: Annotated[
        int | None, typer.Option(help="Month (1-12) whose close invoices every balance.")
    ] = None,
    no_max_carry: Annotated[bool, typer.Option(help="Remove the carry limit.")] = False,
    no_fiscal_year_end: Annotated[bool, typer.Option(help="Remove the year-end rule.")] = False,
    late_usage: Annotated[
        str | None,
        typer.Option(help="Usage of a closed cycle: 'bill' it late, or 'reject' it."),
    ] = None,
    retention_months: Annotated[
        int | None,
        typer.Option(
            metavar="MONTHS", help="Keep the raw content of call records this many months."
        ),
    ] = None,
    no_retention: Annotated[
        bool, typer.Option(help="Keep the raw content of call records for ever.")
    ] = False,
    national_prefix: Annotated[
        str | None,
        typer.Option(help="The trunk prefix your switches write before national numbers."),
    ] = None,
    international_prefix: Annotated[
        list[str] | None,
        typer.Option(
            help="A prefix your switches write before international numbers (00, 011);"
            " give it once for each."
        ),
    ] = None,
    no_dial_plan: Annotated[
        bool, typer.Option(help="Read numbers by the region's own prefixes again.")
    ] = False,
    entity: EntityOption = None,
) -> None:
    """Show or change the entity's carry-forward, late-usage, retention and dial plan."""
    from ratebook.billing.compose import money_text
    from ratebook.money import minor_places
    from ratebook.workflows import billing_setup

    engine = run(state(ctx).store)
    found = run(
        lambda: billing_setup.set_policy(
            engine,
            floor=floor,
            max_carry_cycles=max_carry_cycles,
            fiscal_year_end_month=fiscal_year_end,
            no_max_carry=no_max_carry,
            no_fiscal_year_end=no_fiscal_year_end,
            late_usage=late_usage,
            retention_months=retention_months,
            no_retention=no_retention,
            national_prefix=national_prefix,
            international_prefixes=international_prefix,
            no_dial_plan=no_dial_plan,
            entity_code=entity,
        )
    )
    out.print(
        f"{found.code}: floor {money_text(found.invoicing_floor, minor_places(found.currency))}"
        f" {found.currency}, carry at most "
        + (
            f"{found.max_carry_cycles} cycles"
            if found.max_carry_cycles is not None
            else "without limit"
        )
        + ", fiscal year ends "
        + (
            f"with month {found.fiscal_year_end_month}"
            if found.fiscal_year_end_month
            else "(not set)"
        )
        + f", late usage: {found.late_usage}"
        + ", raw records kept "
        + (f"{found.retention_months} months" if found.retention_months is not None else "for ever")
    )
    national, international = billing_setup.dial_prefixes(found)
    out.print(
        f"{found.code}: numbers read as in {found.region}: national prefix"
        f" {national or '(none)'}, international prefix {international}"
        + ("" if found.national_prefix or found.international_prefixes else " (the region's)")
    )


@customers_app.command("close")
def customers_close(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(help="Customer account.")],
    on: Annotated[str, typer.Option("--on", help="Day the account closes, YYYY-MM-DD.")],
    entity: EntityOption = None,
) -> None:
    """Close an account: the close of that month issues its final invoice."""
    from ratebook.workflows import billing_setup

    engine = run(state(ctx).store)
    day = run(lambda: _date(on, "--on"))
    assert day is not None
    run(lambda: billing_setup.close_account(engine, account, day, entity_code=entity))
    out.print(f"{account} closes on {day}; the close of {day:%Y-%m} issues its final invoice")


@customers_app.command("floor")
def customers_floor(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(help="Customer account.")],
    floor: Annotated[str | None, typer.Option(help="Its own invoicing floor, e.g. 0.50.")] = None,
    entity_default: Annotated[
        bool, typer.Option("--entity-default", help="Use the entity's floor again.")
    ] = False,
    entity: EntityOption = None,
) -> None:
    """Give a customer its own invoicing floor."""
    from ratebook.workflows import billing_setup

    if (floor is None) == (not entity_default):
        err.print("error: FLOOR_REQUIRED give --floor AMOUNT or --entity-default", markup=False)
        raise typer.Exit(code=1)
    engine = run(state(ctx).store)
    run(lambda: billing_setup.set_customer_floor(engine, account, floor, entity_code=entity))
    out.print(f"{account}: " + (f"invoicing floor {floor}" if floor else "the entity's floor"))


partitions_app = typer.Typer(
    help="The store's period partitions of records, charges and postings (PostgreSQL).",
    no_args_is_help=True,
)
commands.add_typer(partitions_app, name="partitions", rich_help_panel=PANEL)


@partitions_app.command("list")
def partitions_list(ctx: typer.Context, fmt: FormatOption = OutputFormat.TABLE) -> None:
    """Every period partition, with its rows as PostgreSQL last sampled them."""
    from ratebook.workflows.partitions import list_partitions

    engine = run(state(ctx).reader)
    found = run(lambda: list_partitions(engine))
    if not found and engine.dialect.name != "postgresql":
        out.print("SQLite keeps one table of records, charges and postings: no partitions")
        return
    render(
        [
            {
                "table": p.table,
                "period": p.period,
                "partition": p.name,
                "rows": "" if p.rows < 0 else p.rows,
            }
            for p in found
        ],
        ["table", "period", "partition", "rows"],
        fmt,
        out,
        title="Period partitions",
        right=["rows"],
    )


@partitions_app.command("create")
def partitions_create(
    ctx: typer.Context,
    first: Annotated[
        str | None,
        typer.Option(
            "--from", help="First period (YYYY-MM); default this month.", metavar="PERIOD"
        ),
    ] = None,
    months: Annotated[int, typer.Option(help="How many periods from the first.")] = 3,
) -> None:
    """Make the partitions of the months ahead, so that no import has to make one."""
    from ratebook.workflows.partitions import create_partitions

    engine = run(state(ctx).store)
    if engine.dialect.name != "postgresql":
        out.print("SQLite keeps one table of records, charges and postings: nothing to make")
        return
    made = run(lambda: create_partitions(engine, first=first, months=months))
    out.print(f"made {len(made)} partitions" + (": " + ", ".join(made) if made else ""))
