"""Billing commands: ``balances``, ``rerate``, ``cycle close``, ``invoices``, ``statement`` and
``statements``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from ratebook.cli.common import (
    EntityOption,
    FormatOption,
    PeriodOption,
    WorkersOption,
    err,
    out,
    progress_bar,
    run,
    state,
)
from ratebook.render.listing import OutputFormat, render

PANEL = "Billing"

commands = typer.Typer()
cycle_app = typer.Typer(help="Billing cycles.", no_args_is_help=True)
invoices_app = typer.Typer(help="Issued invoices and their hand-off.", no_args_is_help=True)

commands.add_typer(cycle_app, name="cycle", rich_help_panel=PANEL)
commands.add_typer(invoices_app, name="invoices", rich_help_panel=PANEL)


@commands.command(rich_help_panel=PANEL)
def balances(
    ctx: typer.Context,
    period: PeriodOption,
    fmt: FormatOption = OutputFormat.TABLE,
    entity: EntityOption = None,
) -> None:
    """Per-customer usage and charges for a month, a line per unit."""
    from ratebook.workflows import report_usage

    engine = run(state(ctx).reader)
    lines = run(lambda: report_usage.balances(engine, period, entity_code=entity))
    rows = [
        {
            "account": b.account,
            "unit": b.unit,
            "records": b.records,
            "billed_quantity": b.billed_quantity,
            "charge": b.charge,
            "currency": b.currency,
        }
        for b in lines
    ]
    render(
        rows,
        ["account", "unit", "records", "billed_quantity", "charge", "currency"],
        fmt,
        out,
        title=f"Balances {period}",
        right=["records", "billed_quantity", "charge"],
    )


@commands.command(rich_help_panel=PANEL)
def statement(
    ctx: typer.Context,
    customer: Annotated[str, typer.Option(help="Customer account.")],
    period: PeriodOption,
    out_file: Annotated[Path, typer.Option("--out", help="CSV (or PDF) file to write.")],
    pdf: Annotated[bool, typer.Option("--pdf", help="The itemised PDF statement.")] = False,
    entity: EntityOption = None,
) -> None:
    """Write a customer's monthly statement: usage CSV, or the itemised PDF with --pdf."""
    from ratebook.workflows import report_usage

    engine = run(state(ctx).reader)
    if pdf:
        from ratebook.workflows.statement_pdf import write_statement_pdf

        made = run(
            lambda: write_statement_pdf(
                engine, account=customer, period=period, out=out_file, entity_code=entity
            )
        )
        out.print(
            f"{made.path}: statement {made.number}, {made.items} records, "
            f"{made.total} {made.currency}"
        )
        return
    result = run(
        lambda: report_usage.write_statement(
            engine, account=customer, period=period, out=out_file, entity_code=entity
        )
    )
    out.print(f"{result.path}: {result.lines} records, total {result.total} {result.currency}")


@commands.command(rich_help_panel=PANEL)
def statements(
    ctx: typer.Context,
    period: PeriodOption,
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write into.")],
    entity: EntityOption = None,
) -> None:
    """Write the statement of every customer with usage in the month."""
    from ratebook.workflows import report_usage

    engine = run(state(ctx).reader)
    with progress_bar("writing statements") as advance:
        results = run(
            lambda: report_usage.write_statements(
                engine, period=period, out_dir=out_dir, entity_code=entity, progress=advance
            )
        )
    out.print(f"{len(results)} statements written to {out_dir}")


@commands.command(rich_help_panel=PANEL)
def rerate(
    ctx: typer.Context,
    period: PeriodOption,
    customer: Annotated[str | None, typer.Option(help="Only this customer account.")] = None,
    workers: WorkersOption = 1,
    fmt: FormatOption = OutputFormat.TABLE,
    entity: EntityOption = None,
) -> None:
    """Re-rate a month with the rates in force now (after 'rates import --correct')."""
    from ratebook.money import AMOUNT_SCALE, format_fixed
    from ratebook.workflows.rerate import rerate as rerate_period

    engine = run(state(ctx).store)
    label = (
        f"re-rating {period}: customers"
        if workers > 1 and customer is None
        else f"re-rating {period}: read, price, book"
    )
    with progress_bar(label) as advance:
        result = run(
            lambda: rerate_period(
                engine,
                period,
                account=customer,
                entity_code=entity,
                progress=advance,
                workers=workers,
            )
        )

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


@cycle_app.command("close")
def cycle_close(ctx: typer.Context, period: PeriodOption, entity: EntityOption = None) -> None:
    """Close a month: bill recurring fees, settle volume tiers, invoice or carry forward."""
    from ratebook.billing.compose import money_text
    from ratebook.money import minor_places
    from ratebook.workflows.close_cycle import close_cycle
    from ratebook.workflows.issue_invoices import invoice_id_text

    engine = run(state(ctx).store)
    with progress_bar(f"closing {period}") as advance:
        result = run(lambda: close_cycle(engine, period, entity_code=entity, progress=advance))
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
    from ratebook.billing.compose import money_text
    from ratebook.money import minor_places
    from ratebook.workflows import invoices as invoice_flows
    from ratebook.workflows.issue_invoices import invoice_id_text

    engine = run(state(ctx).reader)
    found, rows = run(
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
            "net": money_text(r.billed_net, places),
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
    from ratebook.workflows import invoices as invoice_flows

    engine = run(state(ctx).reader)
    row, doc = run(lambda: invoice_flows.get_invoice(engine, number, entity_code=entity))
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
    from ratebook.workflows import invoices as invoice_flows

    engine = run(state(ctx).reader)
    written = run(
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
    attempts: Annotated[int, typer.Option(min=1, max=20, help="Tries per invoice.")] = 5,
    timeout: Annotated[
        int, typer.Option(min=1, max=300, help="Seconds each attempt may take.")
    ] = 10,
    entity: EntityOption = None,
) -> None:
    """POST each invoice not yet delivered to URL, signed (HMAC-SHA256) and retried.

    The signing secret is read from $RATEBOOK_WEBHOOK_SECRET (or --secret-env)."""

    from ratebook.workflows.deliver_invoices import deliver_invoices

    secret = os.environ.get(secret_env, "")
    if not secret:
        err.print(f"error: NO_SECRET set the signing secret in ${secret_env}", markup=False)
        raise typer.Exit(code=1)
    engine = run(state(ctx).store)
    with progress_bar("delivering invoices") as advance:
        result = run(
            lambda: deliver_invoices(
                engine,
                url,
                secret.encode(),
                period=period,
                attempts=attempts,
                timeout=timeout,
                entity_code=entity,
                progress=advance,
            )
        )
    out.print(
        f"{result.delivered} delivered, {result.already} already delivered, "
        f"{result.failed} failed after {attempts} attempts"
        + (f"; {result.retries} retries" if result.retries else "")
        + (f"; last error: {result.last_error}" if result.last_error else ""),
        markup=False,
    )
    if result.failed:
        raise typer.Exit(code=1)
