"""The audit log of the entity, filtered and paged, and a check of the whole chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from ratebook.console.session import Administering, Viewing
from ratebook.console.web import ConsoleRoute, page
from ratebook.workflows.read_audit_log import read_audit_log
from ratebook.workflows.verify_audit import verify_audit

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

#: Entries on one page.
PAGE = 100
Text = Annotated[str | None, Query(max_length=100)]
_FIELDS = ("action", "actor", "object_type", "object_id", "since")


@router.get("/e/{entity}/audit")
def log(
    request: Request,
    desk: Viewing,
    action: Text = None,
    actor: Text = None,
    object_type: Text = None,
    object_id: Text = None,
    since: Text = None,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> Response:
    values = {
        "action": action,
        "actor": actor,
        "object_type": object_type,
        "object_id": object_id,
        "since": since,
    }
    rows = read_audit_log(
        request.app.state.engine,
        entity_code=desk.entity,
        limit=PAGE + 1,
        before_id=before,
        **{k: (v or "").strip() or None for k, v in values.items()},
    )
    more = len(rows) > PAGE
    rows = rows[-PAGE:][::-1]
    return page(
        request,
        "audit.html",
        desk=desk,
        rows=rows,
        values={k: v or "" for k, v in values.items()},
        next_before=rows[-1]["id"] if more and rows else None,
        report=None,
    )


@router.post("/e/{entity}/audit/verify")
async def verify(request: Request, desk: Administering) -> Response:
    """The whole deployment's chain is walked, so billing admins only."""
    report = await run_in_threadpool(verify_audit, request.app.state.engine)
    return page(request, "audit_verify.html", desk=desk, report=report)
