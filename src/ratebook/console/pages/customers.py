"""Customers: the list, and one customer's numbers, rate tables, balance, records with their
explanations, statements, invoices and daily usage."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from ratebook.console.pages.downloads import attachment, statement_csv, statement_pdf
from ratebook.console.params import Name
from ratebook.console.session import Viewing
from ratebook.console.web import ConsoleRoute, page
from ratebook.workflows import activity, customer_accounts, invoices
from ratebook.workflows.explain_record import explain

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

#: Records on one page of a customer's cycle.
PAGE = 100
Account = Annotated[str, Query(max_length=64)]


@router.get("/e/{entity}/customers")
def customers(
    request: Request, desk: Viewing, q: Annotated[str | None, Query(max_length=200)] = None
) -> Response:
    _, rows = customer_accounts.list_customers(request.app.state.engine, entity_code=desk.entity)
    needle = (q or "").strip().lower()
    if needle:
        rows = [r for r in rows if needle in r["account"].lower() or needle in r["name"].lower()]
    return page(request, "customers.html", desk=desk, rows=rows, q=q or "")


@router.get("/e/{entity}/customers/{account}")
def customer(
    request: Request,
    desk: Viewing,
    account: Name,
    period: Annotated[str | None, Query(max_length=32)] = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> Response:
    engine = request.app.state.engine
    _, found, identifiers = customer_accounts.show_customer(
        engine, account, entity_code=desk.entity
    )
    periods = activity.periods_with_usage(engine, entity_code=desk.entity)
    shown = period or activity.default_period(periods, desk.facts, datetime.now(UTC))
    balance = customer_accounts.customer_balance(
        engine, account, period=shown, entity_code=desk.entity
    )
    _, records = customer_accounts.customer_records(
        engine, account, shown, entity_code=desk.entity, limit=PAGE + 1, offset=offset
    )
    _, days = activity.daily(engine, shown, entity_code=desk.entity, account=account)
    _, issued = invoices.list_invoices(engine, account=account, entity_code=desk.entity)
    return page(
        request,
        "customer.html",
        desk=desk,
        c=found,
        identifiers=identifiers,
        assignments=customer_accounts.customer_assignments(
            engine, account, entity_code=desk.entity
        ),
        balance=balance,
        records=records[:PAGE],
        offset=offset,
        more=len(records) > PAGE,
        page_size=PAGE,
        days=days,
        invoices=issued,
        period=shown,
        periods=periods,
    )


@router.get("/e/{entity}/explain")
def explain_record(
    request: Request,
    desk: Viewing,
    record: Annotated[str, Query(max_length=255)],
    origin: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    lines = explain(request.app.state.engine, record, origin=origin, entity_code=desk.entity)
    return page(request, "explain.html", desk=desk, record=record, lines=lines)


@router.get("/e/{entity}/customers/{account}/statement/{period}.csv")
def customer_statement_csv(
    request: Request, desk: Viewing, account: Name, period: Name
) -> Response:
    data = statement_csv(request.app.state.engine, desk.entity, account, period)
    return Response(
        data, media_type="text/csv; charset=utf-8", headers=attachment(f"{account}-{period}.csv")
    )


@router.get("/e/{entity}/customers/{account}/statement/{period}.pdf")
def customer_statement_pdf(
    request: Request, desk: Viewing, account: Name, period: Name
) -> Response:
    data = statement_pdf(request.app.state.engine, desk.entity, account, period)
    return Response(
        data, media_type="application/pdf", headers=attachment(f"{account}-{period}.pdf")
    )
