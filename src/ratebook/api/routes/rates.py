"""Rate tables: list and show (read scope), import a YAML file (admin scope)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool

from ratebook.api.body import ExactJsonRoute, limited_stream
from ratebook.api.deps import Admin, Config, Reader, Store
from ratebook.workflows import rate_tables
from ratebook.workflows.import_rate_table import import_rate_table

router = APIRouter(route_class=ExactJsonRoute, tags=["rate tables"])


@router.get("/v1/rate-tables", summary="Rate tables and their versions")
def list_tables(caller: Reader, engine: Store) -> list[dict[str, Any]]:
    return rate_tables.list_rate_tables(engine, entity_code=caller.entity)


@router.get("/v1/rate-tables/{name}", summary="A rate table's versions and rates")
def show_table(
    caller: Reader, engine: Store, name: Annotated[str, PathParam(max_length=100)]
) -> dict[str, Any]:
    return rate_tables.show_rate_table(engine, name, entity_code=caller.entity)


@router.post(
    "/v1/rate-tables",
    summary="Import a rate-table file (YAML, as `ratebook rates import`)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/yaml": {"schema": {"type": "string"}}},
        }
    },
)
async def import_table(
    request: Request,
    caller: Admin,
    engine: Store,
    settings: Config,
    correct: Annotated[
        bool, Query(description="Store a changed version as its next revision.")
    ] = False,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ratebook-rates-") as folder:
        path = Path(folder) / "rates.yaml"
        with path.open("wb") as out:
            async for chunk in limited_stream(request, settings.api_max_body_bytes):
                out.write(chunk)

        def run() -> dict[str, Any]:
            with caller.acting():
                result = import_rate_table(engine, path, entity_code=caller.entity, correct=correct)
            return {
                "table": result.table,
                "added": result.added,
                "unchanged": result.unchanged,
                "corrected": result.corrected,
            }

        return await run_in_threadpool(run)
