"""``ratebook users``: create with a password read from standard input, grant, list,
disable; errors are one line with their code."""

from __future__ import annotations

import json
from datetime import timedelta

from typer.testing import CliRunner

from ratebook.cli import app
from ratebook.store.engine import open_store
from ratebook.workflows.manage_users import sign_in

runner = CliRunner()


def _cli(db: str, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--db", db, *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_users_commands(db_url: str) -> None:
    assert _cli(db_url, "init", "--entity", "MY1")[0] == 0
    code, out, err = _cli(
        db_url,
        "users",
        "create",
        "alice",
        "--role",
        "reviewer",
        "--password-stdin",
        stdin="correct horse battery\n",
    )
    assert code == 0, err
    assert out.strip() == "created user alice: MY1:reviewer"

    code, _, err = _cli(db_url, "users", "create", "bob", "--password-stdin", stdin="short\n")
    assert (code, err.strip()) == (1, "error: WEAK_PASSWORD a password has 10 to 1,024 characters")
    code, _, err = _cli(
        db_url, "users", "create", "carol", "--role", "owner", "--password-stdin", stdin="x" * 12
    )
    assert code == 1
    assert err.startswith("error: UNKNOWN_ROLE")

    assert _cli(db_url, "users", "grant", "alice", "--role", "admin")[0] == 0
    code, out, _ = _cli(db_url, "users", "list", "--format", "json")
    [alice] = json.loads(out)
    assert (alice["username"], alice["roles"], alice["disabled_at"]) == ("alice", "MY1:admin", "")

    engine = open_store(db_url)
    try:
        assert sign_in(engine, "alice", "correct horse battery", lifetime=timedelta(hours=1))
        assert _cli(db_url, "users", "disable", "alice")[0] == 0
        assert (
            sign_in(engine, "alice", "correct horse battery", lifetime=timedelta(hours=1)) is None
        )
        code, _, err = _cli(db_url, "users", "passwd", "nobody", "--password-stdin", stdin="y" * 12)
        assert (code, err.strip()) == (1, "error: USER_NOT_FOUND no console user 'nobody'")
    finally:
        engine.dispose()
