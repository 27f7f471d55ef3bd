"""An issued invoice altered in the store is never shown, exported or delivered: every read
checks its document against the SHA-256 frozen at issue and names the invoice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from ratebook.errors import ConflictError
from ratebook.store.engine import open_store
from ratebook.workflows.invoices import export_invoices, get_invoice, list_invoices
from tests.faults import story


def test_an_altered_invoice_is_refused_by_name(db_url: str, tmp_path: Path) -> None:
    engine = open_store(db_url)
    story.build(engine, tmp_path)
    _, issued = list_invoices(engine)
    number = issued[0].number
    with engine.begin() as conn:
        # the total in the document lowered, as a forger would, without its digest
        conn.execute(
            text(
                "UPDATE invoices SET document = REPLACE(document, '\"total\"', '\"totl\"')"
                " WHERE number = :n"
            ),
            {"n": number},
        )
    for read in (
        lambda: get_invoice(engine, number),
        lambda: list_invoices(engine),
        lambda: export_invoices(engine, tmp_path / "out", number=number),
    ):
        with pytest.raises(ConflictError) as refused:
            read()
        assert refused.value.code == "INVOICE_ALTERED"
        assert f"invoice {number} (A, 2026-10)" in refused.value.message
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    engine.dispose()
    shown = subprocess.run(
        [sys.executable, "-m", "ratebook", "--db", db_url, "invoices", "show", str(number)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 1
    assert shown.stderr.startswith(f"error: INVOICE_ALTERED invoice {number} (A, 2026-10)")
    assert "Traceback" not in shown.stderr
