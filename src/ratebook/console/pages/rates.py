"""Rate tables: their versions and rows, and a quote tester that prices an event as a push
would, storing nothing."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from ratebook.console.params import Name
from ratebook.console.session import Asking, Viewing
from ratebook.console.web import ConsoleRoute, page
from ratebook.errors import RatebookError
from ratebook.workflows.quote_in_cycle import quote_in_cycle
from ratebook.workflows.rate_tables import list_rate_tables, show_rate_table

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

#: Rows of a version shown at once; a prefix narrows them.
SHOWN_ROWS = 200
QUOTE_FIELDS = ("account", "start_time", "quantity", "unit", "service", "destination", "caller")


@router.get("/e/{entity}/rates")
def tables(request: Request, desk: Viewing) -> Response:
    found = list_rate_tables(request.app.state.engine, entity_code=desk.entity)
    return page(
        request,
        "rates.html",
        desk=desk,
        tables=found,
        values=dict.fromkeys(QUOTE_FIELDS, ""),
        quote=None,
        error=None,
    )


@router.get("/e/{entity}/rates/{name}")
def table(
    request: Request,
    desk: Viewing,
    name: Name,
    prefix: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    found = show_rate_table(request.app.state.engine, name, entity_code=desk.entity)
    wanted = (prefix or "").strip()
    for version in found["versions"]:
        rows = [r for r in version["rates"] if r["prefix"].startswith(wanted)]
        version["matching"] = len(rows)
        version["rates"] = rows[:SHOWN_ROWS]
    return page(
        request, "rate_table.html", desk=desk, t=found, prefix=wanted, shown_rows=SHOWN_ROWS
    )


@router.post("/e/{entity}/rates/quote")
async def quote(request: Request, desk: Asking) -> Response:
    """A quote writes nothing, so any role may ask; it is a POST for its form token only."""
    form = await request.form()
    values = {k: str(form.get(k) or "").strip() for k in QUOTE_FIELDS}
    event: dict[str, Any] = {k: v for k, v in values.items() if v}
    error: RatebookError | None = None
    result = None
    if "start_time" not in event or "quantity" not in event:
        error = RatebookError("MISSING_VALUE", "give the start and the quantity")
    else:
        try:
            summary = await run_in_threadpool(
                quote_in_cycle,
                request.app.state.engine,
                [event],
                entity_code=desk.entity,
                settings=request.app.state.settings,
                references=request.app.state.references,
            )
            result = summary.results[0]
        except RatebookError as refused:
            error = refused
    found = await run_in_threadpool(
        list_rate_tables, request.app.state.engine, entity_code=desk.entity
    )
    return page(
        request,
        "rates.html",
        desk=desk,
        tables=found,
        values=values,
        quote=result,
        error=error,
        status=422 if error else 200,
    )
