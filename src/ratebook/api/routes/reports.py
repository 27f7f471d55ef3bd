"""Regulatory usage reports, their filings and the check of a filing (read scope)."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi import Path as PathParam

from ratebook.api.body import ExactJsonRoute
from ratebook.api.deps import PeriodPath, PeriodQuery, Reader, Store
from ratebook.billing.compose import canonical_json
from ratebook.workflows.file_report import Filing, list_filings, verify_filing
from ratebook.workflows.report_regulatory import build_report

router = APIRouter(route_class=ExactJsonRoute, tags=["reports"])

Profile = Annotated[
    str,
    Query(
        max_length=64,
        description="A shipped profile: generic, mcmc-usp or fcc-499 (the API reads no files).",
    ),
]
Basis = Annotated[
    str | None,
    Query(pattern="^(usage|invoice)$", description="usage (start time) or invoice (issue date)."),
]


def _filing(f: Filing) -> dict[str, Any]:
    return {
        "report": f.id,
        "period": f.period,
        "profile": f.profile,
        "profile_version": f.profile_version,
        "basis": f.basis,
        "revision": f.revision,
        "amends": f.amends_id,
        "inputs_sha256": f.inputs_sha256,
        "csv_sha256": f.csv_sha256,
        "filed_by": f.filed_by,
        "filed_at": f.filed_at.isoformat(),
    }


@router.get(
    "/v1/reports/regulatory/{period}",
    summary="A period's regulatory usage report: JSON, or its CSV with format=csv",
    response_class=Response,
    responses={
        200: {
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "text/csv": {"schema": {"type": "string"}},
            }
        }
    },
)
def get_regulatory_report(
    caller: Reader,
    engine: Store,
    period: PeriodPath,
    profile: Profile = "generic",
    basis: Basis = None,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Response:
    built = build_report(
        engine,
        period=period,
        profile=profile,
        basis=basis,
        entity_code=caller.entity,
        profile_files=False,
    )
    if format == "csv":
        return Response(
            built.csv,
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="report-{period}.csv"',
                "X-Inputs-SHA256": built.inputs_sha256,
            },
        )
    rows = list(csv.DictReader(io.StringIO(built.csv.decode("utf-8"))))
    body = {**built.manifest(), "rows": rows}
    del body["profile_definition"]
    return Response(canonical_json(body), media_type="application/json")


@router.get("/v1/reports/filings", summary="Filed regulatory reports, oldest first")
def get_filings(caller: Reader, engine: Store, period: PeriodQuery = None) -> list[dict[str, Any]]:
    _, filings = list_filings(engine, period=period, entity_code=caller.entity)
    return [_filing(f) for f in filings]


@router.get(
    "/v1/reports/filings/{report}/verification",
    summary="A filed report recomputed from the ledger: does it still match?",
)
def get_verification(
    caller: Reader, engine: Store, report: Annotated[int, PathParam(ge=1, le=2**31 - 1)]
) -> dict[str, Any]:
    verdict = verify_filing(engine, report, entity_code=caller.entity)
    return {
        "filing": _filing(verdict.filing),
        "matches": verdict.matches,
        "problems": verdict.problems,
        "purged_records": verdict.purged,
        "differences": [
            {"row": list(d.key), "column": d.column, "filed": d.before, "now": d.after}
            for d in verdict.differences
        ],
    }
