"""Disputes: the log, opening one from a record, an invoice line or an invoice, comments,
the investigation's status, and resolution with a credit."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from ratebook.console.params import Name, Number
from ratebook.console.session import Desk, Reviewing, Viewing
from ratebook.console.web import ConsoleRoute, page
from ratebook.errors import RatebookError
from ratebook.model.users import Role
from ratebook.workflows import disputes, resolve_dispute

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
Text = Annotated[str | None, Query(max_length=255)]


@router.get("/e/{entity}/disputes")
def log(request: Request, desk: Viewing, status: Text = None, account: Text = None) -> Response:
    rows = disputes.list_disputes(
        request.app.state.engine,
        status=status if status in ("open", "investigating", "resolved") else None,
        account=account or None,
        entity_code=desk.entity,
    )
    return page(
        request,
        "disputes.html",
        desk=desk,
        rows=rows[::-1],
        chosen=status or "",
        account=account or "",
    )


def _subject(values: dict[str, Any]) -> disputes.Subject:
    def number(key: str) -> int | None:
        text = str(values.get(key) or "").strip()
        return int(text) if text.isdigit() else None

    return disputes.Subject(
        record_id=str(values.get("record") or "").strip() or None,
        origin=str(values.get("origin") or "").strip() or None,
        invoice_line=number("invoice_line"),
        invoice=number("invoice"),
    )


@router.get("/e/{entity}/disputes/new")
def new(
    request: Request,
    desk: Viewing,
    record: Text = None,
    origin: Text = None,
    invoice_line: Text = None,
    invoice: Text = None,
) -> Response:
    desk.require(Role.REVIEWER)
    values = {
        "record": record or "",
        "origin": origin or "",
        "invoice_line": invoice_line or "",
        "invoice": invoice or "",
    }
    return page(request, "dispute_new.html", desk=desk, values=values, reason="", error=None)


@router.post("/e/{entity}/disputes")
async def open_one(request: Request, desk: Reviewing) -> Response:
    form = await request.form()
    values = {k: str(form.get(k) or "") for k in ("record", "origin", "invoice_line", "invoice")}
    reason = str(form.get("reason") or "")

    def run() -> dict[str, Any]:
        with desk.acting():
            return disputes.open_dispute(
                request.app.state.engine, _subject(values), reason, entity_code=desk.entity
            )

    try:
        found = await run_in_threadpool(run)
    except RatebookError as refused:
        return page(
            request,
            "dispute_new.html",
            desk=desk,
            status=422,
            values=values,
            reason=reason,
            error=refused,
        )
    return RedirectResponse(f"/e/{desk.entity}/disputes/{found['number']}", status_code=303)


@router.get("/e/{entity}/disputes/{number}")
def one(request: Request, desk: Viewing, number: Number) -> Response:
    return _one(request, desk, number)


def _one(
    request: Request, desk: Desk, number: int, *, error: RatebookError | None = None
) -> Response:
    found = disputes.show(request.app.state.engine, number, entity_code=desk.entity)
    return page(
        request,
        "dispute.html",
        desk=desk,
        d=found,
        error=error,
        status=422 if error else 200,
    )


@router.post("/e/{entity}/disputes/{number}/{step}")
async def move(request: Request, desk: Reviewing, number: Number, step: Name) -> Response:
    form = await request.form()
    engine = request.app.state.engine
    text = str(form.get("text") or "")

    def run() -> None:
        with desk.acting():
            if step == "comment":
                disputes.comment(engine, number, text, entity_code=desk.entity)
            elif step == "status":
                disputes.set_status(
                    engine,
                    number,
                    str(form.get("status") or ""),
                    note=text or None,
                    entity_code=desk.entity,
                )
            elif step == "resolve":
                credit = str(form.get("credit") or "").strip() or None
                resolve_dispute.resolve(
                    engine,
                    number,
                    outcome=str(form.get("outcome") or ""),
                    note=text,
                    credit=credit,
                    entity_code=desk.entity,
                )
            else:
                raise RatebookError("UNKNOWN_VALUE", f"no step {step!r}")

    try:
        await run_in_threadpool(run)
    except RatebookError as refused:
        failed = refused
        return await run_in_threadpool(lambda: _one(request, desk, number, error=failed))
    return RedirectResponse(f"/e/{desk.entity}/disputes/{number}", status_code=303)
