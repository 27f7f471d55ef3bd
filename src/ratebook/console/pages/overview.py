"""An entity's overview: the cycle so far, day by day, and what waits for attention."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from ratebook.console.pages.exceptions import COUNTED
from ratebook.console.session import Viewing
from ratebook.console.web import ConsoleRoute, page
from ratebook.workflows.activity import overview

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

PeriodQuery = Annotated[str | None, Query(max_length=32)]


@router.get("/e/{entity}")
def overview_page(request: Request, desk: Viewing, period: PeriodQuery = None) -> Response:
    found = overview(
        request.app.state.engine,
        entity_code=desk.entity,
        period=period or None,
        cache=request.app.state.console_activity,
        counted=COUNTED,
    )
    return page(request, "overview.html", desk=desk, o=found, counted=COUNTED)
