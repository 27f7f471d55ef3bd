"""``customers list|show`` and ``rates list|show``: what the store holds, as a user reads it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import FEED, _cli
from tests.conftest import write


def test_customers_are_listed_and_shown(loaded: str) -> None:
    code, out, _ = _cli(loaded, "customers", "list", "--format", "json")
    assert code == 0
    assert json.loads(out) == [
        {"account": "ACME", "name": "Acme", "status": "active", "segment": "retail", "floor": ""}
    ]
    code, out, _ = _cli(loaded, "customers", "show", "ACME", "--format", "json")
    assert code == 0
    shown = json.loads(out)
    # the customers file gave ACME the numbers +6032*: every number under that prefix
    assert [(i["kind"], i["value"]) for i in shown if i["kind"] != "account"] == [
        ("prefix", "+6032")
    ]
    code, _, err = _cli(loaded, "customers", "show", "NOBODY")
    assert code == 1
    assert "CUSTOMER_NOT_FOUND" in err


def test_rate_tables_are_listed_and_shown_in_their_zone(loaded: str) -> None:
    code, out, _ = _cli(loaded, "rates", "list", "--format", "json")
    assert code == 0
    # the deck was imported effective 2026-10-01: its local date, not the UTC instant
    [version] = json.loads(out)
    assert (version["table"], version["effective_from"], version["rows"]) == (
        "standard",
        "2026-10-01",
        2,
    )
    code, out, _ = _cli(loaded, "rates", "show", "standard", "--format", "json")
    assert code == 0
    rows = {(r["prefix"], r["destination"], r["price"], r["per"]) for r in json.loads(out)}
    assert rows == {("60", "Malaysia", "0.03", "60s"), ("6012", "Maxis", "0.1", "60s")}
    code, out, _ = _cli(loaded, "rates", "show", "standard", "--limit", "1")
    assert code == 0
    assert "1 of 2 rows" in out


def test_a_listing_says_when_it_shows_only_the_first(loaded: str, tmp_path: Path) -> None:
    # the feed leaves two exceptions: a negative quantity and an unknown caller
    assert _cli(loaded, "ingest", str(write(tmp_path / "feed.csv", FEED)))[0] == 0
    code, out, _ = _cli(loaded, "exceptions", "list", "--limit", "1")
    assert code == 0
    assert "the first 1 shown" in out
    code, out, _ = _cli(loaded, "exceptions", "list", "--format", "json")
    assert len(json.loads(out)) == 2  # JSON and CSV list them all
    code, out, _ = _cli(loaded, "exceptions", "list")
    assert "the first" not in out


def test_a_customers_file_sets_the_segment(loaded: str, tmp_path: Path) -> None:
    again = "account,name,rate_table,numbers,segment\nACME,Acme,standard,+6032*,Wholesale\n"
    code, _, err = _cli(loaded, "customers", "import", str(write(tmp_path / "c.csv", again)))
    assert code == 0, err
    code, out, _ = _cli(loaded, "customers", "list", "--format", "json")
    assert [c["segment"] for c in json.loads(out)] == ["wholesale"]
    bad = "account,name,rate_table,numbers,segment\nACME,Acme,standard,,carrier\n"
    code, _, err = _cli(loaded, "customers", "import", str(write(tmp_path / "bad.csv", bad)))
    assert code == 1
    assert ":2: segment: UNKNOWN_CHOICE segment is retail or wholesale, not 'carrier'" in err
