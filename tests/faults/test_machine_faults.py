"""Faults of the machine under a command: a full disk (the store's or the temporary folder's),
a database connection killed mid-import, a process killed while it spilled charges. Each is
one line with a code, and nothing of the unfinished change is kept or left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from ratebook.store.failures import describe
from tests.conftest import write

DECK = "prefix,destination,rate\n60,Malaysia,0.0600\n"
CUSTOMERS = "account,name,rate_table,numbers\nA,A,standard,\n"


def _rows(count: int) -> str:
    return "record_id,start_time,quantity,account,destination\n" + "".join(
        f"k{i},2026-10-{1 + i % 28:02d}T10:{i % 60:02d}:00+08:00,{1 + i % 500},A,+60312345678\n"
        for i in range(count)
    )


def _ratebook(
    db: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ratebook", "--db", db, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, **(env or {})},
    )


def _ready(db: str, folder: Path) -> None:
    assert _ratebook(db, "init", "--entity", "ACME").returncode == 0
    deck = write(folder / "deck.csv", DECK)
    rates = ("rates", "import", str(deck), "--name", "standard", "--effective-from", "2026-01-01")
    assert _ratebook(db, *rates).returncode == 0
    assert (
        _ratebook(db, "customers", "import", str(write(folder / "c.csv", CUSTOMERS))).returncode
        == 0
    )


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB file system of its own (tmpfs; needs root)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system to fill needs root")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_under_the_store_is_one_line(tiny_disk: Path, tmp_path: Path) -> None:
    db = str(tiny_disk / "r.db")
    _ready(db, tmp_path)
    done = _ratebook(db, "ingest", str(write(tmp_path / "big.csv", _rows(60_000))))
    assert done.returncode == 1
    assert done.stderr.startswith("error: DISK_FULL no space left on the disk of the store")
    assert "Traceback" not in done.stderr
    listed = _ratebook(db, "balances", "--period", "2026-10", "--format", "json")
    assert (listed.returncode, listed.stdout.strip()) == (0, "[]")


def test_a_full_temporary_folder_is_named(tiny_disk: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "r.db")
    _ready(db, tmp_path)
    done = _ratebook(
        db,
        "ingest",
        str(write(tmp_path / "big.csv", _rows(120_000))),
        env={"TMPDIR": str(tiny_disk), "RATEBOOK_CHUNK_ROWS": "20000"},
    )
    assert done.returncode == 1
    assert done.stderr.startswith(
        f"error: DISK_FULL no space left on the temporary folder {tiny_disk}: free space there"
        " or set TMPDIR to a larger disk"
    ), done.stderr
    listed = _ratebook(db, "balances", "--period", "2026-10", "--format", "json")
    assert (listed.returncode, listed.stdout.strip()) == (0, "[]")


def test_a_killed_database_connection_is_one_line(tmp_path: Path) -> None:
    base = os.environ.get("RATEBOOK_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("RATEBOOK_TEST_POSTGRES_URL is not set: the PostgreSQL test is skipped")
    schema = f"rb_kill_{os.getpid()}"
    name = f"ratebook-kill-{os.getpid()}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            joiner = "&" if "?" in base else "?"
            db = f"{base}{joiner}options={quote(f'-csearch_path={schema}')}&application_name={name}"
            _ready(db, tmp_path)
            big = write(tmp_path / "big.csv", _rows(300_000))
            importer = subprocess.Popen(
                [sys.executable, "-m", "ratebook", "--db", db, "ingest", str(big)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            killed = 0
            for _ in range(600):
                time.sleep(0.05)
                # killed while it writes the rows, not while it opens the store (a busy
                # machine can be slow to get that far)
                killed = admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = %s AND state = 'active'"
                    " AND query ~* '^\\s*(copy|insert)'",
                    (name,),
                ).fetchone()[0]  # type: ignore[index]
                if killed or importer.poll() is not None:
                    break
            _, err = importer.communicate(timeout=120)
            assert killed, "the import ended before its connection could be killed"
            assert importer.returncode == 1
            assert err.splitlines() == [
                "error: DB_CONNECTION_LOST the connection to the database was lost; nothing of"
                " the unfinished change was kept"
            ]
            listed = _ratebook(db, "balances", "--period", "2026-10", "--format", "json")
            assert (listed.returncode, listed.stdout.strip()) == (0, "[]")
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def test_a_killed_process_leaves_scratch_that_the_next_one_sweeps(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    # a process that makes its scratch folder, spills into it, and is killed
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from ratebook.store import scratch;"
            " f = scratch.folder(); (f / 'spill.parquet').write_bytes(b'x' * 1000);"
            " print(f, flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    left = Path(child.stdout.readline().strip())
    assert (left / "spill.parquet").exists()
    # while it lives, a sweep leaves its folder alone
    swept = subprocess.run(
        [sys.executable, "-c", "from ratebook.store import scratch; print(scratch.sweep())"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert swept.stdout.strip() == "[]"
    assert left.exists()
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    assert left.exists()  # killed: it could not clean up
    # the next process to use its scratch space removes what the dead one left
    mine = subprocess.run(
        [sys.executable, "-c", "from ratebook.store import scratch; print(scratch.folder())"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert not left.exists()
    assert not left.with_suffix(".lock").exists()
    # and a process that ends normally removes its own
    assert not Path(mine.stdout.strip()).exists()
    assert list((tmp_path / "ratebook-scratch").iterdir()) == []


def test_failures_of_the_store_are_named() -> None:
    full = psycopg.errors.DiskFull("could not extend file: No space left on device")
    assert describe(full).code == "DISK_FULL"
    assert "PostgreSQL server" in describe(full).message
    lost = psycopg.errors.AdminShutdown("terminating connection due to administrator command")
    assert describe(lost).code == "DB_CONNECTION_LOST"
    deadlock = psycopg.errors.DeadlockDetected("deadlock detected")
    assert describe(deadlock).code == "DB_CONTENTION"
    assert describe(OSError(28, "No space left on device")).code == "DISK_FULL"
    assert describe(KeyError("total")).code == "INTERNAL_ERROR"
