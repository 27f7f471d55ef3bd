"""Story: ACME's July statement as a PDF: the text a customer reads (extracted with pypdf)
shows the invoice's totals, the itemised calls with masked numbers, and page numbers."""

from __future__ import annotations

from pathlib import Path

from pypdf import PdfReader
from sqlalchemy import Engine

from ratebook.billing.tax import Treatment
from ratebook.workflows.billing_setup import set_tax
from ratebook.workflows.close_cycle import close_cycle
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rate_table import import_rate_table
from ratebook.workflows.invoices import get_invoice
from ratebook.workflows.statement_pdf import write_statement_pdf
from tests.conftest import write
from tests.scenarios.test_cycle_close import TABLE

HEADER = "record_id,start_time,quantity,account,caller,destination,service,unit\n"


def _text(path: Path) -> tuple[str, int]:
    reader = PdfReader(path)
    text = " ".join(page.extract_text() for page in reader.pages)
    return " ".join(text.split()), len(reader.pages)


def test_the_statement_shows_the_invoice_totals_and_masked_numbers(
    my_engine: Engine, tmp_path: Path
) -> None:
    import_rate_table(my_engine, write(tmp_path / "flat.yaml", TABLE))
    import_customers(
        my_engine,
        write(tmp_path / "c.csv", "account,name,rate_table,numbers\nACME,Acme Sdn Bhd,flat,\n"),
    )
    set_tax(my_engine, "voice", rate="8", treatment=Treatment.STANDARD, label="SST")
    # 150 calls of 61 s at RM0.10/min: 6.1/60 = 0.101666.. -> 0.1017 each (4 places)
    calls = "".join(
        f"c{i},2026-07-{1 + i % 28:02d}T10:{i % 60:02d}:00+08:00,61,ACME,+60355550000,"
        f"+6031234{i:04d},voice,s\n"
        for i in range(150)
    )
    import_feed(my_engine, write(tmp_path / "jul.csv", HEADER + calls), format_name="generic")
    close_cycle(my_engine, "2026-07")
    _, doc = get_invoice(my_engine, 1)
    # usage 150 x 0.1017 = 15.255, billed 15.26 (half-up); SST 8% of 15.26 = 1.2208 -> 1.22;
    # due 15.26 + 1.22 = 16.48, and -0.005 carried
    assert doc["totals"]["total"] == "16.48"

    result = write_statement_pdf(
        my_engine, account="ACME", period="2026-07", out=tmp_path / "acme.pdf"
    )
    text, pages = _text(result.path)
    assert (result.number, result.items, result.total) == ("MY1-000001", 150, "16.48")
    assert pages >= 3  # 150 itemised calls do not fit on two pages
    assert f"Page 1 of {pages}" in text
    assert f"Page {pages} of {pages}" in text
    assert "Statement of account" in text
    assert "Total due 16.48" in text
    assert "Usage this period 15.26" in text
    assert "Tax 1.22" in text
    assert "SST standard 8% on 15.26: 1.22 MYR" in text
    assert "Itemised usage total 15.255" in text  # the records, at the rates' places
    # every destination shows with its last 3 digits hidden, none in full
    assert "+60312340000" not in text
    assert "+60312340xxx" in text
    assert text.count("+6031234") == 150
    assert "0:01:01" in text  # duration 61 s
    assert "0.1017" in text  # one call's charge
