"""The command line as a user drives it: exit codes, located errors, listing formats."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ratebook.cli import app
from tests.conftest import read_only_url, write
from tests.support.statements import statement_totals

runner = CliRunner()

DECK = "prefix,destination,rate\n60,Malaysia,0.0300\n6012,Maxis,0.1000\n"
CUSTOMERS = "account,name,rate_table,numbers\nACME,Acme,standard,+6032*\n"
FEED = (
    "record_id,start_time,quantity,caller,destination\n"
    "r1,2026-10-05T10:00:00+08:00,61,0321110000,0123456789\n"  # 120 s x 0.10 = 0.2000
    "r2,2026-10-05T11:00:00+08:00,30,0321110000,0312345678\n"  # 60 s x 0.03 = 0.0300
    "r3,2026-10-05T12:00:00+08:00,-4,0321110000,0312345678\n"  # negative: INVALID_RECORD
    "r4,2026-10-05T13:00:00+08:00,30,0399999999,0312345678\n"
)  # unknown caller


def _cli(db: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--db", db, *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def loaded(db_url: str, tmp_path: Path) -> str:
    assert _cli(db_url, "init", "--entity", "MY1")[0] == 0
    assert (
        _cli(
            db_url,
            "rates",
            "import",
            str(write(tmp_path / "deck.csv", DECK)),
            "--name",
            "standard",
            "--effective-from",
            "2026-10-01",
        )[0]
        == 0
    )
    assert (
        _cli(db_url, "customers", "import", str(write(tmp_path / "customers.csv", CUSTOMERS)))[0]
        == 0
    )
    return db_url


def test_init_twice_is_harmless(db_url: str) -> None:
    code, out, _ = _cli(db_url, "init")
    assert code == 0
    assert "created entity MAIN" in out
    code, out, _ = _cli(db_url, "init")
    assert code == 0
    assert "already exists; nothing changed" in out


def test_ingest_summary_and_listings(loaded: str, tmp_path: Path) -> None:
    feed = write(tmp_path / "feed.csv", FEED)
    code, out, _ = _cli(loaded, "ingest", str(feed))
    assert code == 0
    assert f"{feed}: read 4 = rated 2 + duplicates 0 + exceptions 2" in out

    code, out, _ = _cli(loaded, "ingest", str(feed))
    assert code == 0
    assert "already imported" in out

    code, out, _ = _cli(loaded, "balances", "--period", "2026-10", "--format", "json")
    assert json.loads(out) == [
        {
            "account": "ACME",
            "unit": "s",
            "records": 2,
            "billed_quantity": "180",
            "charge": "0.2300",
            "currency": "MYR",
        }
    ]
    code, out, _ = _cli(loaded, "balances", "--period", "2026-10", "--format", "csv")
    assert list(csv.reader(io.StringIO(out))) == [
        ["account", "unit", "records", "billed_quantity", "charge", "currency"],
        ["ACME", "s", "2", "180", "0.2300", "MYR"],
    ]
    code, out, _ = _cli(loaded, "balances", "--period", "2026-10")
    assert code == 0
    assert "ACME" in out
    assert "0.2300" in out

    code, out, _ = _cli(loaded, "exceptions", "list", "--format", "json")
    listed = json.loads(out)
    assert [(e["code"], e["field"], e["source"]) for e in listed] == [
        ("INVALID_RECORD/NEGATIVE", "quantity", f"{feed}:4"),
        ("UNMATCHED_CUSTOMER", None, f"{feed}:5"),
    ]
    assert (
        listed[1]["reason"] == "caller +60399999999 is not a number of any customer on 2026-10-05"
    )
    code, out, _ = _cli(
        loaded, "exceptions", "list", "--code", "unmatched_customer", "--format", "csv"
    )
    assert len(list(csv.reader(io.StringIO(out)))) == 2

    statement = tmp_path / "acme.csv"
    code, out, _ = _cli(
        loaded, "statement", "--customer", "ACME", "--period", "2026-10", "--out", str(statement)
    )
    assert code == 0
    assert "2 records, total 0.2300 MYR" in out
    assert [(t["unit"], t["charge"], t["records"]) for t in statement_totals(statement)] == [
        ("s", "0.2300", "2"),
        ("", "0.2300", "2"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "{tmp}/nope.csv"], "error: {tmp}/nope.csv: FILE_NOT_FOUND no such file"),
        (
            ["ingest", "--format", "cisco", "{tmp}/x.csv"],
            "error: --format: UNKNOWN_FORMAT unknown format 'cisco'"
            " (known: asterisk, freeswitch, generic)",
        ),
        (
            ["ingest", "{tmp}/empty.csv"],
            "error: {tmp}/empty.csv:1: EMPTY_FILE the file has no rows",
        ),
        (
            ["ingest", "{tmp}/noheader.csv"],
            "error: {tmp}/noheader.csv:1: start_time: MISSING_COLUMN required column 'start_time'",
        ),
        (
            ["balances", "--period", "October"],
            "error: --period: BAD_PERIOD 'October' is not a month as YYYY-MM",
        ),
        (
            ["statement", "--customer", "NOBODY", "--period", "2026-10", "--out", "{tmp}/s.csv"],
            "error: CUSTOMER_NOT_FOUND no customer with account 'NOBODY'",
        ),
        (
            ["--db", "{tmp}/other.db", "init", "--entity", "E", "--tz", "Mars/Olympus"],
            "error: UNKNOWN_TIME_ZONE 'Mars/Olympus' is not an IANA time zone",
        ),
        (
            ["--db", "mysql://root@localhost/billing", "balances", "--period", "2026-10"],
            "error: UNSUPPORTED_DATABASE mysql:// is not a store Ratebook can use",
        ),
    ],
)
def test_errors_are_located_without_traceback(
    loaded: str, tmp_path: Path, args: list[str], message: str
) -> None:
    write(tmp_path / "empty.csv", "")
    write(tmp_path / "noheader.csv", "record_id,quantity\nr1,60\n")
    code, out, err = _cli(loaded, *[a.format(tmp=tmp_path) for a in args])
    assert code == 1
    assert err.startswith(message.format(tmp=tmp_path))
    assert "Traceback" not in out + err


def test_several_files_carry_on_past_a_bad_one(loaded: str, tmp_path: Path) -> None:
    feed = write(tmp_path / "feed.csv", FEED)
    code, out, err = _cli(loaded, "ingest", str(tmp_path / "missing.csv"), str(feed))
    assert code == 1
    assert "FILE_NOT_FOUND" in err
    assert "read 4 = rated 2" in out


def test_several_files_read_the_deck_once(
    loaded: str, tmp_path: Path, deck_reads: list[int]
) -> None:
    # three files in one run: the rate rows are read for the first and kept for the others
    # (the reference is unchanged between them); each file is still priced in full
    files = [
        write(tmp_path / f"day{n}.csv", FEED.replace("r1,", f"d{n}-1,").replace("r2,", f"d{n}-2,"))
        for n in range(3)
    ]
    code, out, _ = _cli(loaded, "ingest", *map(str, files))
    assert code == 0, out
    assert out.count("read 4 = rated 2") == 3
    assert len(deck_reads) == 1


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    code, _, err = _cli("postgresql://nobody@127.0.0.1:1/none", "init")
    assert code == 1
    assert err.startswith("error: DB_UNREACHABLE")


def test_a_store_that_refuses_writes_is_one_error_line_not_a_traceback(
    loaded: str, tmp_path: Path
) -> None:
    # the same database opened read-only (SQLite's mode=ro; PostgreSQL's read-only
    # transactions): the import's first write fails, and nothing of it is kept
    feed = write(tmp_path / "feed.csv", FEED)
    done = subprocess.run(
        [sys.executable, "-m", "ratebook", "--db", read_only_url(loaded), "ingest", str(feed)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: DB_READ_ONLY the database is read-only here"), done.stderr
    assert "Traceback" not in done.stderr
    code, out, _ = _cli(loaded, "balances", "--period", "2026-10", "--format", "json")
    assert (code, json.loads(out)) == (0, [])


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    env = {**os.environ, "RATEBOOK_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}"}
    done = subprocess.run(
        [sys.executable, "-m", "ratebook", "demo", "--records", "5000"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Demo finished" in done.stdout
    assert len(list((tmp_path / "statements").glob("*.csv"))) > 100
    # the month is closed and invoiced; the top three get PDF statements; the tour is there
    assert "October closed:" in done.stdout
    assert len(list((tmp_path / "statements").glob("*.pdf"))) == 3
    assert (tmp_path / "tour" / "README.md").exists()
    again = subprocess.run(
        [sys.executable, "-m", "ratebook", "demo", "--records", "5000"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert again.returncode == 0
    assert again.stdout.count("earlier") == 2


def test_a_corrected_deck_and_rerate_from_the_command_line(loaded: str, tmp_path: Path) -> None:
    assert _cli(loaded, "ingest", str(write(tmp_path / "f.csv", FEED)))[0] == 0
    fixed = write(tmp_path / "fixed.csv", DECK.replace("0.1000", "0.0800"))
    rates = ["rates", "import", str(fixed), "--name", "standard", "--effective-from", "2026-10-01"]
    code, _, error = _cli(loaded, *rates)
    assert code != 0
    assert "VERSION_EXISTS" in error
    assert "--correct" in error
    code, output, _ = _cli(loaded, *rates, "--correct")
    assert code == 0
    # the table's own version and revision, not a store-wide id
    assert "rate table standard, version from 2026-10-01 (revision 2), 2 rows" in output
    code, output, _ = _cli(loaded, *rates, "--correct")
    assert "version from 2026-10-01 already imported; nothing changed" in output
    # r1 bills 120 s: at 0.10 a minute 0.2000, at the corrected 0.08 0.1600
    code, output, _ = _cli(loaded, "rerate", "--period", "2026-10", "--format", "json")
    assert code == 0
    assert json.loads(output) == [
        {
            "account": "ACME",
            "re-rated": 1,
            "before": "0.2000",
            "after": "0.1600",
            "change": "-0.0400",
            "currency": "MYR",
        }
    ]
    code, output, _ = _cli(loaded, "rerate", "--period", "2026-10")
    assert code == 0
    assert "0 re-rated" in output
    assert "nothing changed" in output
    code, _, error = _cli(loaded, "rerate", "--period", "2026-13")
    assert code != 0
    assert "BAD_PERIOD" in error


def test_a_reading_command_never_creates_a_store(tmp_path: Path) -> None:
    """A command that only reads, pointed at a store that is not there, says so (and where)
    instead of leaving an empty database behind."""
    missing = tmp_path / "other.db"
    code, _, err = _cli(str(missing), "balances", "--period", "2026-10")
    assert code == 1
    assert err.startswith(f"error: NO_STORE there is no store at {missing}")
    assert not missing.exists()
    # a plain path is a SQLite store, as sqlite:///path is
    assert _cli(str(missing), "init", "--entity", "E")[0] == 0
    code, _out, err = _cli(str(missing), "balances", "--period", "2026-10")
    assert (code, err) == (0, "")
