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
from tests.support.pdf_text import overlaps, text_runs

HEADER = "record_id,start_time,quantity,account,caller,destination,service,unit\n"


def _text(path: Path) -> tuple[str, int]:
    reader = PdfReader(path)
    text = " ".join(page.extract_text() for page in reader.pages)
    return " ".join(text.split()), len(reader.pages)


def _acme_calls(
    engine: Engine, tmp_path: Path, table: tuple[str, str], calls: int, numbers: str
) -> None:
    """ACME on ``table`` (its name and YAML), with ``calls`` calls of 61 s in July to
    ``numbers`` followed by four digits."""
    name, text = table
    import_rate_table(engine, write(tmp_path / "table.yaml", text))
    import_customers(
        engine,
        write(tmp_path / "c.csv", f"account,name,rate_table,numbers\nACME,Acme Sdn Bhd,{name},\n"),
    )
    rows = "".join(
        f"c{i},2026-07-{1 + i % 28:02d}T10:{i % 60:02d}:00+08:00,61,ACME,+60355550000,"
        f"{numbers}{i:04d},voice,s\n"
        for i in range(calls)
    )
    import_feed(engine, write(tmp_path / "jul.csv", HEADER + rows), format_name="generic")


def test_the_statement_shows_the_invoice_totals_and_masked_numbers(
    my_engine: Engine, tmp_path: Path
) -> None:
    set_tax(my_engine, "voice", rate="8", treatment=Treatment.STANDARD, label="SST")
    # 150 calls of 61 s at RM0.10/min: 6.1/60 = 0.101666.. -> 0.1017 each (4 places)
    _acme_calls(my_engine, tmp_path, ("flat", TABLE), 150, "+6031234")
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


LONG_NAMES = """
name: long
currency: MYR
timezone: Asia/Kuala_Lumpur
versions:
  - effective_from: 2026-01-01
    rows:
      - prefix: "609"
        destination: "Malaysia Fixed (Kelantan, Terengganu & Pahang)"
        price: "0.1000"
      - {prefix: "60", destination: Malaysia, price: "0.1000"}
"""


def test_itemised_columns_never_overlap_and_each_page_has_one_header(
    my_engine: Engine, tmp_path: Path
) -> None:
    _acme_calls(my_engine, tmp_path, ("long", LONG_NAMES), 300, "+6091234")
    result = write_statement_pdf(
        my_engine, account="ACME", period="2026-07", out=tmp_path / "acme.pdf"
    )
    pages = text_runs(result.path)
    itemised = [runs for runs in pages if any(text == "Date/time" for _, _, text, _ in runs)]
    assert len(itemised) >= 3  # 300 calls take several pages
    for runs in itemised:
        # the column header once, at the top of the page's table
        headers = [y for _, y, text, _ in runs if text == "Date/time"]
        assert len(headers) == 1
        assert all(y <= headers[0] for x, y, text, _ in runs if "+6091234" in text)
        # on every line, each text ends before the next one starts (Helvetica, as drawn)
        assert overlaps(runs) == []
    names = [text for runs in itemised for _, _, text, _ in runs if text.startswith("Malaysia F")]
    assert names
    assert all(text.endswith("…") for text in names)  # the long name, cut to its column
