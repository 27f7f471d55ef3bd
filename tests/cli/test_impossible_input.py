"""Impossible dates, periods and values get one located line with a code, never a traceback,
and change nothing."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from ratebook.cli import app
from tests.conftest import write

runner = CliRunner()

TABLE = """name: retail
currency: MYR
timezone: Asia/Kuala_Lumpur
versions:
  - effective_from: {date}
    rows:
      - {{prefix: "60", destination: Malaysia, price: "0.0600"{extra}}}
"""


def _cli(db: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--db", str(db), *args])
    return result.exit_code, result.stdout, result.stderr


def _store(tmp_path: Path) -> Path:
    db = tmp_path / "r.db"
    assert _cli(db, "init", "--entity", "E", "--tz", "America/New_York", "--region", "US")[0] == 0
    table = write(tmp_path / "ok.yaml", TABLE.format(date="2026-01-01", extra=""))
    assert _cli(db, "rates", "import", str(table))[0] == 0
    customers = write(tmp_path / "c.csv", "account,name,rate_table,numbers\nA,A,retail,\n")
    assert _cli(db, "customers", "import", str(customers))[0] == 0
    return db


def test_impossible_record_times_are_exceptions_and_the_rest_bills(tmp_path: Path) -> None:
    db = _store(tmp_path)
    feed = write(
        tmp_path / "f.csv",
        "record_id,start_time,quantity,account,destination\n"
        "late,9999-12-31T23:00:00-05:00,60,A,+60312345678\n"  # year 10000 in UTC
        "early,0001-01-01T10:00:00+08:00,60,A,+60312345678\n"
        "local,9999-12-31T22:00:00,60,A,+60312345678\n"  # the entity's zone, west of UTC
        "ok,2026-10-05T10:00:00+08:00,60,A,+60312345678\n",
    )
    code, out, err = _cli(db, "ingest", str(feed))
    assert (code, err) == (0, "")
    assert "read 4 = rated 1 + duplicates 0 + exceptions 3" in out
    code, out, _ = _cli(db, "exceptions", "list", "--format", "csv")
    assert out.count("INVALID_RECORD/TIME_OUT_OF_RANGE,start_time") == 3
    assert "'0001-01-01T10:00:00+08:00' is outside 1970-01-01 to 2200-01-01 (UTC)" in out
    assert _cli(db, "explain", "ok")[0] == 0


def test_impossible_periods_are_refused(tmp_path: Path) -> None:
    db = _store(tmp_path)
    for period in ("0000-01", "0001-01", "9999-12"):
        code, _, err = _cli(db, "cycle", "close", "--period", period)
        assert code == 1
        assert err == (
            f"error: --period: BAD_PERIOD {period} is outside 1970-01 to 2199-12, the months"
            " Ratebook bills\n"
        )
    code, _, err = _cli(db, "balances", "--period", "2026-13")
    assert err.startswith("error: --period: BAD_PERIOD '2026-13' is not a month as YYYY-MM")


def test_an_impossible_date_and_a_repeated_key_in_yaml_are_located(tmp_path: Path) -> None:
    db = _store(tmp_path)
    bad = write(tmp_path / "bad.yaml", TABLE.format(date="2026-02-30", extra=""))
    assert _cli(db, "rates", "import", str(bad))[1:] == (
        "",
        f"error: {bad}:5: BAD_DATE '2026-02-30' is not a date that exists (day is out of range"
        " for month)\n",
    )
    twice = write(tmp_path / "twice.yaml", TABLE.format(date="2026-03-01", extra=', price: "0.01"'))
    code, _, err = _cli(db, "rates", "import", str(twice))
    assert (code, err) == (
        1,
        f"error: {twice}:7: DUPLICATE_KEY 'price' is given twice in one mapping (first on line"
        " 7)\n",
    )
    code, out, _ = _cli(
        db,
        "quote",
        "--account",
        "A",
        "--destination",
        "+60312345678",
        "--start",
        "2026-03-05T10:00:00",
        "--quantity",
        "60",
    )
    assert (code, out.split(" ")[0]) == (0, "0.0600")  # the March version was not stored


def test_a_customer_number_must_be_a_phone_number(tmp_path: Path) -> None:
    db = _store(tmp_path)
    bad = write(tmp_path / "n.csv", "account,name,rate_table,numbers\nB,B,retail,+1212555;hello\n")
    code, _, err = _cli(db, "customers", "import", str(bad))
    assert code == 1
    assert err.startswith(f"error: {bad}:2: numbers: BAD_NUMBER 'hello' is not a phone number")


def test_blanks_around_header_names_are_said(tmp_path: Path) -> None:
    db = _store(tmp_path)
    feed = write(
        tmp_path / "h.csv",
        "record_id , start_time,quantity,account,destination\n"
        "h1,2026-10-05T10:00:00+08:00,60,A,+60312345678\n",
    )
    code, out, err = _cli(db, "ingest", str(feed))
    assert code == 0
    assert err == (
        f"note: {feed}: header: blanks around 'record_id ', ' start_time' were ignored (read as"
        " the names without them)\n"
    )
    assert "read 1 = rated 1" in out
