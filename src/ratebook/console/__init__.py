"""The web console for billing operators, served by ``ratebook serve`` at ``/``.

Server-rendered pages (Jinja2) with htmx, vendored, for the parts that update in place; no
build step and nothing fetched from elsewhere. Every page calls the workflows the CLI and the
API call, and holds no business rule of its own. Users sign in with a password and work in
an entity by their role there (``ratebook users``).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from ratebook.console.jobs import ImportJobs
from ratebook.console.pages import (
    audit,
    auth,
    customers,
    disputes,
    exceptions,
    imports,
    invoices,
    overview,
    rates,
)
from ratebook.console.pages.auth import SignInThrottle
from ratebook.console.web import HERE, SecurityHeaders
from ratebook.workflows.activity import BucketCache


def install(app: FastAPI) -> None:
    """Serve the console from ``app``: its pages, its files, its security headers, its
    sign-in throttle, its import thread and the overview's figures between changes."""
    app.state.console_sign_ins = SignInThrottle(app.state.settings.console_login_attempts)
    app.state.console_imports = ImportJobs()
    app.state.console_activity = BucketCache()
    for module in (
        auth,
        overview,
        exceptions,
        customers,
        disputes,
        invoices,
        rates,
        imports,
        audit,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_middleware(SecurityHeaders)


def close(app: FastAPI) -> None:
    """Let a running console import finish."""
    app.state.console_imports.close()
