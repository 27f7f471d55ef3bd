"""Properties of cycle close over two years of random small usage (DESIGN §3):

* carry-forward never loses or creates money: invoice totals plus what is still carried equal
  the exact charges plus the tax invoiced, and what is left at the account's final invoice is
  under one minor unit;
* an invoice's usage lines total its period's statement lines and its ledger usage postings;
* closing again and late records leave issued invoices byte-identical.

Expected values come from the charges as stored (summed independently of the close) and
from the ledger, never from the close's own figures.
"""

from __future__ import annotations

import itertools
import json
from datetime import date
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import ColumnElement, Engine, func, select

from ratebook.billing.tax import Treatment
from ratebook.money import parse_fixed
from ratebook.store.tables import (
    entities,
    invoice_lines,
    invoices,
    ledger_postings,
    rated_charges,
)
from ratebook.workflows.billing_setup import close_account, set_tax
from ratebook.workflows.close_cycle import close_cycle
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rate_table import import_rate_table
from ratebook.workflows.init_entity import init_entity
from ratebook.workflows.invoices import list_invoices
from ratebook.workflows.report_usage import write_statement
from tests.conftest import write

TABLE = """
name: flat
currency: MYR
timezone: Asia/Kuala_Lumpur
rounding: {places: 4, mode: half-even}
versions:
  - effective_from: 2024-01-01
    rows:
      - {prefix: "60", destination: Malaysia, price: "0.1000", increment: 1s/1s}
"""
HEADER = "record_id,start_time,quantity,account,destination,service,unit\n"
MONTHS = [f"{y}-{m:02d}" for y in (2024, 2025) for m in range(1, 13)]
_codes = itertools.count(1)


def _sum(engine: Engine, entity_id: int, *where: ColumnElement[bool]) -> int:
    with engine.connect() as conn:
        total = conn.execute(
            select(func.coalesce(func.sum(ledger_postings.c.amount), 0)).where(
                ledger_postings.c.entity_id == entity_id, *where
            )
        ).scalar_one()
    return int(total)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    calls=st.lists(
        st.tuples(st.integers(0, 23), st.integers(1, 28), st.integers(1, 400)), max_size=30
    ),
    late=st.lists(st.tuples(st.integers(0, 22), st.integers(1, 400)), max_size=4),
    taxed=st.booleans(),
)
def test_two_years_of_closes_keep_every_sen(
    engine: Engine,
    tmp_path: Path,
    calls: list[tuple[int, int, int]],
    late: list[tuple[int, int]],
    taxed: bool,
) -> None:
    code = f"P{next(_codes)}"
    init_entity(
        engine,
        code=code,
        name=code,
        currency="MYR",
        timezone="Asia/Kuala_Lumpur",
        region="MY",
        floor="1.00",
    )
    import_rate_table(engine, write(tmp_path / f"{code}.yaml", TABLE), entity_code=code)
    import_customers(
        engine,
        write(tmp_path / f"{code}.csv", "account,name,rate_table,numbers\nACME,Acme,flat,\n"),
        entity_code=code,
    )
    if taxed:
        set_tax(
            engine, "voice", rate="8", treatment=Treatment.STANDARD, label="SST", entity_code=code
        )
    rows = "".join(
        f"c{i},{MONTHS[m]}-{d:02d}T10:00:00+08:00,{s},ACME,+60312345678,voice,s\n"
        for i, (m, d, s) in enumerate(calls)
    )
    import_feed(
        engine,
        write(tmp_path / f"{code}-calls.csv", HEADER + rows),
        format_name="generic",
        entity_code=code,
    )
    close_account(engine, "ACME", date(2025, 12, 20), entity_code=code)
    for month in MONTHS:
        close_cycle(engine, month, entity_code=code)
    with engine.connect() as conn:
        entity_id = conn.execute(select(entities.c.id).where(entities.c.code == code)).scalar_one()
        charges = conn.execute(
            select(func.coalesce(func.sum(rated_charges.c.charge), 0)).where(
                rated_charges.c.entity_id == entity_id
            )
        ).scalar_one()
    _, issued = list_invoices(engine, entity_code=code)
    docs = [json.loads(i.document) for i in issued]
    totals = sum(i.total for i in issued)
    taxes = sum(i.tax for i in issued)
    left = _sum(engine, entity_id, ledger_postings.c.period == "2026-01")
    # nothing lost or created: invoiced + still carried == exact charges + tax invoiced
    assert totals + left == charges + taxes
    if charges:  # the account's closure leaves under one sen behind
        assert abs(left) < 10_000
        # its final invoice is the closure's, unless the invoices before it took everything
        # (e.g. calls of exactly RM1.25 in one month: invoiced then, nothing left to close)
        closed = [row for row in issued if row.reason == "closure"]
        assert issued[-1].period == "2025-12" or not closed
    for row in issued:
        assert row.total % 10_000 == 0  # whole sen
        assert row.reason == "closure" or row.total >= 1_000_000
    # each invoice bills its lines in whole sen, within a sen of their exact amounts, and
    # they add up to its net; the exact usage lines == the period's statement == its usage
    # postings
    for row, doc in zip(issued, docs, strict=True):
        with engine.connect() as conn:
            exact = [
                (kind, amount)
                for kind, amount in conn.execute(
                    select(invoice_lines.c.kind, invoice_lines.c.amount)
                    .join(invoices, invoices.c.id == invoice_lines.c.invoice_id)
                    .where(invoices.c.number == row.number, invoices.c.entity_id == entity_id)
                    .order_by(invoice_lines.c.line_no)
                )
            ]
        billed = [parse_fixed(x["amount"], 6, allow_negative=True) for x in doc["lines"]]
        assert all(amount % 10_000 == 0 for amount in billed)
        assert all(abs(b - e) < 10_000 for b, (_, e) in zip(billed, exact, strict=True))
        net = parse_fixed(doc["totals"]["net"], 6, allow_negative=True)
        tax = parse_fixed(doc["totals"]["tax"], 6, allow_negative=True)
        assert sum(billed) == net
        assert net + tax == row.total
        usage = sum(amount for kind, amount in exact if kind == "usage")
        out = write_statement(
            engine,
            account="ACME",
            period=row.period,
            out=tmp_path / f"{code}-{row.period}.csv",
            entity_code=code,
        )
        assert parse_fixed(out.total, 6) == usage
        posted = _sum(
            engine,
            entity_id,
            ledger_postings.c.period == row.period,
            ledger_postings.c.kind.in_(["usage", "reversal"]),
        )
        assert posted == usage
    # late records and closing again leave every issued invoice as it was
    rows = "".join(
        f"late{i},{MONTHS[m]}-15T10:00:00+08:00,{s},ACME,+60312345678,voice,s\n"
        for i, (m, s) in enumerate(late)
    )
    import_feed(
        engine,
        write(tmp_path / f"{code}-late.csv", HEADER + rows),
        format_name="generic",
        entity_code=code,
    )
    for month in MONTHS:
        assert close_cycle(engine, month, entity_code=code).already_closed
    _, again = list_invoices(engine, entity_code=code)
    assert [i.document for i in again] == [i.document for i in issued]
    late_posted = _sum(
        engine,
        entity_id,
        ledger_postings.c.period == "2026-01",
        ledger_postings.c.kind == "late_usage",
    )
    # s seconds cost s/600 RM = s x 50/3 ten-thousandths, never a half: nearest is (50s+1)//3
    assert late_posted == sum((50 * s + 1) // 3 * 100 for _, s in late)
