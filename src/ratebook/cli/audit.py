"""Integrity commands: ``audit`` (the hash chain, its seals and anchors) and ``check`` (the
ledger's invariants)."""

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
from ratebook.errors import ConflictError, InputError
from ratebook.render.listing import OutputFormat, render

if TYPE_CHECKING:
    from ratebook.model.anchor import Anchor, AnchorKey

PANEL = "Review"

commands = typer.Typer()
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)

commands.add_typer(audit_app, name="audit", rich_help_panel=PANEL)


KeyOption = Annotated[
    Path | None,
    typer.Option(
        "--key",
        help="Anchor key file kept outside the database: an HMAC secret, or an Ed25519 PEM key.",
        metavar="FILE",
    ),
]


def _key(path: Path | None) -> AnchorKey | None:
    from ratebook.model.anchor import AnchorError, load_key

    if path is None:
        return None
    try:
        return load_key(path.read_bytes())
    except OSError as exc:
        raise InputError("FILE_UNREADABLE", exc.strerror or str(exc), path=path) from None
    except AnchorError as exc:
        raise InputError(exc.code, str(exc), path=path) from None


def _anchor(path: Path) -> Anchor:
    from ratebook.model.anchor import AnchorError, parse_anchor

    try:
        return parse_anchor(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError("FILE_UNREADABLE", exc.strerror or str(exc), path=path) from None
    except (AnchorError, UnicodeDecodeError) as exc:
        raise InputError("BAD_ANCHOR", str(exc), path=path) from None


@audit_app.command("verify")
def audit_verify(
    ctx: typer.Context,
    deep: Annotated[
        bool,
        typer.Option(
            "--deep", help="Also recompute every seal of the billing rows from the store."
        ),
    ] = False,
    anchor_file: Annotated[
        Path | None,
        typer.Option("--anchor", help="An anchor written by `audit anchor`.", metavar="FILE"),
    ] = None,
    key_file: KeyOption = None,
) -> None:
    """Walk the hash chain (and with --deep the billing rows it seals); name what differs."""
    from ratebook.workflows.verify_audit import verify_audit

    anchor = None if anchor_file is None else run(lambda: _anchor(anchor_file))
    key = run(lambda: _key(key_file))
    engine = run(state(ctx).reader)
    with progress_bar("checking seals") as advance:
        report = verify_audit(
            engine, deep=deep, anchor=anchor, key=key, progress=advance if deep else None
        )
    if not report.findings:
        what = f"audit log intact: {report.entries} entries"
        if anchor is not None:
            what += f", anchored entry {anchor.sequence} still holds"
        if deep:
            what += f"; {report.sealed} seals over {report.rows} billing rows match"
            if report.unsealed:
                what += f" ({report.unsealed} batches written before seals cannot be checked)"
        out.print(what)
        return
    for finding in report.findings:
        err.print(f"error: {finding.code} {finding.where}: {finding.detail}", markup=False)
    raise typer.Exit(code=1)


@audit_app.command("anchor")
def audit_anchor(
    ctx: typer.Context,
    key_file: KeyOption = None,
    to: Annotated[
        Path | None,
        typer.Option("--out", help="Write the anchor here (default: print it).", metavar="FILE"),
    ] = None,
) -> None:
    """Print or write the chain's head (entry, hash, time), signed with --key if given; keep
    it outside the database and check it later with `audit verify --anchor`."""
    from datetime import UTC, datetime

    from ratebook.workflows.verify_audit import make_anchor

    key = run(lambda: _key(key_file))
    engine = run(state(ctx).reader)
    anchor = make_anchor(engine, now=datetime.now(UTC), key=key)
    if anchor is None:
        run(lambda: _raise(ConflictError("AUDIT_EMPTY", "the audit log has no entries yet")))
        return
    if to is None:
        out.file.write(anchor.to_json())
        return
    run(lambda: _write_new(to, anchor.to_json()))
    out.print(f"anchored entry {anchor.sequence} in {to}")


def _raise(error: Exception) -> None:
    raise error


def _write_new(path: Path, text: str) -> None:
    try:
        with path.open("x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise InputError("FILE_EXISTS", "the file exists; name a new one", path=path) from None
    except OSError as exc:
        raise InputError("FILE_UNWRITABLE", exc.strerror or str(exc), path=path) from None


@commands.command("check", rich_help_panel=PANEL)
def check(
    ctx: typer.Context,
    fmt: FormatOption = OutputFormat.TABLE,
    entity: Annotated[
        str | None, typer.Option("--entity", help="Entity code (default: every entity).")
    ] = None,
) -> None:
    """Check every ledger invariant: charges against postings, invoices against their lines,
    carried against brought forward, row identity of every batch."""
    from ratebook.workflows.check_ledger import check_ledger

    engine = run(state(ctx).reader)
    results = run(lambda: check_ledger(engine, entity_code=entity))
    rows = [
        {"entity": r.entity.code, "code": v.code, "subject": v.subject, "detail": v.detail}
        for r in results
        for v in r.checked.violations
    ]
    if rows or fmt is not OutputFormat.TABLE:
        render(rows, ["entity", "code", "subject", "detail"], fmt, out, title="Ledger violations")
    for r in results:
        c = r.checked
        verdict = f"{len(c.violations)} violation(s)" if c.violations else "every invariant holds"
        err.print(
            f"{r.entity.code}: {c.customer_cycles} customer-cycles, {c.invoices} invoices,"
            f" {c.batches} batches checked; {verdict}",
            markup=False,
        )
    if rows:
        raise typer.Exit(code=1)


@audit_app.command("log")
def audit_log(
    ctx: typer.Context,
    action: Annotated[str | None, typer.Option(help="Action, or its prefix (exception).")] = None,
    object_type: Annotated[str | None, typer.Option("--object", help="Object type.")] = None,
    object_id: Annotated[str | None, typer.Option("--object-id", help="Object id.")] = None,
    actor: Annotated[str | None, typer.Option("--by", help="Only this actor.")] = None,
    since: Annotated[str | None, typer.Option(help="From this UTC date or instant.")] = None,
    limit: Annotated[int | None, typer.Option(help="The last N entries.")] = None,
    fmt: FormatOption = OutputFormat.TABLE,
    entity: EntityOption = None,
) -> None:
    """Audit entries, oldest first, filtered."""
    from ratebook.workflows.read_audit_log import read_audit_log

    engine = run(state(ctx).reader)
    rows = run(
        lambda: read_audit_log(
            engine,
            entity_code=entity,
            action=action,
            object_type=object_type,
            object_id=object_id,
            actor=actor,
            since=since,
            limit=limit,
        )
    )
    shown = [
        {**r, "object": f"{r['object_type']} {r['object_id']}", "change": _change(r)} for r in rows
    ]
    render(shown, ["id", "at", "actor", "action", "object", "change"], fmt, out, title="Audit log")


#: The keys of audit entries that hold money, kept as integers at AMOUNT_SCALE.
_MONEY_KEYS = frozenset(
    {"amount", "charge", "credit", "disputed", "total", "invoiced_total", "carried_total"}
)


def _change(entry: dict[str, Any]) -> str:
    before, after = _money_shown(entry["before"]), _money_shown(entry["after"])
    if before and after:
        return f"{before} -> {after}"
    return str(after or before or "")


def _money_shown(text: str | None) -> str | None:
    """An entry's JSON with its amounts as decimal money (``11.97``, not ``11970000``)."""
    if not text:
        return text
    from ratebook.money import AMOUNT_SCALE, format_fixed

    try:
        found = json.loads(text)
    except ValueError:
        return text
    if not isinstance(found, dict):
        return text
    shown = {
        k: format_fixed(v, AMOUNT_SCALE, None, min_places=2)
        if k in _MONEY_KEYS and isinstance(v, int) and not isinstance(v, bool)
        else v
        for k, v in found.items()
    }
    return json.dumps(shown, separators=(",", ":"), sort_keys=True)
