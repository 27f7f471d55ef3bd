"""A regulatory report's files: the CSV (deterministic bytes), the XLSX workbook (a summary
sheet and a detail sheet, numbers as numbers, money as exact decimals shown to the minor unit)
and the PDF for the signatory (summary tables, a chart of net revenue by category, the
digests).

Rendering only: the caller hands over the report as text already formatted exactly, and says
which columns are counts, quantities and money, so this module holds no reporting rule.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from ratebook.render.listing import SafeCsvWriter

INK = colors.HexColor("#1f2937")
ACCENT = colors.HexColor("#0f4c81")
RULE = colors.HexColor("#cbd5e1")
SHADE = colors.HexColor("#f1f5f9")

#: The instant written into the XLSX and PDF as their creation time: fixed, so the same
#: report gives the same document text.
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC).replace(tzinfo=None)  # openpyxl takes naive UTC


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportDocument:
    """A report, as display text.

    Attributes:
        header: the CSV header.
        rows: the CSV rows (``section`` first).
        counts: columns holding whole counts; quantities: columns holding quantities;
            money: columns holding amounts. The rest is text.
        summary: (label, value) lines for the first page and the summary sheet.
        categories: (category, net revenue) for the chart, in report order.
        reconciliation: (label, value) lines of the reconciliation with the ledger.
        digests: (label, SHA-256) of the report's inputs and CSV.
    """

    title: str
    entity: str
    period: str
    profile: str
    basis: str
    currency: str
    note: str
    minor: int
    header: list[str]
    rows: list[list[str]]
    counts: frozenset[str]
    quantities: frozenset[str]
    money: frozenset[str]
    summary: list[tuple[str, str]] = field(default_factory=list)
    categories: list[tuple[str, Decimal]] = field(default_factory=list)
    reconciliation: list[tuple[str, str]] = field(default_factory=list)
    digests: list[tuple[str, str]] = field(default_factory=list)


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    """The rows as CSV: UTF-8, ``\\n`` line ends, minimal quoting; the same rows give the same
    bytes."""
    buffer = io.StringIO()
    # a value from a feed (a service's name) never runs as a formula where the file is opened
    writer = SafeCsvWriter(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _cell(value: str, column: str, doc: ReportDocument) -> int | Decimal | str | None:
    if value == "" and column in doc.counts | doc.quantities | doc.money:
        return None
    if column in doc.counts:
        return int(value)
    if column in doc.quantities or column in doc.money:
        return Decimal(value)
    return value


def xlsx_bytes(doc: ReportDocument) -> bytes:
    """The workbook: ``Summary`` (the report's particulars, summary, reconciliation and
    digests) and ``Detail`` (every CSV row, typed)."""
    book = Workbook()
    book.properties.created = _EPOCH
    book.properties.modified = _EPOCH
    book.properties.creator = "Ratebook"
    summary = book.active
    assert summary is not None
    summary.title = "Summary"
    bold = Font(bold=True)
    summary.append([doc.title])
    summary["A1"].font = Font(bold=True, size=14)
    for label, value in [
        ("Entity", doc.entity),
        ("Period", doc.period),
        ("Profile", doc.profile),
        ("Basis", doc.basis),
        ("Currency", doc.currency),
        ("Note", doc.note),
    ]:
        summary.append([label, value])
    for heading, lines in (
        ("Summary", doc.summary),
        ("Reconciliation with the ledger", doc.reconciliation),
        ("Digests (SHA-256)", doc.digests),
    ):
        summary.append([])
        summary.append([heading])
        summary.cell(row=summary.max_row, column=1).font = bold
        for label, value in lines:
            summary.append([label, value])
    summary.column_dimensions["A"].width = 34
    summary.column_dimensions["B"].width = 70
    money_format = "#,##0." + "0" * doc.minor if doc.minor else "#,##0"
    detail = book.create_sheet("Detail")
    detail.append(doc.header)
    for cell in detail[1]:
        cell.font = bold
        cell.fill = PatternFill("solid", fgColor="F1F5F9")
    for row in doc.rows:
        detail.append([_cell(v, c, doc) for v, c in zip(row, doc.header, strict=True)])
    for index, column in enumerate(doc.header, start=1):
        letter = get_column_letter(index)
        detail.column_dimensions[letter].width = max(10, len(column) + 2)
        if column in doc.money:
            for (cell,) in detail.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = money_format
                cell.alignment = Alignment(horizontal="right")
    detail.freeze_panes = "B2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _fit(
    titles: list[str],
    rows: list[list[str]],
    usable: float,  # float-ok: points on the page
    first_numeric: int,
) -> list[float]:  # float-ok: points on the page
    """Column widths for a table of 7-point text within ``usable`` points: each numeric
    column as wide as its widest figure (figures never wrap), the text columns sharing the
    rest in proportion to their widest value (they wrap)."""
    pad = 14.0  # a cell's padding, both sides

    def widest(i: int) -> float:  # float-ok: points on the page
        figures = [stringWidth(r[i], "Helvetica", 7) for r in rows]
        words = [stringWidth(w, "Helvetica-Bold", 7) for w in titles[i].split()]
        return max(figures + words) + pad

    widths = [widest(i) for i in range(len(titles))]
    text = sum(widths[:first_numeric])
    room = usable - sum(widths[first_numeric:])
    if text > room > 0:
        widths[:first_numeric] = [w * room / text for w in widths[:first_numeric]]
    return widths


def _table(
    rows: list[list[Any]],
    widths: list[float],  # float-ok: points on the page
    right_from: int,
    size: float = 8,  # float-ok: a font size
) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", size),
                ("FONT", (0, 1), (-1, -1), "Helvetica", size),
                ("TEXTCOLOR", (0, 0), (-1, -1), INK),
                ("BACKGROUND", (0, 0), (-1, 0), SHADE),
                ("LINEBELOW", (0, 0), (-1, 0), 0.6, ACCENT),
                ("LINEBELOW", (0, 1), (-1, -1), 0.25, RULE),
                ("ALIGN", (right_from, 0), (-1, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _chart(
    categories: list[tuple[str, Decimal]],
    width: float,  # float-ok: points on the page
) -> Drawing:
    """Horizontal bars of net revenue by category (drawn to scale; the figures are in the
    table beside it)."""
    height = 24 + 16 * len(categories)
    drawing = Drawing(width, height)
    chart = HorizontalBarChart()
    chart.x, chart.y = 110, 12
    chart.width, chart.height = int(width) - 130, height - 20
    # drawing geometry only: the amounts themselves are printed exactly in the tables
    chart.data = [[float(v) for _, v in reversed(categories)]]  # float-ok
    chart.categoryAxis.categoryNames = [c for c, _ in reversed(categories)]
    chart.categoryAxis.labels.fontSize = 8
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    chart.bars[0].fillColor = ACCENT
    chart.bars[0].strokeColor = None
    drawing.add(chart)
    return drawing


def pdf_bytes(doc: ReportDocument) -> bytes:
    """The report for the signatory: particulars, summary, the chart, the lines,
    reconciliation and digests, on A4 landscape pages numbered in the footer."""
    buffer = io.BytesIO()
    page = landscape(A4)
    footer = f"{doc.entity} · {doc.period} · {doc.profile}"

    def decorate(canvas: object, document: SimpleDocTemplate) -> None:
        canvas.saveState()  # type: ignore[attr-defined]
        canvas.setFont("Helvetica", 7.5)  # type: ignore[attr-defined]
        canvas.setFillColor(colors.grey)  # type: ignore[attr-defined]
        canvas.drawString(15 * mm, 10 * mm, footer)  # type: ignore[attr-defined]
        canvas.drawRightString(  # type: ignore[attr-defined]
            page[0] - 15 * mm, 10 * mm, f"Page {document.page}"
        )
        canvas.restoreState()  # type: ignore[attr-defined]

    document = SimpleDocTemplate(
        buffer,
        pagesize=page,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=18 * mm,
        title=doc.title,
        author="Ratebook",
        invariant=1,
    )
    styles = getSampleStyleSheet()
    h1 = ParagraphStyle("h1", parent=styles["Heading1"], textColor=ACCENT, fontSize=16)
    h2 = ParagraphStyle("h2", parent=styles["Heading2"], textColor=ACCENT, fontSize=11)
    small = ParagraphStyle("small", parent=styles["BodyText"], fontSize=8, textColor=INK)
    usable = page[0] - 30 * mm
    story: list[object] = [
        Paragraph(doc.title, h1),
        _table(
            [
                ["Entity", "Period", "Profile", "Basis", "Currency"],
                [
                    Paragraph(v, small)
                    for v in (doc.entity, doc.period, doc.profile, doc.basis, doc.currency)
                ],
            ],
            [usable * 0.3, usable * 0.2, usable * 0.22, usable * 0.16, usable * 0.12],
            right_from=5,
        ),
        Spacer(1, 3 * mm),
        Paragraph(doc.note, small),
        Paragraph("Summary", h2),
        _table(
            [["", "Amount"], *[[k, v] for k, v in doc.summary]],
            [usable * 0.45, usable * 0.25],
            right_from=1,
        ),
    ]
    if doc.categories:
        story += [Paragraph("Net revenue by category", h2), _chart(doc.categories, usable * 0.7)]
    story += [Paragraph("Lines", h2)]
    numeric = doc.counts | doc.quantities | doc.money
    # the text columns (the exception code too) first, then the figures
    shown = [c for c in doc.header if c not in numeric] + [
        c for c in doc.header if c in numeric and c != "weight"
    ]
    at = [doc.header.index(c) for c in shown]
    first_numeric = len([c for c in shown if c not in numeric])
    lines = [[row[i] for i in at] for row in doc.rows]
    titles = [c.replace("_", " ") for c in shown]
    widths = _fit(titles, lines, usable, first_numeric)
    cell = ParagraphStyle("cell", parent=small, fontSize=7, leading=8.5)
    head = ParagraphStyle("head", parent=cell, fontName="Helvetica-Bold")
    head_right = ParagraphStyle("head_right", parent=head, alignment=2)
    header = [Paragraph(t, head if i < first_numeric else head_right) for i, t in enumerate(titles)]
    body = [
        [Paragraph(v, cell) if i < first_numeric else v for i, v in enumerate(r)] for r in lines
    ]
    story.append(_table([header, *body], widths, right_from=first_numeric, size=7))
    story += [
        Paragraph("Reconciliation with the ledger", h2),
        _table(
            [["", "Amount"], *[[k, v] for k, v in doc.reconciliation]],
            [usable * 0.45, usable * 0.25],
            right_from=1,
        ),
        Paragraph("Digests (SHA-256)", h2),
        _table(
            [["", "SHA-256"], *[[k, v] for k, v in doc.digests]], [usable * 0.2, usable * 0.6], 9
        ),
    ]
    document.build(story, onFirstPage=decorate, onLaterPages=decorate)  # type: ignore[arg-type]
    return buffer.getvalue()
