"""Signing in and out, and the entity chooser at ``/``."""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from ratebook.console.session import (
    COOKIE,
    CSRF_FIELD,
    SIGN_IN_COOKIE,
    Refused,
    same_token,
    secure,
    signed_in,
)
from ratebook.console.web import ConsoleRoute, page
from ratebook.limits import MINUTE_NS, RateLimiter
from ratebook.model.users import SignedIn
from ratebook.settings import Settings
from ratebook.workflows.manage_users import sign_in, sign_out

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


class SignInThrottle:
    """Sign-in attempts per client address and per user name, in this process."""

    def __init__(self, per_minute: int) -> None:
        self.by_address = RateLimiter(per_minute, per_minute, per_ns=MINUTE_NS)
        self.by_name = RateLimiter(per_minute, per_minute, per_ns=MINUTE_NS)

    def wait(self, address: str, name: str) -> int:
        """0 when the attempt may go on, else the seconds until one may."""
        now = time.monotonic_ns()
        waits = [self.by_address.take(address, now), self.by_name.take(name.lower(), now)]
        return -(-max(waits) // 1_000_000_000)


def _local(next_url: str | None) -> str:
    """``next_url`` when it is a path of this site, else ``/`` (no open redirect)."""
    if next_url and next_url.startswith("/") and not next_url.startswith(("//", "/\\")):
        return next_url
    return "/"


def _sign_in_page(
    request: Request, next_url: str, *, status: int = 200, error: str = ""
) -> Response:
    token = secrets.token_urlsafe(24)
    answer = page(
        request, "login.html", status=status, next_url=next_url, form_token=token, error=error
    )
    answer.set_cookie(
        SIGN_IN_COOKIE, token, httponly=True, samesite="lax", secure=secure(request), path="/login"
    )
    return answer


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    return _sign_in_page(request, _local(next))


@router.post("/login")
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=2048)] = "",
    csrf: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    target = _local(next)
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    if not expected or not same_token(csrf, expected):
        return _sign_in_page(
            request, target, status=403, error="The sign-in form expired: please try again."
        )
    throttle: SignInThrottle = request.app.state.console_sign_ins
    address = request.client.host if request.client else "unknown"
    wait = throttle.wait(address, username)
    if wait:
        answer = _sign_in_page(
            request,
            target,
            status=429,
            error=f"Too many sign-in attempts: wait {wait} s and try again.",
        )
        answer.headers["Retry-After"] = str(wait)
        return answer
    settings: Settings = request.app.state.settings
    started = await run_in_threadpool(
        sign_in,
        request.app.state.engine,
        username,
        password,
        lifetime=timedelta(hours=settings.console_session_hours),
    )
    if started is None:
        return _sign_in_page(
            request, target, status=401, error="That user name and password do not match."
        )
    answer = RedirectResponse(target, status_code=303)
    answer.set_cookie(
        COOKIE,
        started.token,
        max_age=settings.console_session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=secure(request),
        path="/",
    )
    answer.delete_cookie(SIGN_IN_COOKIE, path="/login")
    return answer


@router.post("/logout")
async def logout(request: Request, signed: Annotated[SignedIn, Depends(signed_in)]) -> Response:
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not same_token(sent, signed.csrf_token):
        raise Refused("the form is out of date: reload the page", code="CSRF_FAILED")
    await run_in_threadpool(sign_out, request.app.state.engine, signed)
    answer = RedirectResponse("/login", status_code=303)
    answer.delete_cookie(COOKIE, path="/")
    return answer


@router.get("/")
def home(request: Request, signed: Annotated[SignedIn, Depends(signed_in)]) -> Response:
    entities = list(signed.user.roles)
    if len(entities) == 1:
        return RedirectResponse(f"/e/{entities[0]}", status_code=303)
    return page(
        request, "home.html", user=signed.user, csrf=signed.csrf_token, entities=signed.user.roles
    )
