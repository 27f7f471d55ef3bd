"""Billing from the command line: subscriptions, tax, cycle close, invoices and statements,
with their located errors."""

from __future__ import annotations

import json
from pathlib import Path

from pypdf import PdfReader

from tests.cli.test_cli import FEED, _cli
from tests.conftest import write

SUBSCRIPTIONS = (
    "reference,account,plan,fee,interval,billing,starts_on,ends_on\n"
    "S-1,ACME,SIP trunk,30.00,monthly,arrears,2026-10-16,\n"
)


def test_a_month_from_subscription_to_statement(loaded: str, tmp_path: Path) -> None:
    db = loaded
    path = write(tmp_path / "subs.csv", SUBSCRIPTIONS)
    code, out, _ = _cli(db, "subscriptions", "import", str(path))
    assert (code, "1 added" in out) == (0, True)
    assert "0 added, 0 ended, 1 unchanged" in _cli(db, "subscriptions", "import", str(path))[1]
    assert _cli(db, "tax", "set", "*", "--rate", "8")[0] == 0
    assert _cli(db, "ingest", str(write(tmp_path / "oct.csv", FEED)), "--format", "generic")[0] == 0
    code, out, _ = _cli(db, "cycle", "close", "--period", "2026-10")
    assert code == 0
    assert "1 invoiced (MY1-000001 to MY1-000001)" in out
    # usage 0.2000 + 0.0300; SIP trunk 30.00 x 16/31 = 15.4838.. -> 15.4839 (4 places); the
    # net 15.7139 is billed as 15.71 (0.20, 0.03, 15.48); SST 8% on 15.71 = 1.2568 -> 1.26;
    # total 16.97, and 0.0039 carried
    code, out, _ = _cli(db, "invoices", "list", "--format", "json")
    assert [(i["invoice"], i["total"], i["tax"]) for i in json.loads(out)] == [
        ("MY1-000001", "16.97", "1.26")
    ]
    code, out, _ = _cli(db, "invoices", "show", "1")
    assert "SIP trunk, 16 Oct 2026 to 31 Oct 2026 (16 of 31 days)" in out
    assert "total 16.97 MYR" in out
    assert "already closed" in _cli(db, "cycle", "close", "--period", "2026-10")[1]
    # the audit log shows the close's money as money
    code, out, _ = _cli(db, "audit", "log", "--action", "cycle.close", "--format", "json")
    assert '"invoiced_total":"16.97"' in json.loads(out)[0]["change"]
    code, out, _ = _cli(db, "invoices", "export", "--format", "ubl", "--out", str(tmp_path / "x"))
    assert (code, (tmp_path / "x" / "MY1-000001.xml").exists()) == (0, True)
    pdf = tmp_path / "acme.pdf"
    code, out, _ = _cli(
        db, "statement", "--customer", "ACME", "--period", "2026-10", "--pdf", "--out", str(pdf)
    )
    assert code == 0
    assert "statement MY1-000001, 2 records, 16.97 MYR" in out
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(pdf).pages).split())
    assert "Total due 16.97" in text


def test_billing_errors_name_what_is_wrong(loaded: str, tmp_path: Path) -> None:
    db = loaded
    bad = write(tmp_path / "subs.csv", SUBSCRIPTIONS.replace("2026-10-16", "16/10/2026"))
    code, _, err = _cli(db, "subscriptions", "import", str(bad))
    assert code == 1
    assert f"{bad}:2: starts_on: BAD_DATE" in err
    unknown = write(tmp_path / "u.csv", SUBSCRIPTIONS.replace("ACME", "NOPE"))
    assert (
        f"{unknown}:2: account: UNKNOWN_CUSTOMER"
        in _cli(db, "subscriptions", "import", str(unknown))[2]
    )
    code, _, err = _cli(db, "cycle", "close", "--period", "2099-01")
    assert (code, "CYCLE_NOT_ENDED" in err) == (1, True)
    code, _, err = _cli(db, "invoices", "show", "7")
    assert (code, "INVOICE_NOT_FOUND" in err) == (1, True)
    code, _, err = _cli(db, "tax", "set", "voice", "--rate", "eight")
    assert (code, "--rate: rate: NOT_A_NUMBER" in err) == (1, True)
