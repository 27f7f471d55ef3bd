"""Liveness, readiness and metrics: no API key needed (metrics may need their own token)."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response

from ratebook.api.deps import Config, Store
from ratebook.api.problems import Problem
from ratebook.workflows.check_health import store_problem

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database answers and its schema is current",
    responses={503: {"description": "Not ready (problem JSON says why)"}},
)
def readyz(engine: Store) -> dict[str, str]:
    problem = store_problem(engine)
    if problem == "DB_UNREACHABLE":
        raise Problem(503, "DB_UNREACHABLE", "the database does not answer")
    if problem == "SCHEMA_OUTDATED":
        raise Problem(503, "SCHEMA_OUTDATED", "the database schema is not at the newest migration")
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
def metrics(request: Request, settings: Config) -> Response:
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
    return Response(
        request.app.state.metrics.exposition(),
        media_type="text/plain; version=0.0.4; charset=utf-8",
    )
