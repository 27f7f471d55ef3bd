"""Billing commands: ``cycle close``, ``invoices``, ``subscriptions``, ``tax`` and ``policy``.

Registered on the main ``ratebook`` app by :mod:`ratebook.cli`.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from ratebook.billing.compose import money_text
from ratebook.billing.tax import Treatment
from ratebook.cli import (
    EntityOption,
    FormatOption,
    PeriodOption,
    _run,
    _state,
    app,
    customers_app,
    err,
    out,
)
from ratebook.errors import InputError
from ratebook.money import AMOUNT_SCALE, format_fixed, minor_places
from ratebook.render.listing import OutputFormat, render
from ratebook.workflows import billing_setup
from ratebook.workflows import invoices as invoice_flows
from ratebook.workflows.close_cycle import close_cycle, invoice_id_text

cycle_app = typer.Typer(help="Billing cycles.", no_args_is_help=True)
invoices_app = typer.Typer(help="Issued invoices and their hand-off.", no_args_is_help=True)
subscriptions_app = typer.Typer(help="Recurring plans.", no_args_is_help=True)
tax_app = typer.Typer(help="Tax rates by invoice line category.", no_args_is_help=True)
app.add_typer(cycle_app, name="cycle")
app.add_typer(invoices_app, name="invoices")
app.add_typer(subscriptions_app, name="subscriptions")
app.add_typer(tax_app, name="tax")


def _date(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError("BAD_DATE", f"{text!r} is not a date (YYYY-MM-DD)", path=option) from None


@cycle_app.command("close")
def cycle_close(ctx: typer.Context, period: PeriodOption, entity: EntityOption = None) -> None:
    """Close a month: bill recurring fees, settle volume tiers, invoice or carry forward."""
    engine = _run(_state(ctx).store)
    result = _run(lambda: close_cycle(engine, period, entity_code=entity))
    if result.already_closed:
        out.print(f"{period} is already closed; nothing changed")
        return
    places = minor_places(result.currency)

    def money(value: int) -> str:
        return money_text(value, places)

    numbers = result.invoice_numbers
    span = (
        f" ({invoice_id_text(result.entity, numbers[0])} to "
        f"{invoice_id_text(result.entity, numbers[-1])})"
        if numbers
        else ""
    )
    out.print(
        f"closed {period} for {result.entity}: {result.customers} customers, "
        f"{result.invoiced} invoiced{span} totalling {money(result.invoiced_total)} "
        f"{result.currency}, {result.carried} carried forward "
        f"({money(result.carried_total)} {result.currency}), "
        f"{result.recurring} recurring fees billed"
    )


@invoices_app.command("list")
def invoices_list(
    ctx: typer.Context,
    period: Annotated[str | None, typer.Option(help="Only this month, YYYY-MM.")] = None,
    customer: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    fmt: FormatOption = OutputFormat.TABLE,
    entity: EntityOption = None,
) -> None:
    """Issued invoices."""
    engine = _run(_state(ctx).store)
    found, rows = _run(
        lambda: invoice_flows.list_invoices(
            engine, period=period, account=customer, entity_code=entity
        )
    )
    places = minor_places(found.currency)
    listing = [
        {
            "number": r.number,
            "invoice": invoice_id_text(found.code, r.number),
            "period": r.period,
            "account": r.account,
            "net": money_text(r.net, places),
            "tax": money_text(r.tax, places),
            "total": money_text(r.total, places),
            "currency": r.currency,
            "reason": r.reason,
            "issued_at": r.issued_at.strftime("%Y-%m-%d %H:%M:%SZ"),
        }
        for r in rows
    ]
    columns = ["number", "invoice", "period", "account", "net", "tax", "total", "currency"]
    render(
        listing,
        [*columns, "reason", "issued_at"],
        fmt,
        out,
        title="Invoices",
        right=["number", "net", "tax", "total"],
    )


@invoices_app.command("show")
def invoices_show(
    ctx: typer.Context,
    number: Annotated[int, typer.Argument(help="Invoice number.")],
    fmt: FormatOption = OutputFormat.TABLE,
    entity: EntityOption = None,
) -> None:
    """One invoice: its lines, tax and totals."""
    engine = _run(_state(ctx).store)
    row, doc = _run(lambda: invoice_flows.get_invoice(engine, number, entity_code=entity))
    if fmt is OutputFormat.JSON:
        out.file.write(row.document + "\n")
        return
    head = doc["invoice"]
    if fmt is OutputFormat.TABLE:
        out.print(
            f"Invoice {head['id']} for {doc['customer']['account']} ({doc['customer']['name']}),"
            f" period {head['period']}, issued {head['issued_at']}, {head['currency']}",
            markup=False,
        )
    lines: list[dict[str, Any]] = [
        {
            "line": item["line"],
            "kind": item["kind"],
            "description": item["description"],
            "quantity": f"{item['quantity']} {item['unit']}" if "quantity" in item else "",
            "rate": f"{item['unit_price']}/{item['per']}" if "unit_price" in item else "",
            "records": item["records"],
            "tax": item["tax"]["treatment"]
            + (f" {item['tax']['rate']}%" if item["tax"]["treatment"] == "standard" else ""),
            "amount": item["amount"],
        }
        for item in doc["lines"]
    ]
    columns = ["line", "kind", "description", "quantity", "rate", "records", "tax", "amount"]
    right = ["line", "quantity", "rate", "records", "amount"]
    render(lines, columns, fmt, out, title=f"Invoice {head['id']}", right=right)
    if fmt is OutputFormat.TABLE:
        for tax in doc["tax"]:
            out.print(
                f"  {tax['label']} {tax['treatment']} {tax['rate']}% on {tax['base']}: "
                f"{tax['amount']}",
                markup=False,
            )
        totals = doc["totals"]
        out.print(
            f"  net {totals['net']}  tax {totals['tax']}  rounding carried "
            f"{totals['rounding_carried']}  total {totals['total']} {head['currency']}",
            markup=False,
        )


@invoices_app.command("export")
def invoices_export(
    ctx: typer.Context,
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write into.")],
    fmt: Annotated[str, typer.Option("--format", help="json or ubl (UBL 2.1 XML).")] = "json",
    period: Annotated[str | None, typer.Option(help="Only this month, YYYY-MM.")] = None,
    number: Annotated[int | None, typer.Option(help="Only this invoice number.")] = None,
    entity: EntityOption = None,
) -> None:
    """Write invoices' hand-off documents, one file per invoice."""
    engine = _run(_state(ctx).store)
    written = _run(
        lambda: invoice_flows.export_invoices(
            engine, out_dir, fmt=fmt.lower(), period=period, number=number, entity_code=entity
        )
    )
    out.print(f"{len(written)} invoices written to {out_dir}")


@invoices_app.command("deliver")
def invoices_deliver(
    ctx: typer.Context,
    url: Annotated[str, typer.Option(help="The invoice generator's webhook URL.")],
    secret_env: Annotated[
        str, typer.Option(help="Environment variable holding the signing secret.")
    ] = "RATEBOOK_WEBHOOK_SECRET",  # noqa: S107 (the variable's name, not a secret)
    period: Annotated[str | None, typer.Option(help="Only this month, YYYY-MM.")] = None,
    attempts: Annotated[int, typer.Option(help="Tries per invoice.")] = 5,
    entity: EntityOption = None,
) -> None:
    """POST each invoice not yet delivered to URL, signed (HMAC-SHA256) and retried."""
    import os

    from ratebook.workflows.deliver_invoices import deliver_invoices

    secret = os.environ.get(secret_env, "")
    if not secret:
        err.print(f"error: NO_SECRET set the signing secret in ${secret_env}", markup=False)
        raise typer.Exit(code=1)
    engine = _run(_state(ctx).store)
    result = _run(
        lambda: deliver_invoices(
            engine, url, secret.encode(), period=period, attempts=attempts, entity_code=entity
        )
    )
    out.print(
        f"{result.delivered} delivered, {result.already} already delivered, "
        f"{result.failed} failed after {attempts} attempts"
    )
    if result.failed:
        raise typer.Exit(code=1)


@subscriptions_app.command("import")
def subscriptions_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Subscriptions CSV.")],
    entity: EntityOption = None,
) -> None:
    """Import subscriptions (reference,account,plan,fee,interval,billing,starts_on,...)."""
    engine = _run(_state(ctx).store)
    result = _run(lambda: billing_setup.import_subscriptions(engine, file, entity_code=entity))
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
    engine = _run(_state(ctx).store)
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
    spec = _run(lambda: billing_setup.parse_spec(values))
    result = _run(lambda: billing_setup.add_subscription(engine, spec, entity_code=entity))
    out.print(f"subscription {reference}: " + ("added" if result.added else "unchanged"))


@subscriptions_app.command("end")
def subscriptions_end(
    ctx: typer.Context,
    reference: Annotated[str, typer.Argument(help="The subscription's reference.")],
    ends_on: Annotated[str, typer.Option(help="Last day of service, YYYY-MM-DD.")],
    entity: EntityOption = None,
) -> None:
    """End a subscription."""
    engine = _run(_state(ctx).store)
    last = _run(lambda: _date(ends_on, "--ends-on"))
    assert last is not None
    sub = _run(lambda: billing_setup.end_subscription(engine, reference, last, entity_code=entity))
    out.print(f"subscription {sub.reference} ({sub.plan}) ends on {sub.ends_on}")


@subscriptions_app.command("list")
def subscriptions_list(
    ctx: typer.Context,
    customer: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    fmt: FormatOption = OutputFormat.TABLE,
    entity: EntityOption = None,
) -> None:
    """Subscriptions."""
    engine = _run(_state(ctx).store)
    _, subs = _run(
        lambda: billing_setup.list_subscriptions(engine, account=customer, entity_code=entity)
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
    engine = _run(_state(ctx).store)
    allowed = ("standard", "zero", "exempt")
    if treatment not in allowed:
        err.print(f"error: UNKNOWN_VALUE --treatment is one of {', '.join(allowed)}")
        raise typer.Exit(code=1)
    tax = _run(
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
    engine = _run(_state(ctx).store)
    rates = _run(lambda: billing_setup.list_tax(engine, entity_code=entity))
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


@app.command()
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
    entity: EntityOption = None,
) -> None:
    """Show or change the entity's carry-forward and late-usage policy."""
    engine = _run(_state(ctx).store)
    found = _run(
        lambda: billing_setup.set_policy(
            engine,
            floor=floor,
            max_carry_cycles=max_carry_cycles,
            fiscal_year_end_month=fiscal_year_end,
            no_max_carry=no_max_carry,
            no_fiscal_year_end=no_fiscal_year_end,
            late_usage=late_usage,
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
    )


@customers_app.command("close")
def customers_close(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(help="Customer account.")],
    on: Annotated[str, typer.Option("--on", help="Day the account closes, YYYY-MM-DD.")],
    entity: EntityOption = None,
) -> None:
    """Close an account: the close of that month issues its final invoice."""
    engine = _run(_state(ctx).store)
    day = _run(lambda: _date(on, "--on"))
    assert day is not None
    _run(lambda: billing_setup.close_account(engine, account, day, entity_code=entity))
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
    if (floor is None) == (not entity_default):
        err.print("error: FLOOR_REQUIRED give --floor AMOUNT or --entity-default", markup=False)
        raise typer.Exit(code=1)
    engine = _run(_state(ctx).store)
    _run(lambda: billing_setup.set_customer_floor(engine, account, floor, entity_code=entity))
    out.print(f"{account}: " + (f"invoicing floor {floor}" if floor else "the entity's floor"))
