"""The app factory: ``create_app(settings)`` builds everything the API needs, no globals."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from sqlalchemy import Engine

from ratebook import console
from ratebook.api import problems
from ratebook.api.body import RefuseNul
from ratebook.api.coalesce import EventCoalescer
from ratebook.api.gate import Gate
from ratebook.api.key_cache import KeyCache
from ratebook.api.metrics import LatencyMiddleware, Metrics
from ratebook.api.quote_lane import QuoteLane
from ratebook.api.routes import accounts, events, health, rates, reports, review
from ratebook.settings import Settings
from ratebook.store.engine import make_engine
from ratebook.store.reference import ReferenceCache
from ratebook.workflows.warm_up import warm_references
from ratebook.workflows.writer_process import WriterProcess, shareable_url

log = logging.getLogger(__name__)

_PROBLEM = {
    "description": "An error, as RFC 9457 problem JSON with a stable `code`",
    "content": {
        "application/problem+json": {
            "schema": {
                "type": "object",
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                    "code": {"type": "string"},
                    "instance": {"type": "string"},
                    "errors": {"type": "array", "items": {"type": "object"}},
                },
                "required": ["type", "title", "status", "code"],
            }
        }
    },
}


def create_app(
    settings: Settings, *, engine: Engine | None = None, writer_process: bool = False
) -> FastAPI:
    """The API over the store ``settings.database_url`` names (or ``engine``).

    With ``writer_process`` (``ratebook serve``, unless ``api_writer_process`` is off),
    pushed events are stored by a process of their own (``workflows.writer_process``),
    started with the app, unless no other process can open the store (an in-memory
    database).

    The schema is not migrated here: ``ratebook serve`` migrates before it listens, and
    ``/readyz`` reports a store that is behind.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # the reference data loads beside the first requests, not in their way; /readyz
        # says "warming up" until it is loaded
        warmed = threading.Event()
        app.state.warmed = warmed
        writer = app.state.event_writer.start()  # its process loads its own copy meanwhile

        def warm_up() -> None:
            try:
                warm_references(app.state.engine, app.state.references)
                # the reference data lives as long as the server: kept out of the
                # collector's full passes, which would walk its millions of objects (a pause
                # of every request) now and then
                gc.freeze()
                if writer is not None:
                    writer.result()
            except Exception as error:  # its first group then starts another
                log.warning("the event writer process did not start: %s", error)
            finally:
                warmed.set()

        threading.Thread(target=warm_up, name="ratebook-warm-up", daemon=True).start()
        yield
        await run_in_threadpool(app.state.event_writer.close)
        await run_in_threadpool(app.state.quote_lane.close)
        await run_in_threadpool(console.close, app)
        app.state.probe.shutdown(wait=False)

    app = FastAPI(
        lifespan=lifespan,
        title="Ratebook",
        version="1",
        summary="Usage metering and CDR billing: push usage, quote, read balances and invoices.",
        responses={
            status: _PROBLEM
            for status in (400, 401, 403, 404, 408, 409, 413, 415, 422, 429, 500, 503)
        },
    )
    app.state.settings = settings
    app.state.warmed = None  # an Event while the lifespan's warm-up runs (never, without it)
    app.state.engine = engine or make_engine(settings.database_url)
    app.state.metrics = Metrics()
    # /readyz asks the store on a thread of its own, never queued behind requests' work
    app.state.probe = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ratebook-probe")
    # the entities' reference data, kept between requests while unchanged
    app.state.references = ReferenceCache()
    # live keys of POST /v1/events, whose writer checks them again (api.key_cache)
    app.state.keys = KeyCache()
    app.state.idempotency_purged_at = datetime.min.replace(tzinfo=UTC)  # purge at first use
    # quotes of a SQLite store are answered on the event loop (api.quote_lane)
    app.state.quote_lane = QuoteLane(on_loop=app.state.engine.dialect.name == "sqlite")
    url = shareable_url(app.state.engine) if writer_process else None
    app.state.event_writer = EventCoalescer(
        app.state.engine,
        settings,
        app.state.metrics,
        app.state.references,
        process=None if url is None else WriterProcess(url),
    )
    problems.install(app)
    for module in (health, events, accounts, review, rates, reports):
        app.include_router(module.router)
    console.install(app)
    app.add_middleware(RefuseNul)
    app.add_middleware(Gate, engine=app.state.engine, settings=settings, keys=app.state.keys)
    app.add_middleware(LatencyMiddleware, metrics=app.state.metrics)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                routes=app.routes,
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for model in events.BODY_MODELS:
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, definition in schema.pop("$defs", {}).items():
                    schemas.setdefault(name, definition)
                schemas[model.model_config.get("title") or model.__name__] = schema
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def app_from_environment() -> FastAPI:
    """The app of one worker of ``ratebook serve --workers N``: its settings (the store
    included) from ``RATEBOOK_*`` variables, its own engine, caches and event writer."""
    settings = Settings()
    return create_app(settings, writer_process=settings.api_writer_process)
