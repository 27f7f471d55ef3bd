"""The console's plumbing: templates, the answer every page gives to a missing session, a
refusal or an error, and the security headers of every console answer."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ratebook.console import charts, present
from ratebook.console.session import (
    CSRF_FIELD,
    Desk,
    Refused,
    SignInNeeded,
    Unseen,
)
from ratebook.errors import ConflictError, NotFoundError, RatebookError

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters.update(
    money=present.money,
    price=present.price,
    quantity=present.quantity,
    when=present.when,
    masked=present.masked,
    count=present.count,
    percent=present.percent,
)
templates.env.globals.update(CSRF_FIELD=CSRF_FIELD, bar_chart=charts.bar_chart)

#: Pages of an entity, in the navigation's order: (path under /e/{entity}, label).
NAVIGATION = (
    ("", "Overview"),
    ("/exceptions", "Exceptions"),
    ("/customers", "Customers"),
    ("/disputes", "Disputes"),
    ("/invoices", "Invoices"),
    ("/rates", "Rate tables"),
    ("/imports", "Imports"),
    ("/audit", "Audit"),
)

#: Every console answer's headers: no script or style but the console's own files, no
#: framing, no referrer leaving the site.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}


def page(
    request: Request,
    name: str,
    *,
    desk: Desk | None = None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """The template ``name`` for the user at ``desk`` (None: signed out)."""
    signed = desk.signed_in if desk else None
    return templates.TemplateResponse(
        request,
        name,
        {
            "desk": desk,
            "user": signed.user if signed else None,
            "csrf": signed.csrf_token if signed else "",
            "entity_path": f"/e/{desk.entity}" if desk else "",
            "e": desk.facts if desk else None,
            "navigation": NAVIGATION,
            **context,
        },
        status_code=status,
    )


def sign_in_redirect(request: Request, next_url: str) -> Response:
    """To the sign-in page, then back: htmx follows ``HX-Redirect``, a browser the 303."""
    target = f"/login?next={quote(next_url, safe='')}"
    if request.headers.get("hx-request"):
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _error(request: Request, status: int, code: str, message: str) -> HTMLResponse:
    return page(
        request, "error.html", status=status, http_status=status, code=code, message=message
    )


class ConsoleRoute(APIRoute):
    """A console route: a missing session answers with the sign-in page, a refusal with 403,
    something the user cannot see with 404, and an error of Ratebook's with its code and
    sentence, all as pages rather than problem JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInNeeded as needed:
                return sign_in_redirect(request, needed.next_url)
            except Refused as refused:
                return _error(request, 403, refused.code, refused.message)
            except Unseen:
                return _error(request, 404, "NOT_FOUND", "there is no such page")
            except NotFoundError as missing:
                return _error(request, 404, missing.code, missing.message)
            except ConflictError as conflict:
                return _error(request, 409, conflict.code, conflict.message)
            except RatebookError as error:
                return _error(request, 400, error.code, error.message)
            except RequestValidationError as invalid:
                fields = ", ".join(str(e["loc"][-1]) for e in invalid.errors() if e.get("loc"))
                return _error(request, 400, "BAD_REQUEST", f"check the fields: {fields}")

        return handle


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every answer outside the API and its documents."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(("/v1/", "/docs", "/redoc", "/openapi")):
            await self.app(scope, receive, send)
            return
        # the console's own files may be cached; its pages may not
        added = {
            k: v
            for k, v in SECURITY_HEADERS.items()
            if k != "cache-control" or not path.startswith("/static/")
        }

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.decode("latin-1").lower() not in added
                ]
                headers.extend((k.encode(), v.encode()) for k, v in added.items())
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
