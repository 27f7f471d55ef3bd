"""Regulatory reporting commands: ``report regulatory|file|verify|list|profiles`` and
``retention purge``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ratebook.cli.common import (
    EntityOption,
    FormatOption,
    PeriodOption,
    err,
    out,
    progress_bar,
    run,
    state,
)
from ratebook.render.listing import OutputFormat, render

if TYPE_CHECKING:
    from ratebook.billing.regulatory import Difference
    from ratebook.workflows.report_regulatory import Built

PANEL = "Billing"

commands = typer.Typer()
report_app = typer.Typer(help="Regulatory usage reports and their filings.", no_args_is_help=True)
retention_app = typer.Typer(help="Retention of raw call records.", no_args_is_help=True)
commands.add_typer(report_app, name="report", rich_help_panel=PANEL)
commands.add_typer(retention_app, name="retention", rich_help_panel=PANEL)

ProfileOption = Annotated[
    str,
    typer.Option(
        "--profile",
        help="A shipped profile (generic, mcmc-usp, fcc-499) or a profile YAML file.",
        metavar="NAME|FILE",
    ),
]
BasisOption = Annotated[
    str | None,
    typer.Option(
        "--basis",
        help="usage: by the usage's start time; invoice: by the invoice date (default: the"
        " profile's).",
        metavar="usage|invoice",
    ),
]
OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out", help="Folder to write report.csv, .xlsx, .pdf and manifest.json.", metavar="DIR"
    ),
]


def _summary(built: Built, fmt: OutputFormat) -> None:
    """The report's lines as a table, then its totals and reconciliation."""
    from ratebook.workflows.report_regulatory import document

    doc = document(built)
    # the table keeps to the figures a reader looks for first; the files hold every column
    left_out = ("section", "answered", "billed_quantity", "weight", "weighted", "code")
    shown = [c for c in doc.header if c not in left_out]
    if built.computed.weighted is not None:
        shown.append("weighted")
    rows = [dict(zip(doc.header, row, strict=True)) for row in doc.rows if row[0] == "line"]
    render(
        rows,
        shown,
        fmt,
        out,
        title=f"{built.profile.title}: {built.period}, {built.entity.currency}",
        right=[c for c in shown if c in doc.counts | doc.quantities | doc.money],
    )
    if fmt is not OutputFormat.TABLE:
        return
    for label, value in doc.summary:
        out.print(f"{label}: {value}")
    r = built.computed.reconciliation
    verdict = "reconciles" if r.holds else "DOES NOT reconcile"
    out.print(
        f"Ledger: {doc.reconciliation[1][1]} invoiced + {doc.reconciliation[2][1]} open usage,"
        f" {doc.reconciliation[5][1]} credits: the report {verdict}"
    )
    out.print(f"Inputs SHA-256 {built.inputs_sha256}; CSV SHA-256 {built.csv_sha256}")


@report_app.command("regulatory")
def report_regulatory(
    ctx: typer.Context,
    period: PeriodOption,
    profile: ProfileOption = "generic",
    basis: BasisOption = None,
    out_dir: OutOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    entity: EntityOption = None,
) -> None:
    """Traffic and revenue of a period by service, direction and destination category."""
    from ratebook.workflows.report_regulatory import build_report, write_report

    engine = run(state(ctx).reader)
    with progress_bar(f"reading {period}") as advance:
        built = run(
            lambda: build_report(
                engine,
                period=period,
                profile=profile,
                basis=basis,
                entity_code=entity,
                progress=advance,
            )
        )
    _summary(built, fmt)
    if out_dir is not None:
        paths = run(lambda: write_report(built, out_dir))
        out.print(f"Written: {', '.join(str(p) for p in paths.values())}")


def _differences(keys: list[str], changed: list[Difference]) -> None:
    rows = [
        {
            "row": " ".join(k for k in d.key if k),
            "column": d.column,
            "filed": d.before,
            "now": d.after,
        }
        for d in changed
    ]
    render(rows, ["row", "column", "filed", "now"], OutputFormat.TABLE, out, title="Differences")


@report_app.command("file")
def report_file(
    ctx: typer.Context,
    period: PeriodOption,
    profile: ProfileOption = "generic",
    basis: BasisOption = None,
    out_dir: OutOption = None,
    entity: EntityOption = None,
) -> None:
    """File a period's report: an append-only record with its digests; an amendment when
    the period was filed before and its figures changed."""
    from ratebook.workflows.file_report import file_report
    from ratebook.workflows.report_regulatory import write_report

    engine = run(state(ctx).store)
    with progress_bar(f"reading {period}") as advance:
        filed = run(
            lambda: file_report(
                engine,
                period=period,
                profile=profile,
                basis=basis,
                entity_code=entity,
                progress=advance,
            )
        )
    out.print(f"Filed {filed.filing.name}")
    out.print(f"Inputs SHA-256 {filed.filing.inputs_sha256}; CSV SHA-256 {filed.filing.csv_sha256}")
    if filed.amends is not None:
        out.print(f"It amends {filed.amends.name}; {len(filed.differences)} figures differ:")
        _differences(filed.keys, filed.differences)
    if out_dir is not None:
        paths = run(lambda: write_report(filed.built, out_dir))
        out.print(f"Written: {', '.join(str(p) for p in paths.values())}")


@report_app.command("verify")
def report_verify(
    ctx: typer.Context,
    report_id: Annotated[int, typer.Argument(help="The filed report's number.", metavar="REPORT")],
    entity: EntityOption = None,
) -> None:
    """Recompute a filed report from the ledger and say whether it still matches."""
    from ratebook.workflows.file_report import verify_filing

    engine = run(state(ctx).reader)
    verdict = run(lambda: verify_filing(engine, report_id, entity_code=entity))
    if verdict.purged:
        out.print(
            f"{verdict.purged} records of {verdict.filing.period} were purged under the retention"
            " policy: the report stands as filed, but cannot be recomputed from them"
        )
    if verdict.matches:
        out.print(f"{verdict.filing.name} matches the ledger")
        return
    code = "REPORT_MISMATCH"
    err.print(f"error: {code} {verdict.filing.name} no longer matches:", markup=False)
    for problem in verdict.problems:
        err.print(f"  {problem}", markup=False)
    if verdict.differences:
        _differences(verdict.keys, verdict.differences[:50])
    raise typer.Exit(code=1)


@report_app.command("list")
def report_list(
    ctx: typer.Context,
    period: Annotated[
        str | None, typer.Option("--period", help="Only this month.", metavar="PERIOD")
    ] = None,
    fmt: FormatOption = OutputFormat.TABLE,
    entity: EntityOption = None,
) -> None:
    """Filed reports, oldest first."""
    from ratebook.workflows.file_report import list_filings

    engine = run(state(ctx).reader)
    found, filings = run(lambda: list_filings(engine, period=period, entity_code=entity))
    rows = [
        {
            "report": f.id,
            "period": f.period,
            "profile": f"{f.profile}@{f.profile_version}",
            "basis": f.basis,
            "revision": f.revision,
            "amends": f.amends_id or "",
            "filed_by": f.filed_by,
            "filed_at": f"{f.filed_at.astimezone(found.zone):%Y-%m-%d %H:%M}",
            "csv_sha256": f.csv_sha256[:16],
        }
        for f in filings
    ]
    columns = ["report", "period", "profile", "basis", "revision", "amends", "filed_by"]
    render(rows, [*columns, "filed_at", "csv_sha256"], fmt, out, title="Filed reports")


@report_app.command("profiles")
def report_profiles() -> None:
    """The profiles Ratebook ships."""
    from ratebook.workflows.report_regulatory import report_profiles

    for profile in run(report_profiles):
        out.print(f"{profile.profile}: {profile.title} (version {profile.version})")


@retention_app.command("purge")
def retention_purge(
    ctx: typer.Context,
    apply: Annotated[
        bool,
        typer.Option("--apply/--dry-run", help="Remove the raw content, or only count it."),
    ] = False,
    entity: EntityOption = None,
) -> None:
    """Remove the raw content of call records older than the entity's retention."""
    from ratebook.workflows.purge_retention import purge_retention

    engine = run(state(ctx).store if apply else state(ctx).reader)
    done = run(lambda: purge_retention(engine, apply=apply, entity_code=entity))
    verb = "Removed" if done.applied else "Would remove"
    out.print(
        f"{verb} the raw content of {done.records} records that started before"
        f" {done.first_kept} ({done.months} months kept)"
        + (f" and of {done.exceptions} reviewed exceptions" if done.applied else "")
    )
    if done.kept_for_review:
        out.print(f"Kept {done.kept_for_review} older records whose exceptions wait for review")
    if not done.applied:
        out.print("Nothing was changed: run it again with --apply")
