"""Liveness, readiness and metrics: no key needed."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ratebook.api.deps import Store
from ratebook.api.problems import Problem
from ratebook.store.engine import is_current, reading

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
    try:
        with reading(engine).connect() as conn:
            conn.execute(text("SELECT 1"))
        current = is_current(engine)
    except SQLAlchemyError:
        raise Problem(503, "DB_UNREACHABLE", "the database does not answer") from None
    if not current:
        raise Problem(503, "SCHEMA_OUTDATED", "the database schema is not at the newest migration")
    return {"status": "ready"}


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
def metrics(request: Request) -> Response:
    return Response(
        request.app.state.metrics.exposition(),
        media_type="text/plain; version=0.0.4; charset=utf-8",
    )
