"""Reading a CSV statement as a customer's software would: by column name."""

from __future__ import annotations

import csv
from pathlib import Path


def statement_records(path: Path) -> list[dict[str, str]]:
    """The ``record`` rows of a CSV statement, by column name, in order."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle) if row["kind"] == "record"]


def statement_totals(path: Path) -> list[dict[str, str]]:
    """The ``total`` rows of a CSV statement: one per unit, then the total of everything."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle) if row["kind"] == "total"]
