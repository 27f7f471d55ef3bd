"""``ratebook demo``: generate a month in a directory, then init, import rates, customers and
CDRs, close the month, issue its invoices and write statements (CSV, and PDF for the top
customers); and write the tour folder of every command (``ratebook.tour``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from ratebook.billing.tax import Treatment
from ratebook.demodata import generate
from ratebook.intake.tally import ImportProgress
from ratebook.money import AMOUNT_SCALE, format_fixed, parse_fixed
from ratebook.settings import Settings
from ratebook.store.reference import ReferenceCache
from ratebook.tour import write_tour
from ratebook.workflows import report_usage
from ratebook.workflows.billing_setup import set_tax
from ratebook.workflows.close_cycle import close_cycle
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rates import import_rates
from ratebook.workflows.init_entity import init_entity
from ratebook.workflows.statement_pdf import write_statement_pdf

ProgressFactory = Callable[[str], AbstractContextManager[ImportProgress]]


def run_demo(
    engine: Engine,
    settings: Settings,
    directory: Path,
    console: Console,
    *,
    records: int,
    seed: int,
    progress: ProgressFactory,
) -> None:
    """Run the demo month end to end, with its files in ``directory``.

    One function: it is the demo's script, step after step."""
    began = time.perf_counter()
    console.print(f"[bold]Generating[/] {records:,} Asterisk CDRs, 200 customers and a rate deck")
    files = generate(directory / "demo-input", records=records, seed=seed)
    init_entity(
        engine,
        code="DEMO",
        name="Demo Telekom Sdn Bhd",
        currency="MYR",
        timezone="Asia/Kuala_Lumpur",
        region="MY",
        floor="1.00",
    )
    deck = import_rates(
        engine, files.deck, name="standard", effective_from="2026-01-01", entity_code="DEMO"
    )
    console.print(f"rate table standard: {deck.rows} prefixes")
    people = import_customers(engine, files.customers, entity_code="DEMO")
    console.print(f"customers: {people.rows}")
    summary_table = Table(title="Imports", header_style="bold")
    for name in ("file", "read", "rated", "duplicates", "exceptions", "seconds"):
        summary_table.add_column(name, justify="left" if name == "file" else "right")
    by_code: dict[str, int] = {}
    references = ReferenceCache()
    for path in files.cdr_files:
        with progress(path.name) as advance:
            s = import_feed(
                engine,
                path,
                format_name="asterisk",
                entity_code="DEMO",
                settings=settings,
                progress=advance,
                references=references,
            )
        summary_table.add_row(
            path.name,
            f"{s.rows_read:,}",
            f"{s.rated:,}",
            f"{s.duplicates:,}",
            f"{s.exceptions:,}",
            "earlier" if s.already_imported else f"{s.seconds:.1f}",
        )
        for code, count in s.by_code.items():
            by_code[code] = by_code.get(code, 0) + count
    console.print(summary_table)
    if by_code:
        console.print(
            "exceptions by code: " + ", ".join(f"{c} {n:,}" for c, n in sorted(by_code.items()))
        )

    # the demo's calls are all voice: a line per customer, in seconds
    lines = report_usage.balances(engine, "2026-10", entity_code="DEMO")
    top = sorted(lines, key=lambda b: parse_fixed(b.charge, AMOUNT_SCALE), reverse=True)[:10]
    table = Table(title="October 2026: top 10 customers by charge", header_style="bold")
    for name in ("account", "name", "records", "billed seconds", "charge (MYR)"):
        table.add_column(name, justify="left" if name in ("account", "name") else "right")
    for b in top:
        billed = f"{Decimal(b.billed_quantity):,}"
        table.add_row(b.account, b.name, f"{b.records:,}", billed, b.charge)
    total = sum(parse_fixed(b.charge, AMOUNT_SCALE) for b in lines)
    console.print(table)
    console.print(
        f"{len({b.account for b in lines})} customers billed,"
        f" total {format_fixed(total, AMOUNT_SCALE, 4)} MYR"
    )
    set_tax(engine, "*", rate="8", treatment=Treatment.STANDARD, label="SST", entity_code="DEMO")
    closed = close_cycle(engine, "2026-10", entity_code="DEMO")
    console.print(
        f"October closed: {closed.invoiced} invoices issued, totalling"
        f" {format_fixed(closed.invoiced_total, AMOUNT_SCALE, 2)} MYR with SST 8%;"
        f" {closed.carried} balances under the 1.00 floor carried forward"
    )
    statements = directory / "statements"
    written = report_usage.write_statements(
        engine, period="2026-10", out_dir=statements, entity_code="DEMO"
    )
    for b in top[:3]:
        write_statement_pdf(
            engine,
            account=b.account,
            period="2026-10",
            out=statements / f"{b.account}-2026-10.pdf",
            entity_code="DEMO",
        )
    console.print(
        f"{len(written)} CSV statements and the PDF statements of the top 3 customers written"
        f" to {statements}"
    )
    tour = write_tour(directory / "tour")
    console.print(f"A tour of every command, with small files, is in {tour}: see its README.md")
    console.print(
        f"Try, in {directory}: ratebook invoices list;"
        " ratebook exceptions list --code UNMATCHED_CUSTOMER;"
        " ratebook report regulatory --period 2026-10 --out report",
        markup=False,
    )
    console.print(
        "The web console: ratebook users create NAME --role admin, then ratebook serve and"
        " open http://127.0.0.1:8080/",
        markup=False,
    )
    console.print(f"[bold green]Demo finished[/] in {time.perf_counter() - began:.1f}s")
