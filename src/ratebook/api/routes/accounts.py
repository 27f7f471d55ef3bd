"""Customers, balances, invoices and statements (read scope)."""

from __future__ import annotations

import re
import tempfile
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi import Path as PathParam

from ratebook.api.body import ExactJsonRoute
from ratebook.api.deps import PeriodPath, PeriodQuery, Reader, Store
from ratebook.api.schemas import (
    BalanceOut,
    CustomerDetail,
    CustomerOut,
    IdentifierOut,
    InvoiceOut,
)
from ratebook.money import AMOUNT_SCALE, format_fixed
from ratebook.workflows import customer_accounts, invoices, report_usage
from ratebook.workflows.statement_pdf import write_statement_pdf

router = APIRouter(route_class=ExactJsonRoute, tags=["accounts"])

Account = Annotated[str, PathParam(max_length=64)]


def _instant(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _money(value: int | None) -> str | None:
    return None if value is None else format_fixed(value, AMOUNT_SCALE, min_places=2)


def _attachment(name: str) -> dict[str, str]:
    # header values are Latin-1 without quotes: anything else in an account becomes "_"
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return {"Content-Disposition": f'attachment; filename="{safe}"'}


def _customer(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "account": row["account"],
        "name": row["name"],
        "status": row["status"],
        "invoicing_floor": _money(row["invoicing_floor"]),
        "created_at": _instant(row["created_at"]),
        "closed_at": _instant(row["closed_at"]),
    }


@router.get("/v1/customers", response_model=list[CustomerOut], summary="List customers")
def get_customers(
    caller: Reader,
    engine: Store,
    status: Annotated[str | None, Query(pattern="^(active|closed)$")] = None,
) -> list[dict[str, Any]]:
    _, rows = customer_accounts.list_customers(engine, status=status, entity_code=caller.entity)
    return [_customer(r) for r in rows]


@router.get("/v1/customers/{account}", response_model=CustomerDetail, summary="One customer")
def get_customer(caller: Reader, engine: Store, account: Account) -> dict[str, Any]:
    _, row, identifiers = customer_accounts.show_customer(
        engine, account, entity_code=caller.entity
    )
    return {
        **_customer(row),
        "identifiers": [
            IdentifierOut(
                kind=i.kind,
                value=i.value,
                valid_from=_instant(i.valid_from),
                valid_to=_instant(i.valid_to),
            )
            for i in identifiers
        ],
    }


@router.get(
    "/v1/customers/{account}/balance",
    response_model=BalanceOut,
    summary="The running balance of a cycle",
)
def get_balance(
    caller: Reader,
    engine: Store,
    account: Account,
    period: PeriodQuery = None,
) -> BalanceOut:
    b = customer_accounts.customer_balance(
        engine, account, period=period, entity_code=caller.entity
    )
    return BalanceOut(**asdict(b))


@router.get("/v1/invoices", response_model=list[InvoiceOut], summary="Issued invoices")
def get_invoices(
    caller: Reader,
    engine: Store,
    period: PeriodQuery = None,
    account: Annotated[str | None, Query(max_length=64)] = None,
) -> list[InvoiceOut]:
    _, rows = invoices.list_invoices(
        engine, period=period, account=account, entity_code=caller.entity
    )
    return [
        InvoiceOut(
            number=r.number,
            account=r.account,
            customer_name=r.customer_name,
            period=r.period,
            issued_at=r.issued_at.isoformat(),
            currency=r.currency,
            net=format_fixed(r.billed_net, AMOUNT_SCALE, min_places=2),
            tax=format_fixed(r.tax, AMOUNT_SCALE, min_places=2),
            total=format_fixed(r.total, AMOUNT_SCALE, min_places=2),
            reason=r.reason,
        )
        for r in rows
    ]


@router.get(
    "/v1/invoices/{number}",
    summary="An invoice as issued: the hand-off document (docs/invoice.schema.json)",
    response_class=Response,
    responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}},
)
def get_invoice(
    caller: Reader, engine: Store, number: Annotated[int, PathParam(ge=1, le=2**31 - 1)]
) -> Response:
    row, _ = invoices.get_invoice(engine, number, entity_code=caller.entity)
    # the frozen bytes, so what the API hands off is what was issued
    return Response(row.document, media_type="application/json")


@router.get(
    "/v1/statements/{account}/{period}.csv",
    summary="A customer's itemised statement, CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def get_statement_csv(
    caller: Reader, engine: Store, account: Account, period: PeriodPath
) -> Response:
    with tempfile.TemporaryDirectory(prefix="ratebook-statement-") as folder:
        out = Path(folder) / "statement.csv"
        report_usage.write_statement(
            engine, account=account, period=period, out=out, entity_code=caller.entity
        )
        data = out.read_bytes()
    return Response(
        data,
        media_type="text/csv; charset=utf-8",
        headers=_attachment(f"{account}-{period}.csv"),
    )


@router.get(
    "/v1/statements/{account}/{period}.pdf",
    summary="A customer's statement, PDF",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}
    },
)
def get_statement_pdf(
    caller: Reader, engine: Store, account: Account, period: PeriodPath
) -> Response:
    with tempfile.TemporaryDirectory(prefix="ratebook-statement-") as folder:
        out = Path(folder) / "statement.pdf"
        write_statement_pdf(
            engine, account=account, period=period, out=out, entity_code=caller.entity
        )
        data = out.read_bytes()
    return Response(
        data,
        media_type="application/pdf",
        headers=_attachment(f"{account}-{period}.pdf"),
    )
