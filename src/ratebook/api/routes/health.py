"""Liveness, readiness and metrics: no API key needed (metrics may need their own token)."""

from __future__ import annotations

import asyncio
import hmac
import threading
from concurrent.futures import ThreadPoolExecutor

from fastapi import APIRouter, Request, Response

from ratebook.api.deps import Config, Store
from ratebook.api.problems import Problem
from ratebook.workflows.check_health import store_problem
from ratebook.workflows.stream_status import stream_statuses

router = APIRouter(tags=["operations"])

#: How long ``/readyz`` waits for the store before answering that it does not answer.
_PROBE_SECONDS = 5


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    # on the event loop itself: no worker thread, so no queue of work, can hold it up
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database answers, its schema is current and the reference data is loaded",
    responses={503: {"description": "Not ready (problem JSON says why)"}},
)
async def readyz(request: Request, engine: Store) -> dict[str, str]:
    # on the probe's own thread, never behind the worker threads that serve requests
    probe: ThreadPoolExecutor = request.app.state.probe
    try:
        problem = await asyncio.wait_for(
            asyncio.wrap_future(probe.submit(store_problem, engine)), _PROBE_SECONDS
        )
    except TimeoutError:
        problem = "DB_UNREACHABLE"
    if problem == "DB_UNREACHABLE":
        raise Problem(503, "DB_UNREACHABLE", "the database does not answer")
    if problem == "SCHEMA_OUTDATED":
        raise Problem(503, "SCHEMA_OUTDATED", "the database schema is not at the newest migration")
    warmed: threading.Event | None = request.app.state.warmed
    if warmed is not None and not warmed.is_set():
        raise Problem(503, "WARMING_UP", "the reference data (rate tables, customers) is loading")
    return {"status": "ready"}


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}},
        401: {"description": "The metrics token is set and was not sent"},
    },
)
async def metrics(request: Request, settings: Config, engine: Store) -> Response:
    token = settings.metrics_token
    if token is not None:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        wanted = token.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.encode(), wanted):
            raise Problem(
                401,
                "UNAUTHENTICATED",
                "send the metrics token (RATEBOOK_METRICS_TOKEN) as a Bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )
    probe: ThreadPoolExecutor = request.app.state.probe
    streams = await asyncio.wrap_future(probe.submit(stream_statuses, engine))
    return Response(
        request.app.state.metrics.exposition(streams),
        media_type="text/plain; version=0.0.4; charset=utf-8",
    )
