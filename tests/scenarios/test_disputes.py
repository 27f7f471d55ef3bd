"""Story: ACME disputes calls; an upheld dispute's credit reaches the next invoice.

Voice to +60 costs RM0.1000 a minute, billed per second (N s cost N/600 ringgit). Voice is
taxed at 8%. October: 600 s (RM1.0000) and 1200 s (RM2.0000), net RM3.0000.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from ratebook.billing.tax import Treatment
from ratebook.errors import ConflictError, InputError, NotFoundError
from ratebook.store.tables import invoice_lines
from ratebook.workflows import disputes, resolve_dispute
from ratebook.workflows.billing_setup import set_tax
from ratebook.workflows.close_cycle import close_cycle
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rate_table import import_rate_table
from ratebook.workflows.invoices import get_invoice
from ratebook.workflows.lineage import lineage
from tests.conftest import write

TABLE = """
name: flat
currency: MYR
timezone: Asia/Kuala_Lumpur
rounding: {places: 4, mode: half-up}
versions:
  - effective_from: 2026-01-01
    rows:
      - {prefix: "60", destination: Malaysia, price: "0.1000", increment: 1s/1s}
"""
HEADER = "record_id,start_time,quantity,account,destination,service,unit\n"


def _october(engine: Engine, tmp_path: Path) -> None:
    import_rate_table(engine, write(tmp_path / "flat.yaml", TABLE))
    import_customers(
        engine,
        write(tmp_path / "c.csv", "account,name,rate_table,numbers\nACME,Acme,flat,\n"),
    )
    set_tax(engine, "voice", rate="8", treatment=Treatment.STANDARD, label="SST")
    body = (
        "k1,2026-10-05T10:00:00+08:00,600,ACME,+60312345678,voice,s\n"
        "k2,2026-10-06T10:00:00+08:00,1200,ACME,+60312345678,voice,s\n"
    )
    import_feed(engine, write(tmp_path / "oct.csv", HEADER + body), format_name="generic")


def _document(engine: Engine, number: int) -> dict[str, Any]:
    return get_invoice(engine, number)[1]


def test_an_upheld_dispute_credits_the_next_invoice(my_engine: Engine, tmp_path: Path) -> None:
    _october(my_engine, tmp_path)
    opened = disputes.open_dispute(
        my_engine, disputes.Subject(record_id="k2"), "the line was down that day"
    )
    assert (opened["number"], opened["status"], opened["disputed"]) == (1, "open", 2_000_000)
    disputes.comment(my_engine, 1, "asked the NOC for the outage report")
    disputes.set_status(my_engine, 1, "investigating")
    disputes.comment(my_engine, 1, "outage confirmed 09:40-10:30")
    resolved = resolve_dispute.resolve(
        my_engine, 1, outcome="upheld", credit="0.50", note="half the call was dead air"
    )
    assert (resolved["status"], resolved["outcome"], resolved["credit"]) == (
        "resolved",
        "upheld",
        500_000,
    )
    assert resolved["credit_period"] == "2026-10"

    # history in order: opened, comment, status, comment, resolved
    history = disputes.show(my_engine, 1)["history"]
    assert [e["kind"] for e in history] == ["opened", "comment", "status", "comment", "resolved"]
    assert [e["to_status"] for e in history] == [
        "open",
        None,
        "investigating",
        None,
        "resolved",
    ]
    assert history[-1]["body"] == "upheld: half the call was dead air"

    # October: usage 3.0000, credit -0.5000, net 2.5000; SST 8% = 0.2000; total 2.70
    result = close_cycle(my_engine, "2026-10")
    assert result.invoiced == 1
    invoice = _document(my_engine, result.invoice_numbers[0])
    credit = [line for line in invoice["lines"] if line["kind"] == "credit"]
    assert [(c["amount"], c["category"]) for c in credit] == [("-0.50", "voice")]
    assert "dispute 1" in credit[0]["description"]
    assert (invoice["totals"]["net"], invoice["totals"]["tax"], invoice["totals"]["total"]) == (
        "2.50",
        "0.20",
        "2.70",
    )


def test_illegal_moves_are_refused(my_engine: Engine, tmp_path: Path) -> None:
    _october(my_engine, tmp_path)
    disputes.open_dispute(my_engine, disputes.Subject(record_id="k1"), "never called")
    with pytest.raises(ConflictError) as too_big:
        resolve_dispute.resolve(my_engine, 1, outcome="upheld", credit="1.0001")  # disputed 1.0000
    assert too_big.value.code == "CREDIT_TOO_LARGE"
    with pytest.raises(InputError) as rejected_credit:
        resolve_dispute.resolve(my_engine, 1, outcome="rejected", credit="0.10")
    assert rejected_credit.value.code == "CREDIT_ON_REJECTED"
    with pytest.raises(InputError):
        disputes.set_status(my_engine, 1, "resolved")  # only 'resolve' resolves
    resolve_dispute.resolve(my_engine, 1, outcome="rejected", note="CDR matches the switch log")
    moves: list[Callable[[], object]] = [
        lambda: resolve_dispute.resolve(my_engine, 1, outcome="upheld", credit="0.10"),
        lambda: disputes.set_status(my_engine, 1, "investigating"),
        lambda: disputes.set_status(my_engine, 1, "open"),
    ]
    for move in moves:
        with pytest.raises(ConflictError) as illegal:
            move()
        assert illegal.value.code == "ILLEGAL_TRANSITION"
    # nothing was credited, and the refused moves left no trace in the history
    shown = disputes.show(my_engine, 1)
    assert (shown["outcome"], shown["credit"]) == ("rejected", None)
    assert [e["kind"] for e in shown["history"]] == ["opened", "resolved"]
    with pytest.raises(NotFoundError) as unbilled:
        disputes.open_dispute(my_engine, disputes.Subject(record_id="nope"), "x")
    assert unbilled.value.code == "RECORD_NOT_FOUND"


def test_a_dispute_on_an_issued_invoice_line_credits_the_next_cycle(
    my_engine: Engine, tmp_path: Path
) -> None:
    _october(my_engine, tmp_path)
    october = close_cycle(my_engine, "2026-10")
    row, _ = get_invoice(my_engine, october.invoice_numbers[0])
    with my_engine.connect() as conn:
        line_id = conn.execute(
            select(invoice_lines.c.id).where(
                invoice_lines.c.invoice_id == row.id, invoice_lines.c.kind == "usage"
            )
        ).scalar_one()
    # lineage: the usage line billed k1 (600 s = 1.0000) and k2 (1200 s = 2.0000), rows 2 and 3
    chain = lineage(my_engine, invoice_line=line_id)
    assert chain["invoice_line"]["invoice_number"] == row.number
    assert [
        (r["record_id"], r["source_line"], r["raw"][:3], [c["charge"] for c in r["charges"]])
        for r in chain["records"]
    ] == [("k1", 2, "k1,", [1_000_000]), ("k2", 3, "k2,", [2_000_000])]
    assert all(c["invoice_number"] == row.number for r in chain["records"] for c in r["charges"])
    opened = disputes.open_dispute(
        my_engine, disputes.Subject(invoice_line=line_id), "rate should be the promo rate"
    )
    assert opened["disputed"] == 3_000_000
    resolve_dispute.resolve(my_engine, 1, outcome="upheld", credit="1.00")
    # November holds only the credit: a balance of -1.00 is under the floor, so it is carried
    november = close_cycle(my_engine, "2026-11", now=datetime(2026, 12, 1, tzinfo=UTC))
    assert (november.invoiced, november.carried, november.carried_total) == (0, 1, -1_000_000)
    # December: 1800 s = 3.00, the credit brought forward -1.00, net 2.00, SST 0.16, 2.16
    body = "k3,2026-12-03T10:00:00+08:00,1800,ACME,+60312345678,voice,s\n"
    import_feed(my_engine, write(tmp_path / "dec.csv", HEADER + body), format_name="generic")
    december = close_cycle(my_engine, "2026-12", now=datetime(2027, 1, 1, tzinfo=UTC))
    invoice = _document(my_engine, december.invoice_numbers[0])
    assert [(line["kind"], line["amount"]) for line in invoice["lines"]] == [
        ("usage", "3.00"),
        ("brought_forward", "-1.00"),
    ]
    assert (invoice["totals"]["net"], invoice["totals"]["tax"], invoice["totals"]["total"]) == (
        "2.00",
        "0.16",
        "2.16",
    )
