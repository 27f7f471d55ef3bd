"""Rate decks as other rating engines publish them, read as Ratebook decks: which of their
columns stands for which of Ratebook's, which say nothing Ratebook prices by, and how their
cells become Ratebook's (``ratebook rates import DECK --mapping NAME``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class DeckMapping:
    """One engine's deck layout.

    Attributes:
        name: what ``--mapping`` calls it.
        source: where the layout is published.
        columns: the deck's header (lower case) of each Ratebook column.
        ignored: the deck's headers that say nothing Ratebook prices by (routing, display).
        trailing_comma: the engine ends each row with one empty field more than its header.
        cells: turns a row (by Ratebook's column names) into Ratebook's cell texts.
    """

    name: str
    source: str
    columns: Mapping[str, str]
    ignored: frozenset[str] = frozenset()
    trailing_comma: bool = False
    cells: Callable[[dict[str, str]], dict[str, str]] = field(default=lambda row: row)


def _whole(text: str | None) -> int:
    """An ASTPP seconds cell: a whole number, where empty or zero means one second."""
    value = (text or "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else 1


def _astpp_cells(row: dict[str, str]) -> dict[str, str]:
    # ASTPP bills an initial block (1 s unless set in its web interface, which its CSV
    # cannot) and then whole increments of ``Increment`` seconds
    return {**row, "increment": f"1/{_whole(row.get('increment'))}"}


#: Every mapping Ratebook ships, by name.
MAPPINGS: dict[str, DeckMapping] = {
    "astpp": DeckMapping(
        name="astpp",
        source="ASTPP's origination and termination rate CSVs"
        " (web_interface/astpp/assets/Rates_File/*rates_sample.csv)",
        columns={
            "prefix": "code",
            "destination": "destination",
            "connect_fee": "connect cost",
            "included": "included seconds",
            "rate": "per minute cost",
            "increment": "increment",
        },
        ignored=frozenset({"precedence", "prepend"}),
        trailing_comma=True,
        cells=_astpp_cells,
    ),
}
