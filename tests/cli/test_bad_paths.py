"""A path a command cannot use (a file that exists, a folder that does not, a file where a
folder should be, a place nobody may write) is one line naming the path and a code, through
the real entry point, never a traceback or an INTERNAL_ERROR."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_cli import FEED, _cli
from tests.conftest import write

UNWRITABLE = "/proc/ratebook-test/x.csv"  # /proc takes no new files, even from root

CASES: list[tuple[list[str], str, str]] = [
    (["statements", "--period", "2026-10", "--out", "{tmp}/afile"], "FILE_EXISTS", "{tmp}/afile"),
    (
        ["statement", "--customer", "ACME", "--period", "2026-10", "--out", "{tmp}/afile/x.csv"],
        "FILE_",
        "{tmp}/afile",
    ),
    (
        ["statement", "--customer", "ACME", "--period", "2026-10", "--out", UNWRITABLE],
        "FILE_NOT_FOUND",
        "/proc/ratebook-test",  # a statement makes its folders: it names the first it cannot
    ),
    (
        ["statement", "--customer", "ACME", "--period", "2026-10", "--pdf", "--out", UNWRITABLE],
        "FILE_NOT_FOUND",
        "/proc/ratebook-test",  # a statement makes its folders: it names the first it cannot
    ),
    (["exceptions", "export", "--out", UNWRITABLE], "FILE_NOT_FOUND", UNWRITABLE),
    (["invoices", "export", "--out", "{tmp}/afile"], "FILE_EXISTS", "{tmp}/afile"),
    (["audit", "anchor", "--out", "{tmp}/afile"], "FILE_EXISTS", "{tmp}/afile"),
    (["ingest", "{tmp}/missing.csv"], "FILE_NOT_FOUND", "{tmp}/missing.csv"),
    (["ingest", "{tmp}"], "FILE_UNREADABLE", "{tmp}"),
    (["customers", "import", "{tmp}/missing.csv"], "FILE_NOT_FOUND", "{tmp}/missing.csv"),
    (["rates", "import", "{tmp}/missing.yaml"], "FILE_NOT_FOUND", "{tmp}/missing.yaml"),
    (["rates", "import", "{tmp}/decked.yaml"], "FILE_NOT_FOUND", "{tmp}/absent-deck.csv"),
    (
        ["report", "regulatory", "--period", "2026-10", "--out", "{tmp}/afile"],
        "OUT_NOT_A_FOLDER",
        "{tmp}/afile",
    ),
    (
        ["report", "regulatory", "--period", "2026-10", "--out", UNWRITABLE],
        "FILE_UNWRITABLE",
        UNWRITABLE,
    ),
    (
        ["report", "regulatory", "--period", "2026-10", "--profile", "{tmp}/missing.yaml"],
        "FILE_NOT_FOUND",
        "{tmp}/missing.yaml",
    ),
]


@pytest.fixture
def billed(loaded: str, tmp_path: Path) -> str:
    assert _cli(loaded, "ingest", str(write(tmp_path / "feed.csv", FEED)))[0] == 0
    return loaded


@pytest.mark.parametrize(("args", "code", "path"), CASES, ids=lambda c: str(c)[:40])
def test_a_path_a_command_cannot_use_is_one_line(
    billed: str, tmp_path: Path, args: list[str], code: str, path: str
) -> None:
    write(tmp_path / "afile", "already here\n")
    write(
        tmp_path / "decked.yaml",
        "name: decked\nversions:\n  - effective_from: 2026-10-01\n    deck: absent-deck.csv\n",
    )
    done = subprocess.run(
        [sys.executable, "-m", "ratebook", "--db", billed, *[a.format(tmp=tmp_path) for a in args]],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: {path.format(tmp=tmp_path)}"), lines[0]
    assert f": {code}" in lines[0], lines[0]
    assert "Traceback" not in done.stderr
    assert "INTERNAL_ERROR" not in done.stderr
    assert (tmp_path / "afile").read_text() == "already here\n"
