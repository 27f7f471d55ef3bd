"""The commands of a growing deployment, as an operator types them: ingest and rerate with
workers, and the period partitions (PostgreSQL; SQLite says it has none)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import FEED, _cli
from tests.conftest import write


def test_ingest_and_rerate_with_workers(loaded: str, tmp_path: Path) -> None:
    feed = write(tmp_path / "oct.csv", FEED)
    code, out, _ = _cli(loaded, "ingest", str(feed), "--format", "generic", "--workers", "2")
    assert code == 0
    # the table's row: 4 read, 2 rated (r1 0.2000 + r2 0.0300), 0 duplicates, 2 exceptions
    assert "oct.csv" in out
    row = next(line for line in out.splitlines() if "oct.csv" in line).split("│")
    assert [cell.strip() for cell in row[2:7]] == ["4", "2", "0", "2", "0.2300 MYR"]
    code, out, _ = _cli(loaded, "balances", "--period", "2026-10", "--format", "json")
    assert [b["charge"] for b in json.loads(out)] == ["0.2300"]
    # the same file again: every shard is already imported
    code, out, _ = _cli(loaded, "ingest", str(feed), "--format", "generic", "--workers", "2")
    assert (code, "(earlier)" in out) == (0, True)
    code, out, _ = _cli(loaded, "rerate", "--period", "2026-10", "--workers", "2")
    assert code == 0  # the rates have not changed: nothing re-rated
    assert json.loads(_cli(loaded, "rerate", "--period", "2026-10", "--format", "json")[1]) == []
    code, _, err = _cli(loaded, "ingest", str(feed), "--workers", "0")
    assert code == 2
    assert "--workers" in err


def test_partitions_are_made_ahead_and_listed(loaded: str, tmp_path: Path) -> None:
    code, out, _ = _cli(loaded, "partitions", "create", "--from", "2026-10", "--months", "2")
    assert code == 0
    postgres = loaded.startswith("postgresql")
    if not postgres:
        assert "SQLite keeps one table" in out
        assert "SQLite keeps one table" in _cli(loaded, "partitions", "list")[1]
        return
    assert "made 6 partitions" in out
    assert "usage_records_p2026_11" in out
    code, out, _ = _cli(loaded, "partitions", "list", "--format", "json")
    shown = {(p["table"], p["period"]) for p in json.loads(out)}
    assert {("usage_records", "2026-10"), ("rated_charges", "2026-11")} <= shown
    assert ("ledger_postings", "default") in shown
    again = _cli(loaded, "partitions", "create", "--from", "2026-10", "--months", "2")
    assert "made 0 partitions" in again[1]
    code, _, err = _cli(loaded, "partitions", "create", "--from", "2026-13")
    assert code == 1
    assert "BAD_PERIOD" in err
