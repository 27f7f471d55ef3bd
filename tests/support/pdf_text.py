"""Where a PDF's text is drawn (pypdf), to check a layout without looking at it: each text
run with its position and size, and the runs on one line that overlap."""

from __future__ import annotations

import itertools
from pathlib import Path

from pypdf import PageObject, PdfReader
from reportlab.pdfbase.pdfmetrics import stringWidth

#: A text run: ``(x, y, text, size)`` in points, where the PDF draws it.
Run = tuple[float, float, str, float]  # float-ok: points


def _page_runs(page: PageObject) -> list[Run]:
    """A page's text runs, where the PDF draws them."""
    runs: list[Run] = []

    def visit(
        text: str, cm: list[float], tm: list[float], _font: object, size: float
    ) -> None:  # float-ok: points
        # ReportLab draws a cell's text in one run, at the text matrix, shifted by the table
        if text.strip():
            runs.append((tm[4] + cm[4], tm[5] + cm[5], text.strip(), size))

    page.extract_text(visitor_text=visit)
    return runs


def text_runs(path: Path) -> list[list[Run]]:
    """Each page's text runs."""
    return [_page_runs(page) for page in PdfReader(path).pages]


def overlaps(runs: list[Run], font: str = "Helvetica") -> list[tuple[str, str]]:
    """The pairs of runs on one line of a page where the first, as wide as ``font`` draws it,
    reaches into the next."""
    lines: dict[float, list[tuple[float, str, float]]] = {}  # float-ok: points
    for x, y, text, size in runs:
        lines.setdefault(round(y, 1), []).append((x, text, size))
    found = []
    for cells in lines.values():
        cells.sort()
        for (x, text, size), (next_x, following, _) in itertools.pairwise(cells):
            if x + stringWidth(text, font, size) > next_x + 0.5:
                found.append((text, following))
    return found
