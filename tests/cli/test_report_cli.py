"""Regulatory reports on the command line: the report and its files, a filing, its
verification (exit 1 when it no longer matches), and the retention policy and purge."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from sqlalchemy import update

from ratebook.store.engine import open_store
from ratebook.store.tables import rated_charges
from tests.cli.test_cli import FEED, _cli
from tests.conftest import write


def test_report_file_verify_and_purge(loaded: str, tmp_path: Path) -> None:
    assert _cli(loaded, "ingest", str(write(tmp_path / "feed.csv", FEED)))[0] == 0
    code, out, err = _cli(
        loaded, "report", "regulatory", "--period", "2026-10", "--out", str(tmp_path / "r")
    )
    assert code == 0, err
    assert "Gross revenue: 0.23" in out
    assert "the report reconciles" in out
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == [
        "manifest.json",
        "report.csv",
        "report.pdf",
        "report.xlsx",
    ]

    # r1 to +60123456789 (a mobile) 0.2000; r2 to +60312345678 0.0300, a Malaysian number in
    # no block libphonenumber knows (03-1...), so of unknown type
    code, out, _ = _cli(loaded, "report", "regulatory", "--period", "2026-10", "--format", "csv")
    listed = {(r["category"], r["records"], r["gross"]) for r in csv.DictReader(io.StringIO(out))}
    assert listed == {("domestic_mobile", "1", "0.20"), ("unknown", "1", "0.03")}

    code, out, err = _cli(loaded, "report", "file", "--period", "2026-10")
    assert code == 0, err
    assert "Filed report 1 (2026-10, generic@1.0, usage basis, original)" in out
    code, _, err = _cli(loaded, "report", "file", "--period", "2026-10")
    assert code == 1
    assert "REPORT_ALREADY_FILED" in err
    code, out, _ = _cli(loaded, "report", "list")
    assert code == 0
    assert "generic@1.0" in out
    code, out, _ = _cli(loaded, "report", "verify", "1")
    assert (code, "matches the ledger" in out) == (0, True)

    store = open_store(loaded)
    with store.begin() as conn:
        conn.execute(update(rated_charges).values(charge=rated_charges.c.charge + 1))
    store.dispose()
    code, out, err = _cli(loaded, "report", "verify", "1")
    assert code == 1
    assert "REPORT_MISMATCH report 1 (2026-10, generic@1.0" in err
    code, _, err = _cli(loaded, "report", "verify", "9")
    assert (code, "UNKNOWN_REPORT" in err) == (1, True)

    code, _, err = _cli(loaded, "retention", "purge")
    assert (code, "RETENTION_NOT_SET" in err) == (1, True)
    code, out, _ = _cli(loaded, "policy", "--retention-months", "18")
    assert code == 0
    assert "raw records kept 18 months" in out
    code, out, _ = _cli(loaded, "retention", "purge", "--dry-run")
    assert code == 0
    assert "Would remove the raw content of 0 records" in out
    assert "Nothing was changed" in out
