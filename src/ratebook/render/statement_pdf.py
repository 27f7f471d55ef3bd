"""The itemised statement as a PDF (ReportLab): a header, the account summary, usage by
service, destination and band, the invoice's lines, and every record of the period.

Rendering only: the caller hands over text already formatted (amounts exact, destinations
masked, times local), so this module holds no billing rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

INK = colors.HexColor("#1f2937")
ACCENT = colors.HexColor("#0f4c81")
RULE = colors.HexColor("#cbd5e1")
SHADE = colors.HexColor("#f1f5f9")

#: Left and right padding of a table cell (ReportLab's default), in points.
_CELL_PADDING = 12


@dataclass(frozen=True, slots=True, kw_only=True)
class StatementPage:
    """Everything a statement shows, as display text."""

    entity_name: str
    entity_code: str
    customer_name: str
    account: str
    period: str
    number: str
    issued: str
    currency: str
    status: str  # e.g. "Invoice MY1-000004" or "Carried forward: under the invoicing floor"
    summary: list[tuple[str, str]]  # (label, amount) of the account summary, total last
    by_destination: list[list[str]]  # service, destination, band, records, quantity, amount
    invoice_lines: list[list[str]]  # description, quantity, rate, tax, amount
    items: list[list[str]]  # date/time, caller, destination, name, duration, billed, rate, charge
    items_total: str
    notes: list[str] = field(default_factory=list)


class _NumberedCanvas(Canvas):
    """A canvas that writes "Page n of m" once the page count is known."""

    def __init__(self, *args: Any, footer: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._saved: list[dict[str, Any]] = []
        self._footer = footer

    def showPage(self) -> None:  # noqa: N802 (ReportLab's name)
        self._saved.append(dict(self.__dict__))
        self._startPage()  # type: ignore[attr-defined]  # ReportLab has no public twin

    def save(self) -> None:
        pages = len(self._saved)
        for state in self._saved:
            self.__dict__.update(state)
            self.setFont("Helvetica", 7.5)
            self.setFillColor(colors.grey)
            self.drawString(15 * mm, 10 * mm, self._footer)
            self.drawRightString(
                A4[0] - 15 * mm, 10 * mm, f"Page {self.getPageNumber()} of {pages}"
            )
            super().showPage()
        super().save()


def _fit(text: str, width: float, font: str, size: float) -> str:  # float-ok: points
    """``text`` cut to fit a cell ``width`` points wide, with an ellipsis where it was cut."""
    room = width - _CELL_PADDING
    if stringWidth(text, font, size) <= room:
        return text
    while text and stringWidth(text + "…", font, size) > room:
        text = text[:-1]
    return text.rstrip() + "…"


def _table(
    rows: Sequence[Sequence[str]],
    widths: Sequence[float],
    *,
    header: bool = True,
    right_from: int = 99,
    total_row: bool = False,
    font_size: float = 8,  # float-ok: points
) -> Table:
    """A table whose every cell fits its column on one line (cut with an ellipsis)."""
    rows = [
        [
            _fit(
                cell,
                width,
                "Helvetica-Bold"
                if (header and n == 0) or (total_row and n == len(rows) - 1)
                else "Helvetica",
                font_size,
            )
            for cell, width in zip(row, widths, strict=True)
        ]
        for n, row in enumerate(rows)
    ]
    table = Table([list(r) for r in rows], colWidths=list(widths), repeatRows=1 if header else 0)
    style: list[tuple[Any, ...]] = [
        ("FONT", (0, 0), (-1, -1), "Helvetica", font_size),
        ("TEXTCOLOR", (0, 0), (-1, -1), INK),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
        ("ALIGN", (right_from, 0), (-1, -1), "RIGHT"),
        ("LINEBELOW", (0, -1), (-1, -1), 0.4, RULE),
    ]
    if header:
        style += [
            ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", font_size),
            ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
            ("BACKGROUND", (0, 0), (-1, 0), ACCENT),
            ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, SHADE]),
        ]
    if total_row:
        style += [
            ("FONT", (0, -1), (-1, -1), "Helvetica-Bold", font_size),
            ("LINEABOVE", (0, -1), (-1, -1), 0.8, INK),
        ]
    table.setStyle(TableStyle(style))
    return table


def render_statement(page: StatementPage, out: Path) -> int:
    """Write the statement PDF; returns the number of itemised rows.

    One function: it lays out one page flow top to bottom."""
    styles = getSampleStyleSheet()
    title = ParagraphStyle("title", parent=styles["Title"], textColor=ACCENT, alignment=0)
    heading = ParagraphStyle(
        "h", parent=styles["Heading3"], textColor=ACCENT, spaceBefore=8, spaceAfter=4
    )
    body = ParagraphStyle("b", parent=styles["BodyText"], fontSize=8.5, leading=11)
    usable = A4[0] - 30 * mm

    def on_page(canvas: Canvas, _doc: Any) -> None:
        canvas.saveState()
        canvas.setFillColor(ACCENT)
        canvas.rect(0, A4[1] - 12 * mm, A4[0], 12 * mm, stroke=0, fill=1)
        canvas.setFillColor(colors.white)
        canvas.setFont("Helvetica-Bold", 10)
        canvas.drawString(15 * mm, A4[1] - 8 * mm, page.entity_name)
        canvas.setFont("Helvetica", 9)
        canvas.drawRightString(
            A4[0] - 15 * mm, A4[1] - 8 * mm, f"Statement {page.number} · {page.period}"
        )
        canvas.restoreState()

    story: list[Any] = [
        Paragraph("Statement of account", title),
        _table(
            [
                ["Customer", page.customer_name, "Statement", page.number],
                ["Account", page.account, "Period", page.period],
                ["Issued by", f"{page.entity_name} ({page.entity_code})", "Issued", page.issued],
                ["Status", page.status, "Currency", page.currency],
            ],
            [22 * mm, 70 * mm, 22 * mm, usable - 114 * mm],
            header=False,
            font_size=8.5,
        ),
        Paragraph("Account summary", heading),
        _table(
            [["", f"Amount ({page.currency})"], *page.summary],
            [usable - 45 * mm, 45 * mm],
            right_from=1,
            total_row=True,
        ),
    ]
    if page.by_destination:
        story += [
            Paragraph("Usage by service, destination and band", heading),
            _table(
                [
                    ["Service", "Destination", "Band", "Records", "Billed", "Amount"],
                    *page.by_destination,
                ],
                [20 * mm, 62 * mm, 22 * mm, 20 * mm, 28 * mm, usable - 152 * mm],
                right_from=3,
            ),
        ]
    if page.invoice_lines:
        story += [
            Paragraph("Invoice lines", heading),
            _table(
                [["Description", "Quantity", "Rate", "Tax", "Amount"], *page.invoice_lines],
                [88 * mm, 26 * mm, 26 * mm, 16 * mm, usable - 156 * mm],
                right_from=1,
                total_row=True,
            ),
        ]
    for note in page.notes:
        story.append(Paragraph(note, body))
    story.append(Paragraph(f"Itemised usage ({len(page.items)} records)", heading))
    header = [
        "Date/time",
        "Caller",
        "Destination",
        "Destination name",
        "Duration",
        "Billed",
        "Rate",
        "Charge",
    ]
    widths = [30 * mm, 23 * mm, 23 * mm, 37 * mm, 15 * mm, 15 * mm, 19 * mm, usable - 162 * mm]
    # the itemised list starts a page, and each page holds one table with the column header
    # at its top: as many rows as a page takes, less one for safety, then a page break
    frame = A4[1] - 18 * mm - 16 * mm - 12  # the frame, less its own padding
    one = _table([header, header], widths, font_size=7).wrap(usable, frame)[1]
    two = _table([header, header, header], widths, font_size=7).wrap(usable, frame)[1]
    row_height, header_height = two - one, one - (two - one)
    per_page = int((frame - header_height) // row_height) - 1
    items_title = Paragraph(f"Itemised usage ({len(page.items)} records)", heading)
    first = per_page - int(items_title.wrap(usable, frame)[1] // row_height) - 2
    story += [PageBreak(), items_title]
    start, size = 0, first
    while True:
        chunk = page.items[start : start + size]
        story.append(_table([header, *chunk], widths, right_from=4, font_size=7))
        start += size
        if start >= len(page.items):
            break
        story.append(PageBreak())
        size = per_page
    story += [
        Spacer(1, 3 * mm),
        KeepTogether(
            _table(
                [["Itemised usage total", page.items_total]],
                [usable - 45 * mm, 45 * mm],
                header=False,
                right_from=1,
                total_row=True,
            )
        ),
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = SimpleDocTemplate(
        str(out),
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=18 * mm,
        bottomMargin=16 * mm,
        title=f"Statement {page.number}",
        author=page.entity_name,
    )
    footer = f"{page.entity_name} · {page.account} · {page.period} · statement {page.number}"

    def canvas_maker(*args: Any, **kwargs: Any) -> _NumberedCanvas:
        return _NumberedCanvas(*args, footer=footer, **kwargs)

    doc.build(story, onFirstPage=on_page, onLaterPages=on_page, canvasmaker=canvas_maker)
    return len(page.items)
