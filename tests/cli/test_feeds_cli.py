"""``ratebook pull`` and ``ratebook feeds``: output, exit codes; no secret shown or stored."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, select
from typer.testing import CliRunner

from ratebook.cli import app
from tests.conftest import write
from tests.sources.test_pull_feeds import cdr_file

runner = CliRunner()
SECRET = "s3cr3t-never-shown-9f2c"


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    db = f"sqlite:///{tmp_path / 'rb.db'}"
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.csv").write_bytes(cdr_file("a"))
    os.utime(inbox / "a.csv", (0, 0))
    feeds = write(
        tmp_path / "feeds.yaml",
        f"""
feeds:
  - name: drop
    kind: folder
    path: {inbox}
    pattern: "*.csv"
    format: generic
    after_import: move
    archive_path: done
  - name: carrier
    kind: s3
    bucket: nowhere
    endpoint_url: http://127.0.0.1:9
    format: asterisk
    access_key_env: RB_CLI_KEY
    secret_key_env: RB_CLI_SECRET
""",
    )
    os.environ["RB_CLI_KEY"] = "AKIA-TEST"
    os.environ["RB_CLI_SECRET"] = SECRET
    assert runner.invoke(app, ["--db", db, "init"]).exit_code == 0
    yield db, feeds, inbox
    del os.environ["RB_CLI_KEY"], os.environ["RB_CLI_SECRET"]


def test_pull_one_feed_then_status(setup: tuple[str, Path, Path]) -> None:
    db, feeds, inbox = setup
    result = runner.invoke(app, ["--db", db, "pull", "drop", "--feeds", str(feeds)])
    assert result.exit_code == 0, result.stderr
    assert "drop: ok, 1 files seen, 1 imported" in result.stdout
    assert "read 3 = rated 0 + duplicates 0 + exceptions 3" in result.stdout
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["a.csv"]

    status = runner.invoke(
        app, ["--db", db, "feeds", "status", "--feeds", str(feeds), "--format", "json"]
    )
    rows = {r["feed"]: r for r in json.loads(status.stdout)}
    assert rows["drop"]["status"] == "ok"
    assert rows["drop"]["files_imported"] == 1
    assert rows["carrier"]["last_run"] is None
    assert rows["drop"]["next_run"] > rows["drop"]["last_run"]


def test_a_failing_feed_does_not_stop_the_others_and_no_secret_leaks(
    setup: tuple[str, Path, Path], tmp_path: Path
) -> None:
    db, feeds, _ = setup
    result = runner.invoke(app, ["--db", db, "pull", "--all", "--feeds", str(feeds)])
    assert result.exit_code == 1
    assert "drop: ok, 1 files seen, 1 imported" in result.stdout
    assert "carrier: failed" in result.stderr
    listing = runner.invoke(app, ["--db", db, "feeds", "list", "--feeds", str(feeds)])
    status = runner.invoke(app, ["--db", db, "feeds", "status", "--feeds", str(feeds)])
    shown = result.stdout + result.stderr + listing.stdout + status.stdout
    assert SECRET not in shown
    engine = create_engine(db)
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                assert SECRET not in repr(tuple(row)), table.name
    engine.dispose()


def test_pull_needs_a_feed_or_all(setup: tuple[str, Path, Path]) -> None:
    db, feeds, _ = setup
    assert runner.invoke(app, ["--db", db, "pull", "--feeds", str(feeds)]).exit_code == 2
    missing = runner.invoke(app, ["--db", db, "pull", "nope", "--feeds", str(feeds)])
    assert missing.exit_code == 1
    assert "FEED_NOT_FOUND" in missing.stderr
