"""The meters file (``RATEBOOK_METERS_FILE``) is read when a server or consumer starts: one
that cannot be read stops it with the key at fault, before it listens or joins a group."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ratebook.cli import app

runner = CliRunner()


def test_a_bad_meters_file_stops_serve_and_consume_before_they_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    meters = tmp_path / "meters.yaml"
    meters.write_text("meters:\n  - {type: call, value: billsec, service: voice}\n")
    monkeypatch.setenv("RATEBOOK_METERS_FILE", str(meters))
    db = f"sqlite:///{tmp_path / 'r.db'}"
    for args in (
        ["serve", "--port", "1", "--no-feeds"],
        [
            "consume",
            "--topic",
            "t",
            "--group",
            "g",
            "--entity",
            "MY1",
            "--bootstrap-servers",
            "x:1",
        ],
    ):
        result = runner.invoke(app, ["--db", db, *args])
        assert result.exit_code == 1, (args, result.stdout, result.stderr)
        assert "BAD_METER" in result.stderr
        assert "meters[0].value" in result.stderr
        assert "Traceback" not in result.stderr + result.stdout
