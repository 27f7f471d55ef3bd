"""Review commands: the ``exceptions`` queue, ``disputes``, ``explain`` and ``lineage``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ratebook.cli.common import (
    EntityOption,
    FormatOption,
    err,
    out,
    progress_bar,
    run,
    state,
)
from ratebook.errors import InputError
from ratebook.render.listing import OutputFormat, render

if TYPE_CHECKING:
    from ratebook.model.review import Filter
    from ratebook.workflows.review_exceptions import Outcome

PANEL = "Review"

commands = typer.Typer()
exceptions_app = typer.Typer(help="The exception queue.", no_args_is_help=True)
disputes_app = typer.Typer(help="The dispute log.", no_args_is_help=True)

commands.add_typer(exceptions_app, name="exceptions", rich_help_panel=PANEL)
commands.add_typer(disputes_app, name="disputes", rich_help_panel=PANEL)


@commands.command(rich_help_panel=PANEL)
def explain(
    ctx: typer.Context,
    record_id: Annotated[str, typer.Argument(help="The record's id (call-id / event-id).")],
    origin: Annotated[str | None, typer.Option(help="Only from this origin.")] = None,
    entity: EntityOption = None,
) -> None:
    """Explain a record: its source, customer, rate, and the arithmetic of its charge."""
    from ratebook.workflows.explain_record import explain as explain_record

    engine = run(state(ctx).reader)
    for line in run(lambda: explain_record(engine, record_id, origin=origin, entity_code=entity)):
        out.print(line, markup=False)


IdsOption = Annotated[
    list[int] | None, typer.Option("--id", help="This exception (repeat for several).")
]


CodeOption = Annotated[str | None, typer.Option(help="Only this code, e.g. NO_RATE.")]


StatusOption = Annotated[
    str | None, typer.Option(help="open, in_review, resolved, rejected, or pending.")
]


PeriodFilter = Annotated[str | None, typer.Option("--period", help="Billing month, YYYY-MM.")]


CustomerOption = Annotated[str | None, typer.Option(help="Customer account.")]


OriginOption = Annotated[str | None, typer.Option(help="The feed the rows came from.")]


TextOption = Annotated[
    str | None, typer.Option("--text", help="Text in the reason, raw row or record id.")
]


BatchOption = Annotated[int | None, typer.Option("--batch", help="Rows of this import batch.")]


ReasonOption = Annotated[str, typer.Option("--reason", help="Why (kept with the exception).")]


def _filter(
    ids: list[int] | None,
    code: str | None,
    status: str | None,
    period: str | None,
    customer: str | None,
    origin: str | None,
    text: str | None,
    batch: int | None,
) -> Filter:
    from ratebook.model.review import Filter

    return Filter(
        ids=tuple(ids) if ids else None,
        code=code.upper() if code else None,
        status=status,
        period=period,
        customer=customer,
        origin=origin,
        text=text,
        batch_id=batch,
    )


def _any_filter(f: Filter) -> None:
    """A bulk action must say what it acts on (never the whole queue by accident)."""
    from ratebook.model.review import Filter

    if f == Filter():
        raise InputError(
            "NO_FILTER",
            "say which exceptions: --id, --code, --period, --customer, --origin, --text or --batch",
            path="--id",
        )


#: Exceptions a table shows unless told otherwise.
TABLE_LIMIT = 100


#: A terminal at least this wide shows every column of a listing; a narrower one its key ones.
_WIDE = 140


@exceptions_app.command("list")
def exceptions_list(
    ctx: typer.Context,
    ids: IdsOption = None,
    code: CodeOption = None,
    status: StatusOption = None,
    period: PeriodFilter = None,
    customer: CustomerOption = None,
    origin: OriginOption = None,
    text: TextOption = None,
    batch: BatchOption = None,
    limit: Annotated[
        int | None,
        typer.Option(
            min=1,
            metavar="N",
            help=f"At most this many (default: {TABLE_LIMIT} in a table, all as JSON or CSV).",
        ),
    ] = None,
    fmt: FormatOption = OutputFormat.TABLE,
    entity: EntityOption = None,
) -> None:
    """The exceptions: code, reason, status, and the source file and line."""
    from ratebook.workflows import review_exceptions as review

    engine = run(state(ctx).reader)
    f = _filter(ids, code, status, period, customer, origin, text, batch)
    shown = limit if limit is not None else TABLE_LIMIT if fmt is OutputFormat.TABLE else None
    asked = None if shown is None else shown + 1  # one more: whether there are more
    found = run(lambda: review.list_exceptions(engine, f, entity_code=entity, limit=asked))
    more = shown is not None and len(found) > shown
    found = found[:shown] if shown is not None else found
    table = fmt is OutputFormat.TABLE
    # a table puts a sub-code on a line of its own, and the file's line apart from its name
    # without the folder ('exceptions show' has the whole path), so its columns fit a terminal
    joint = "/\n" if table else "/"
    rows: list[dict[str, Any]] = [
        {
            **r,
            "code": r["code"] + (joint + r["sub_code"] if r["sub_code"] else ""),
            "source": f"{r['source_name']}:{r['source_line']}",
            "file": Path(r["source_name"]).name,
            "line": r["source_line"],
        }
        for r in found
    ]
    columns = ["id", "code", "field", "source", "record_id", "period", "status", "assignee"]
    if table:
        columns[3:4] = ["file", "line"]
        if out.width < _WIDE:  # the reason names the field; the rest is in 'show'
            columns = [c for c in columns if c not in ("field", "period", "assignee")]
        elif not any(r["assignee"] for r in rows):
            columns.remove("assignee")
    render(
        rows,
        [*columns, "reason"],
        fmt,
        out,
        title="Exceptions",
        prose=["reason"],
        shrink=["file", "record_id"],
    )
    if more and fmt is OutputFormat.TABLE:
        out.print(f"the first {shown} shown; --limit N for more, or narrow with --code")


@exceptions_app.command("show")
def exceptions_show(
    ctx: typer.Context,
    exception_id: Annotated[int, typer.Argument(help="Exception id.")],
    fmt: FormatOption = OutputFormat.TABLE,
    entity: EntityOption = None,
) -> None:
    """One exception: its reason, raw row, record, corrections and history."""
    from ratebook.workflows import review_exceptions as review

    engine = run(state(ctx).reader)
    found = run(lambda: review.show_exception(engine, exception_id, entity_code=entity))
    if fmt is not OutputFormat.TABLE:
        out.file.write(json.dumps(found, default=str, indent=2) + "\n")
        return
    code = found["code"] + (f"/{found['sub_code']}" if found["sub_code"] else "")
    # a stream's positions are offsets
    where = (
        f"{found['source_name']} offset {found['source_line']}"
        if found["source_kind"] == "kafka"
        else f"{found['source_name']}:{found['source_line']}"
    )
    out.print(
        f"exception {found['id']}: {code}" + (f" ({found['field']})" if found["field"] else ""),
        markup=False,
    )
    for label, value in (
        ("status", found["status"] + (f", {found['resolution']}" if found["resolution"] else "")),
        ("assignee", found["assignee"]),
        ("reason", found["reason"]),
        ("source", f"{where} (origin {found['origin']})"),
        ("sha256", found["source_sha256"]),
        ("record id", found["record_id"]),
        ("period", found["period"]),
        ("raw", found["raw"]),
        ("note", found["note"]),
    ):
        if value is not None:
            out.print(f"  {label}: {value}", markup=False)
    for fix in found["corrections"]:
        out.print(
            f"  corrected by {fix['author']} at {fix['created_at']:%Y-%m-%d %H:%M} UTC:"
            f" {fix['changes']} ({fix['reason']}); corrected row: {fix['raw']}",
            markup=False,
        )
    for entry in found["history"]:
        out.print(
            f"  {entry['at']} {entry['actor']} {entry['action']}: {entry['after'] or ''}",
            markup=False,
        )


def _report(outcome: Outcome, verb: str) -> None:
    from ratebook.money import AMOUNT_SCALE, format_fixed

    parts = [f"{outcome.selected} selected", f"{getattr(outcome, verb)} {verb}"]
    if outcome.charge:
        charge = format_fixed(outcome.charge, AMOUNT_SCALE, outcome.charge_places)
        parts.append(f"charges {charge} {outcome.currency}")
    if outcome.failing:
        still = ", ".join(f"{code} {n}" for code, n in sorted(outcome.failing.items()))
        parts.append(f"still failing: {still}")
    if outcome.needs_correction:
        parts.append(f"{outcome.needs_correction} need a corrected copy ('exceptions correct')")
    out.print("; ".join(parts), markup=False)


@exceptions_app.command("assign")
def exceptions_assign(
    ctx: typer.Context,
    to: Annotated[str, typer.Option("--to", help="Who reviews them.")],
    ids: IdsOption = None,
    code: CodeOption = None,
    period: PeriodFilter = None,
    customer: CustomerOption = None,
    origin: OriginOption = None,
    text: TextOption = None,
    batch: BatchOption = None,
    entity: EntityOption = None,
) -> None:
    """Assign pending exceptions (by id or filter) for review."""
    from ratebook.workflows import review_exceptions as review

    engine = run(state(ctx).store)
    f = _filter(ids, code, None, period, customer, origin, text, batch)
    run(lambda: _any_filter(f))
    _report(run(lambda: review.assign(engine, f, to, entity_code=entity)), "assigned")


@exceptions_app.command("reprocess")
def exceptions_reprocess(
    ctx: typer.Context,
    ids: IdsOption = None,
    code: CodeOption = None,
    period: PeriodFilter = None,
    customer: CustomerOption = None,
    origin: OriginOption = None,
    text: TextOption = None,
    batch: BatchOption = None,
    all_pending: Annotated[bool, typer.Option("--all", help="Every pending exception.")] = False,
    note: Annotated[str | None, typer.Option(help="Kept with those resolved.")] = None,
    entity: EntityOption = None,
) -> None:
    """Rate pending exceptions again after fixing the cause; those that rate are resolved."""
    from ratebook.workflows import reprocess_exceptions

    engine = run(state(ctx).store)
    f = _filter(ids, code, None, period, customer, origin, text, batch)
    if not all_pending:
        run(lambda: _any_filter(f))
    with progress_bar("reprocessing exceptions") as advance:
        outcome = run(
            lambda: reprocess_exceptions.reprocess(
                engine, f, entity_code=entity, note=note, progress=advance
            )
        )
    _report(outcome, "resolved")


@exceptions_app.command("correct")
def exceptions_correct(
    ctx: typer.Context,
    exception_id: Annotated[int, typer.Argument(help="Exception id.")],
    reason: ReasonOption,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="COLUMN=VALUE in the feed's own columns (repeat)."),
    ] = None,
    raw: Annotated[str | None, typer.Option(help="The whole corrected row, as CSV.")] = None,
    entity: EntityOption = None,
) -> None:
    """Store a corrected copy of the row (the original is kept) and bill it."""
    from ratebook.workflows import correct_exception

    engine = run(state(ctx).store)
    changes: dict[str, str] = {}
    for item in set_ or []:
        name, sep, value = item.partition("=")
        if not sep:
            run(lambda bad=item: _bad_set(bad))  # type: ignore[misc]
        changes[name] = value
    outcome = run(
        lambda: correct_exception.correct(
            engine,
            exception_id,
            changes=changes or None,
            raw=raw,
            reason=reason,
            entity_code=entity,
            settings=state(ctx).settings,
        )
    )
    _report(outcome, "resolved")


def _bad_set(item: str) -> None:
    raise InputError("BAD_SET", f"{item!r} is not COLUMN=VALUE", path="--set")


@exceptions_app.command("accept")
def exceptions_accept(
    ctx: typer.Context,
    exception_id: Annotated[int, typer.Argument(help="Exception id.")],
    reason: ReasonOption,
    entity: EntityOption = None,
) -> None:
    """Bill an OUT_OF_POLICY record as it is (or a LATE_FOR_CLOSED_CYCLE one late)."""
    from ratebook.workflows import reprocess_exceptions

    engine = run(state(ctx).store)
    _report(
        run(lambda: reprocess_exceptions.accept(engine, exception_id, reason, entity_code=entity)),
        "resolved",
    )


@exceptions_app.command("reject")
def exceptions_reject(
    ctx: typer.Context,
    reason: ReasonOption,
    ids: IdsOption = None,
    code: CodeOption = None,
    period: PeriodFilter = None,
    customer: CustomerOption = None,
    origin: OriginOption = None,
    text: TextOption = None,
    batch: BatchOption = None,
    entity: EntityOption = None,
) -> None:
    """Write off pending exceptions (by id or filter) with a reason."""
    from ratebook.workflows import review_exceptions as review

    engine = run(state(ctx).store)
    f = _filter(ids, code, None, period, customer, origin, text, batch)
    run(lambda: _any_filter(f))
    _report(run(lambda: review.reject(engine, f, reason, entity_code=entity)), "rejected")


@exceptions_app.command("export")
def exceptions_export(
    ctx: typer.Context,
    out_file: Annotated[Path, typer.Option("--out", help="CSV file to write.")],
    ids: IdsOption = None,
    code: CodeOption = None,
    status: StatusOption = None,
    period: PeriodFilter = None,
    customer: CustomerOption = None,
    origin: OriginOption = None,
    text: TextOption = None,
    batch: BatchOption = None,
    entity: EntityOption = None,
) -> None:
    """Export exceptions as CSV, safe to open in a spreadsheet."""
    from ratebook.workflows import review_exceptions as review

    engine = run(state(ctx).reader)
    f = _filter(ids, code, status, period, customer, origin, text, batch)
    written = run(lambda: review.export_csv(engine, f, out_file, entity_code=entity))
    out.print(f"{out_file}: {written} exceptions")


@exceptions_app.command("counts")
def exceptions_counts(
    ctx: typer.Context,
    period: PeriodFilter = None,
    fmt: FormatOption = OutputFormat.TABLE,
    entity: EntityOption = None,
) -> None:
    """Exceptions per period, code and status."""
    from ratebook.workflows import review_exceptions as review

    engine = run(state(ctx).reader)
    rows = run(lambda: review.counts(engine, period=period, entity_code=entity))
    shown = [{**r, "period": r["period"] or "(unread)"} for r in rows]
    render(shown, ["period", "code", "status", "n"], fmt, out, title="Exceptions", right=["n"])


@exceptions_app.command("identity")
def exceptions_identity(
    ctx: typer.Context, fmt: FormatOption = OutputFormat.TABLE, entity: EntityOption = None
) -> None:
    """Per import: rows read = rated + duplicates + pending + written off."""
    from ratebook.workflows import review_exceptions as review

    engine = run(state(ctx).reader)
    rows = run(lambda: review.row_identity(engine, entity_code=entity))
    columns = [
        "batch_id",
        "source_name",
        "read",
        "rated",
        "duplicates",
        "pending",
        "written_off",
        "ok",
    ]
    render(rows, columns, fmt, out, title="Row identity", right=columns[2:7])
    if not all(r["ok"] for r in rows):
        err.print("error: the row identity does not hold for every import", markup=False)
        raise typer.Exit(code=1)


def _dispute_row(d: dict[str, Any]) -> dict[str, Any]:
    from ratebook.money import AMOUNT_SCALE, format_fixed

    return {
        **d,
        "disputed": format_fixed(int(d["disputed"]), AMOUNT_SCALE),
        "credit": None if d["credit"] is None else format_fixed(int(d["credit"]), AMOUNT_SCALE),
    }


@disputes_app.command("open")
def disputes_open(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option("--reason", help="What the customer says.")],
    record: Annotated[str | None, typer.Option("--record", help="A record id.")] = None,
    origin: Annotated[str | None, typer.Option(help="The record's feed, if ambiguous.")] = None,
    invoice_line: Annotated[int | None, typer.Option(help="An invoice line id.")] = None,
    invoice: Annotated[int | None, typer.Option(help="An invoice number.")] = None,
    entity: EntityOption = None,
) -> None:
    """Open a dispute on a record, an invoice line or an invoice."""
    from ratebook.money import AMOUNT_SCALE, format_fixed
    from ratebook.workflows import disputes as dispute_flows

    engine = run(state(ctx).store)
    subject = dispute_flows.Subject(
        record_id=record, origin=origin, invoice_line=invoice_line, invoice=invoice
    )
    found = run(lambda: dispute_flows.open_dispute(engine, subject, reason, entity_code=entity))
    out.print(
        f"dispute {found['number']} opened for {found['account']} on the {found['subject']}"
        f" ({format_fixed(int(found['disputed']), AMOUNT_SCALE)} disputed)",
        markup=False,
    )


@disputes_app.command("comment")
def disputes_comment(
    ctx: typer.Context,
    number: Annotated[int, typer.Argument(help="Dispute number.")],
    text: Annotated[str, typer.Option("--text", help="The comment.")],
    entity: EntityOption = None,
) -> None:
    """Add a comment to a dispute's history."""
    from ratebook.workflows import disputes as dispute_flows

    engine = run(state(ctx).store)
    run(lambda: dispute_flows.comment(engine, number, text, entity_code=entity))
    out.print(f"dispute {number}: comment added")


@disputes_app.command("status")
def disputes_status(
    ctx: typer.Context,
    number: Annotated[int, typer.Argument(help="Dispute number.")],
    status: Annotated[str, typer.Argument(help="open or investigating.")],
    note: Annotated[str | None, typer.Option(help="Why.")] = None,
    entity: EntityOption = None,
) -> None:
    """Move a dispute to investigating (or back to open)."""
    from ratebook.workflows import disputes as dispute_flows

    engine = run(state(ctx).store)
    run(lambda: dispute_flows.set_status(engine, number, status, note=note, entity_code=entity))
    out.print(f"dispute {number}: {status}")


@disputes_app.command("resolve")
def disputes_resolve(
    ctx: typer.Context,
    number: Annotated[int, typer.Argument(help="Dispute number.")],
    upheld: Annotated[bool, typer.Option("--upheld", help="The customer is right.")] = False,
    rejected: Annotated[bool, typer.Option("--rejected", help="The charge stands.")] = False,
    credit: Annotated[
        str | None, typer.Option(help="Credit before tax, e.g. 2.50 (upheld only).")
    ] = None,
    note: Annotated[str, typer.Option(help="Why, for the history.")] = "",
    entity: EntityOption = None,
) -> None:
    """Resolve a dispute: --upheld [--credit AMOUNT] or --rejected."""
    from ratebook.money import AMOUNT_SCALE, format_fixed
    from ratebook.workflows import resolve_dispute

    engine = run(state(ctx).store)
    if upheld == rejected:
        run(lambda: _one_outcome())
    outcome = "upheld" if upheld else "rejected"
    found = run(
        lambda: resolve_dispute.resolve(
            engine, number, outcome=outcome, note=note, credit=credit, entity_code=entity
        )
    )
    credit_text = (
        f"; credit {format_fixed(int(found['credit']), AMOUNT_SCALE)} posted to"
        f" {found['credit_period']}, on the next invoice"
        if found["credit"]
        else ""
    )
    out.print(f"dispute {number}: resolved, {outcome}{credit_text}", markup=False)


def _one_outcome() -> None:
    raise InputError("ONE_OUTCOME", "give --upheld or --rejected", path="--upheld")


@disputes_app.command("show")
def disputes_show(
    ctx: typer.Context,
    number: Annotated[int, typer.Argument(help="Dispute number.")],
    fmt: FormatOption = OutputFormat.TABLE,
    entity: EntityOption = None,
) -> None:
    """A dispute and its full history, in order."""
    from ratebook.workflows import disputes as dispute_flows

    engine = run(state(ctx).reader)
    found = run(lambda: dispute_flows.show(engine, number, entity_code=entity))
    if fmt is not OutputFormat.TABLE:
        out.file.write(json.dumps(_dispute_row(found), default=str, indent=2) + "\n")
        return
    row = _dispute_row(found)
    out.print(
        f"dispute {row['number']}: {row['account']} {row['subject']},"
        f" {row['disputed']} disputed, {row['status']}"
        + (f" ({row['outcome']})" if row["outcome"] else "")
        + (f", credit {row['credit']} in {row['credit_period']}" if row["credit"] else ""),
        markup=False,
    )
    for event in found["history"]:
        move = (
            f" [{event['from_status'] or ''}->{event['to_status']}]" if event["to_status"] else ""
        )
        out.print(
            f"  {event['at']:%Y-%m-%d %H:%M:%S} UTC {event['author']} {event['kind']}{move}:"
            f" {event['body']}",
            markup=False,
        )


@disputes_app.command("list")
def disputes_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="open, investigating or resolved.")] = None,
    customer: CustomerOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    entity: EntityOption = None,
) -> None:
    """Disputes by number."""
    from ratebook.workflows import disputes as dispute_flows

    engine = run(state(ctx).reader)
    rows = run(
        lambda: dispute_flows.list_disputes(
            engine, status=status, account=customer, entity_code=entity
        )
    )
    render(
        [_dispute_row(r) for r in rows],
        ["number", "account", "subject", "disputed", "status", "outcome", "credit", "reason"],
        fmt,
        out,
        title="Disputes",
        right=["disputed", "credit"],
    )


@commands.command(rich_help_panel=PANEL)
def lineage(
    ctx: typer.Context,
    invoice_line: Annotated[int | None, typer.Option(help="An invoice line id.")] = None,
    record: Annotated[str | None, typer.Option("--record", help="A record id.")] = None,
    origin: Annotated[str | None, typer.Option(help="The record's feed.")] = None,
    fmt: FormatOption = OutputFormat.TABLE,
    entity: EntityOption = None,
) -> None:
    """From an invoice line back to the raw rows, or from a record to its invoice lines."""
    from ratebook.model.audit import canonical
    from ratebook.workflows.lineage import lineage as lineage_of
    from ratebook.workflows.lineage import lineage_text

    engine = run(state(ctx).reader)
    chain = run(
        lambda: lineage_of(
            engine, invoice_line=invoice_line, record_id=record, origin=origin, entity_code=entity
        )
    )
    if fmt is not OutputFormat.TABLE:
        out.file.write(canonical(json.loads(json.dumps(chain, default=str))) + "\n")
        return
    for line in lineage_text(chain, currency=chain["currency"], zone=chain["timezone"]):
        out.print(line, markup=False)
