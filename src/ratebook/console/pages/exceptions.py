"""The exception queue: filter, page through, look at one row and its history, act on one or
on many (with a count and a confirmation), and correct a row with a preview of its charge."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from ratebook.console.params import RowId
from ratebook.console.session import Reviewing, Viewing
from ratebook.console.web import ConsoleRoute, page
from ratebook.errors import RatebookError
from ratebook.model.review import STATUSES, Filter
from ratebook.workflows import correct_exception, reprocess_exceptions, review_exceptions
from ratebook.workflows.review_exceptions import ACCEPTABLE, Outcome

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

#: Exceptions on one page.
PAGE = 50
#: Pending exceptions of a code counted exactly up to this many; beyond, "more than".
COUNTED = 10_000
#: Bulk actions, with what each needs besides the selection.
ACTIONS = {
    "reprocess": "Re-process (match and rate again)",
    "accept": "Accept as they are (out-of-policy or late)",
    "reject": "Reject (write off)",
    "assign": "Assign to someone",
}
_FILTER_FIELDS = ("code", "status", "period", "customer", "origin", "text", "batch")
Text = Annotated[str | None, Query(max_length=200)]


def _filter(values: dict[str, Any], ids: tuple[int, ...] | None = None) -> Filter:
    chosen = {k: str(values.get(k) or "").strip() or None for k in _FILTER_FIELDS}
    status = chosen.pop("status")
    if status is not None and status != "pending" and status not in STATUSES:
        status = None
    batch = chosen.pop("batch")
    return Filter(
        ids=ids,
        status=status,
        batch_id=int(batch) if batch and batch.isdigit() and len(batch) < 10 else None,
        **chosen,
    )


@router.get("/e/{entity}/exceptions")
def queue(
    request: Request,
    desk: Viewing,
    code: Text = None,
    status: Text = "pending",
    period: Text = None,
    customer: Text = None,
    origin: Text = None,
    text: Text = None,
    batch: Text = None,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> Response:
    engine = request.app.state.engine
    values = {
        "code": code,
        "status": status,
        "period": period,
        "customer": customer,
        "origin": origin,
        "text": text,
        "batch": batch,
    }
    f = _filter(values)
    rows = review_exceptions.list_exceptions(
        engine, f, entity_code=desk.entity, limit=PAGE + 1, before_id=before, newest_first=True
    )
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    counts = review_exceptions.pending_by_code(engine, entity_code=desk.entity, cap=COUNTED)
    return page(
        request,
        "exceptions.html",
        desk=desk,
        rows=rows,
        values={k: v or "" for k, v in values.items()},
        next_before=rows[-1]["id"] if more else None,
        counts=counts,
        counted=COUNTED,
        statuses=("pending", *STATUSES),
        actions=ACTIONS,
        base_query=urlencode({k: v for k, v in values.items() if v}),
    )


def _selection(form: Any) -> tuple[Filter, str]:
    """The exceptions a bulk form names, and how it named them (``checked`` or ``filter``)."""
    values = {k: form.get(k) for k in _FILTER_FIELDS}
    scope = form.get("scope") or "checked"
    if scope == "filter":
        return replace(_filter(values), status="pending"), "filter"
    ids = tuple(int(i) for i in form.getlist("id") if str(i).isdigit())
    return Filter(ids=ids or (0,), status="pending"), "checked"


@router.post("/e/{entity}/exceptions/bulk")
async def bulk_confirm(request: Request, desk: Reviewing) -> Response:
    form = await request.form()
    f, scope = _selection(form)
    action = str(form.get("action") or "")
    if action not in ACTIONS:
        return page(
            request,
            "error.html",
            desk=desk,
            status=400,
            code="UNKNOWN_VALUE",
            message="choose an action",
        )
    n = await run_in_threadpool(
        review_exceptions.count_exceptions, request.app.state.engine, f, entity_code=desk.entity
    )
    return page(
        request,
        "exceptions_confirm.html",
        desk=desk,
        action=action,
        label=ACTIONS[action],
        count=n,
        scope=scope,
        ids=list(f.ids or ()) if scope == "checked" else [],
        values={k: str(form.get(k) or "") for k in _FILTER_FIELDS},
        acceptable=ACCEPTABLE,
    )


@router.post("/e/{entity}/exceptions/bulk/apply")
async def bulk_apply(request: Request, desk: Reviewing) -> Response:
    form = await request.form()
    f, _ = _selection(form)
    action = str(form.get("action") or "")
    note = str(form.get("reason") or "").strip()
    engine = request.app.state.engine

    def act() -> Outcome:
        with desk.acting():
            if action == "reprocess":
                return reprocess_exceptions.reprocess(
                    engine, f, entity_code=desk.entity, note=note or None
                )
            if action == "accept":
                return reprocess_exceptions.accept_many(engine, f, note, entity_code=desk.entity)
            if action == "reject":
                return review_exceptions.reject(engine, f, note, entity_code=desk.entity)
            if action == "assign":
                assignee = str(form.get("assignee") or "").strip()
                return review_exceptions.assign(engine, f, assignee, entity_code=desk.entity)
            raise RatebookError("UNKNOWN_VALUE", "choose an action")

    outcome = await run_in_threadpool(act)
    return page(request, "exceptions_done.html", desk=desk, action=ACTIONS[action], outcome=outcome)


def _fields(found: dict[str, Any]) -> list[tuple[str, str]]:
    """The row's fields by the feed's column names (empty when the batch kept none)."""
    if not found.get("batch_columns") or found.get("raw") is None:
        return []
    columns: list[str] = json.loads(found["batch_columns"])
    values = next(csv.reader([found["raw"]]), [])
    if len(values) != len(columns):
        return []
    return list(zip(columns, values, strict=True))


@router.get("/e/{entity}/exceptions/{exception_id}")
def one(request: Request, desk: Viewing, exception_id: RowId) -> Response:
    found = review_exceptions.show_exception(
        request.app.state.engine, exception_id, entity_code=desk.entity
    )
    return _one_page(request, desk, found)


def _one_page(
    request: Request,
    desk: Any,
    found: dict[str, Any],
    *,
    preview: Outcome | None = None,
    changes: dict[str, str] | None = None,
    raw: str | None = None,
    reason: str = "",
    error: RatebookError | None = None,
    status: int = 200,
) -> Response:
    fields = _fields(found)
    edited = [(name, (changes or {}).get(name, value)) for name, value in fields]
    return page(
        request,
        "exception.html",
        desk=desk,
        status=status,
        x=found,
        fields=edited,
        raw=raw if raw is not None else (found.get("raw") or ""),
        reason=reason,
        preview=preview,
        error=error,
        pending=found["status"] in ("open", "in_review"),
        acceptable=found["code"] in ACCEPTABLE,
    )


@router.post("/e/{entity}/exceptions/{exception_id}/correct")
async def correct(request: Request, desk: Reviewing, exception_id: RowId) -> Response:
    form = await request.form()
    engine = request.app.state.engine
    found = await run_in_threadpool(
        review_exceptions.show_exception, engine, exception_id, entity_code=desk.entity
    )
    reason = str(form.get("reason") or "").strip()
    before = dict(_fields(found))
    changes = {
        name: str(form.get(f"field.{name}"))
        for name in before
        if form.get(f"field.{name}") is not None and str(form.get(f"field.{name}")) != before[name]
    }
    raw = None if before else str(form.get("raw") or "")
    commit = form.get("do") == "commit"

    def run() -> Outcome:
        with desk.acting():
            return correct_exception.correct(
                engine,
                exception_id,
                changes=changes or None,
                raw=raw,
                reason=reason,
                entity_code=desk.entity,
                settings=request.app.state.settings,
                preview=not commit,
            )

    try:
        outcome = await run_in_threadpool(run)
    except RatebookError as refused:
        return _one_page(
            request,
            desk,
            found,
            changes=changes,
            raw=raw,
            reason=reason,
            error=refused,
            status=422,
        )
    if commit:
        return RedirectResponse(
            f"/e/{desk.entity}/exceptions/{exception_id}?done=corrected", status_code=303
        )
    return _one_page(request, desk, found, preview=outcome, changes=changes, raw=raw, reason=reason)


@router.post("/e/{entity}/exceptions/{exception_id}/act")
async def act_on_one(request: Request, desk: Reviewing, exception_id: RowId) -> Response:
    form = await request.form()
    engine = request.app.state.engine
    action = str(form.get("action") or "")
    reason = str(form.get("reason") or "").strip()
    f = Filter(ids=(exception_id,), status="pending")

    def run() -> Outcome:
        with desk.acting():
            if action == "reprocess":
                return reprocess_exceptions.reprocess(
                    engine, f, entity_code=desk.entity, note=reason or None
                )
            if action == "accept":
                return reprocess_exceptions.accept(
                    engine, exception_id, reason, entity_code=desk.entity
                )
            if action == "reject":
                return review_exceptions.reject(engine, f, reason, entity_code=desk.entity)
            raise RatebookError("UNKNOWN_VALUE", "choose an action")

    try:
        await run_in_threadpool(run)
    except RatebookError as refused:
        found = await run_in_threadpool(
            review_exceptions.show_exception, engine, exception_id, entity_code=desk.entity
        )
        return _one_page(request, desk, found, reason=reason, error=refused, status=422)
    return RedirectResponse(
        f"/e/{desk.entity}/exceptions/{exception_id}?done={action}", status_code=303
    )
