"""Invoices: the list, one invoice with its lines and deliveries, its documents, and the
lineage from a line to its records and their raw rows."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from ratebook.console.pages.downloads import attachment
from ratebook.console.params import Number, RowId
from ratebook.console.session import Viewing
from ratebook.console.web import ConsoleRoute, page
from ratebook.workflows import invoices
from ratebook.workflows.lineage import lineage

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
Text = Annotated[str | None, Query(max_length=64)]


@router.get("/e/{entity}/invoices")
def listing(request: Request, desk: Viewing, period: Text = None, account: Text = None) -> Response:
    _, rows = invoices.list_invoices(
        request.app.state.engine,
        period=period or None,
        account=account or None,
        entity_code=desk.entity,
    )
    return page(
        request,
        "invoices.html",
        desk=desk,
        rows=rows[::-1],
        period=period or "",
        account=account or "",
    )


@router.get("/e/{entity}/invoices/{number}")
def one(request: Request, desk: Viewing, number: Number) -> Response:
    detail = invoices.invoice_detail(request.app.state.engine, number, entity_code=desk.entity)
    return page(request, "invoice.html", desk=desk, i=detail, doc=detail.document)


@router.get("/e/{entity}/invoices/{number}/document.json")
def document(request: Request, desk: Viewing, number: Number) -> Response:
    row, _ = invoices.get_invoice(request.app.state.engine, number, entity_code=desk.entity)
    return Response(
        row.document, media_type="application/json", headers=attachment(f"invoice-{number}.json")
    )


@router.get("/e/{entity}/invoices/{number}/ubl.xml")
def ubl(request: Request, desk: Viewing, number: Number) -> Response:
    data = invoices.invoice_ubl(request.app.state.engine, number, entity_code=desk.entity)
    return Response(data, media_type="application/xml", headers=attachment(f"invoice-{number}.xml"))


@router.get("/e/{entity}/lineage/{line_id}")
def line_lineage(request: Request, desk: Viewing, line_id: RowId) -> Response:
    chain = lineage(request.app.state.engine, invoice_line=line_id, entity_code=desk.entity)
    return page(request, "lineage.html", desk=desk, chain=chain)
