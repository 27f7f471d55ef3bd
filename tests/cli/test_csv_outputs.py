"""No CSV Ratebook writes lets a spreadsheet run text from a feed, a deck or a customers file
as a formula: customer names, destination names, record ids and raw rows that start like a
formula are written with a leading apostrophe, in every listing, statement and export."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from typer.testing import CliRunner

from ratebook.cli import app
from tests.conftest import write

runner = CliRunner()

FORMULAS = ('=HYPERLINK("http://evil.example","x")', "@SUM(A1:A9)", "-2+3", "+cmd|' /C calc'!A0")
DECK = "prefix,destination,rate\n" + f'60,"{FORMULAS[0].replace(chr(34), chr(34) * 2)}",0.0300\n'
CUSTOMERS = "account,name,rate_table,numbers\n" + "".join(
    f'C{n},"{name.replace(chr(34), chr(34) * 2)}",standard,+603211{n:04d}\n'
    for n, name in enumerate(FORMULAS)
)
FEED = (
    "record_id,start_time,quantity,caller,destination,caller_name\n"
    + "".join(
        f'"{rid}",2026-10-05T1{n}:00:00+08:00,60,+603211{n:04d},+60312345678,"{name}"\n'
        for n, (rid, name) in enumerate(
            [("r1", "=1+1"), ("@r2", "-2+3"), ("r3", "@SUM(1)"), ("=r4", "=2*2")]
        )
    )
    + '"x5",yesterday,60,+60321110000,+60312345678,"=HYPERLINK(""a"")"\n'
)

_LIVE = re.compile(r"^[=+\-@\t\r]")
_NUMBER = re.compile(r"[-+]?\d+(\.\d+)?")


def _cli(db: Path, *args: str) -> str:
    result = runner.invoke(app, ["--db", str(db), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(text.splitlines()) for cell in row]


def test_no_csv_output_holds_a_live_formula(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    _cli(db, "init", "--entity", "E")
    _cli(
        db,
        "rates",
        "import",
        str(write(tmp_path / "d.csv", DECK)),
        "--name",
        "standard",
        "--effective-from",
        "2026-01-01",
    )
    _cli(db, "customers", "import", str(write(tmp_path / "c.csv", CUSTOMERS)))
    runner.invoke(app, ["--db", str(db), "ingest", str(write(tmp_path / "f.csv", FEED))])
    _cli(db, "statements", "--period", "2026-10", "--out", str(tmp_path / "st"))
    _cli(db, "exceptions", "export", "--code", "INVALID_RECORD", "--out", str(tmp_path / "x.csv"))
    outputs = {
        "balances": _cli(db, "balances", "--period", "2026-10", "--format", "csv"),
        "exceptions": _cli(db, "exceptions", "list", "--format", "csv"),
        "audit": _cli(db, "audit", "log", "--format", "csv"),
        "export": (tmp_path / "x.csv").read_text(encoding="utf-8"),
        **{p.name: p.read_text(encoding="utf-8") for p in sorted((tmp_path / "st").iterdir())},
    }
    live = [
        (name, cell)
        for name, text in outputs.items()
        for cell in _cells(text)
        if _LIVE.match(cell) and not _NUMBER.fullmatch(cell)
    ]
    assert live == []
    # the formulas did reach the files, made inert
    every = "\n".join(outputs.values())
    assert "'=HYPERLINK" in every
