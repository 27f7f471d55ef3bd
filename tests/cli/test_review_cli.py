"""Reviewing from the command line: the exception queue, a dispute, the audit log and lineage,
with located errors for what a clerk gets wrong."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from ratebook.cli import common
from tests.cli.test_cli import FEED, _cli
from tests.conftest import write


def _queue(db: str, *args: str) -> list[dict[str, object]]:
    code, out, err = _cli(db, "exceptions", "list", "--format", "json", *args)
    assert code == 0, err
    return list(json.loads(out))


def test_a_clerk_fixes_the_queue(loaded: str, tmp_path: Path) -> None:
    db = loaded
    assert _cli(db, "ingest", str(write(tmp_path / "oct.csv", FEED)), "--format", "generic")[0] == 0
    queue = {x["record_id"] or x["code"]: x for x in _queue(db)}
    assert {k: x["code"] for k, x in queue.items()} == {
        "r3": "INVALID_RECORD/NEGATIVE",
        "r4": "UNMATCHED_CUSTOMER",
    }
    negative = queue["r3"]["id"]

    # a bulk action needs a filter; an unknown column is named
    code, _, err = _cli(db, "exceptions", "reprocess")
    assert (code, "NO_FILTER" in err) == (1, True)
    code, _, err = _cli(
        db, "exceptions", "correct", str(negative), "--set", "secs=4", "--reason", "x"
    )
    assert code == 1
    assert "--set: secs: UNKNOWN_COLUMN" in err

    # r3 was -4 s: corrected to 4 s, billed as 60 s at 0.03 = 0.0300
    code, out, err = _cli(
        db, "--actor", "aisyah", "exceptions", "correct", str(negative),
        "--set", "quantity=4", "--reason", "sign error on the switch",
    )  # fmt: skip
    assert code == 0, err
    assert "1 resolved; charges 0.0300 MYR" in out
    code, out, _ = _cli(db, "exceptions", "show", str(negative))
    assert "status: resolved, corrected" in out
    assert "aisyah exception.correct" in out

    # the unknown caller is written off with a reason
    code, out, _ = _cli(
        db, "exceptions", "reject", "--code", "UNMATCHED_CUSTOMER", "--reason", "test call"
    )
    assert (code, "1 rejected" in out) == (0, True)
    code, out, _ = _cli(db, "exceptions", "identity", "--format", "json")
    [row] = json.loads(out)
    assert (row["read"], row["rated"], row["pending"], row["written_off"], row["ok"]) == (
        4,
        3,
        0,
        1,
        True,
    )
    code, out, _ = _cli(db, "exceptions", "counts", "--format", "csv")
    counts = list(csv.DictReader(io.StringIO(out)))
    assert {(r["code"], r["status"], r["n"]) for r in counts} == {
        ("INVALID_RECORD", "resolved", "1"),
        ("UNMATCHED_CUSTOMER", "rejected", "1"),
    }

    # lineage of the corrected record names the file, its line and both rows
    code, out, _ = _cli(db, "lineage", "--record", "r3")
    assert code == 0
    assert "oct.csv" in out
    assert "line 4" in out
    assert "original raw: r3,2026-10-05T12:00:00+08:00,-4," in out
    assert "raw: r3,2026-10-05T12:00:00+08:00,4," in out


@pytest.mark.parametrize("width", [100, 160])
def test_the_queue_fits_a_terminal_and_breaks_no_word(
    loaded: str, tmp_path: Path, width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (
        _cli(loaded, "ingest", str(write(tmp_path / "a-long-file-name-from-the-switch.csv", FEED)))[
            0
        ]
        == 0
    )
    monkeypatch.setattr(common.out, "width", width)
    code, out, _ = _cli(loaded, "exceptions", "list")
    assert code == 0
    lines = out.splitlines()
    assert max(map(len, lines)) <= width
    # each value whole on one line: r4's code and caller (0399999999 in +60 form)
    for token in ("UNMATCHED_CUSTOMER", "+60399999999"):
        assert any(token in line for line in lines), token
    # the file's line beside its name, which is cut short (never broken) when room runs out
    [r4] = [line for line in lines if "UNMATCHED_CUSTOMER" in line]
    file = "a-long-file-name-from-the-switch.csv"
    assert file in r4 if width >= 140 else "a-long-file" in r4 and "…" in r4
    assert " 5 " in r4
    # r3's code and sub-code, each whole
    assert any("INVALID_RECORD/" in line for line in lines)
    assert any("NEGATIVE" in line for line in lines)
    header = next(line for line in lines if "reason" in line)
    # a wide terminal also shows the field, the period and no empty assignee column
    assert ("field" in header, "period" in header, "assignee" in header) == (
        width >= 140,
        width >= 140,
        False,
    )


def test_a_dispute_and_the_audit_log(loaded: str, tmp_path: Path) -> None:
    db = loaded
    _cli(db, "ingest", str(write(tmp_path / "oct.csv", FEED)), "--format", "generic")
    code, out, err = _cli(db, "disputes", "open", "--record", "r1", "--reason", "never dialled")
    assert (code, "dispute 1 opened for ACME" in out) == (0, True), err
    assert _cli(db, "disputes", "comment", "1", "--text", "checking CDRs")[0] == 0
    code, _, err = _cli(db, "disputes", "resolve", "1")
    assert (code, "ONE_OUTCOME" in err) == (1, True)
    code, out, _ = _cli(db, "disputes", "resolve", "1", "--upheld", "--credit", "0.05")
    assert "credit 0.05 posted to 2026-10" in out
    code, _, err = _cli(db, "disputes", "status", "1", "investigating")
    assert (code, "ILLEGAL_TRANSITION" in err) == (1, True)
    code, out, _ = _cli(db, "disputes", "show", "1")
    assert out.index("opened") < out.index("checking CDRs") < out.index("resolved [open->resolved]")

    code, out, _ = _cli(db, "audit", "verify")
    assert code == 0
    assert "audit log intact" in out
    code, out, _ = _cli(db, "audit", "log", "--action", "dispute", "--format", "json")
    assert [e["action"] for e in json.loads(out)] == [
        "dispute.open",
        "dispute.comment",
        "dispute.resolve",
    ]


def test_a_broken_chain_is_named(loaded: str) -> None:
    from sqlalchemy import update

    from ratebook.store.engine import make_engine
    from ratebook.store.tables import audit_log

    engine = make_engine(loaded)
    with engine.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.id == 2).values(actor="mallory"))
    engine.dispose()
    code, _, err = _cli(loaded, "audit", "verify")
    assert code == 1
    assert "AUDIT_CHAIN_BROKEN at entry 2" in err
