"""``ratebook formats list|show``: the layouts a usage file may be in, and what each column is
read as, so a user can tell which format their switch's file is before importing it."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from ratebook.cli import app

runner = CliRunner()


def test_formats_are_listed() -> None:
    result = runner.invoke(app, ["formats", "list", "--format", "json"])
    assert result.exit_code == 0
    assert [row["format"] for row in json.loads(result.stdout)] == [
        "asterisk",
        "freeswitch",
        "generic",
    ]


def test_a_format_s_columns_are_shown_in_file_order_with_their_meaning() -> None:
    result = runner.invoke(app, ["formats", "show", "freeswitch", "--format", "json"])
    assert result.exit_code == 0
    rows = {row["column"]: (row["read as"], row["required"]) for row in json.loads(result.stdout)}
    # the stock "example" template's 15 fields (docs/formats.md)
    assert list(rows) == [
        "caller_id_name",
        "caller_id_number",
        "destination_number",
        "context",
        "start_stamp",
        "answer_stamp",
        "end_stamp",
        "duration",
        "billsec",
        "hangup_cause",
        "uuid",
        "bleg_uuid",
        "accountcode",
        "read_codec",
        "write_codec",
    ]
    assert rows["uuid"] == ("record id", "yes")
    assert rows["billsec"] == ("quantity", "yes")
    assert rows["accountcode"] == ("customer account", "")
    assert rows["caller_id_name"] == ("attribute", "")


def test_an_unknown_format_is_a_clear_error() -> None:
    result = runner.invoke(app, ["formats", "show", "cisco"])
    assert result.exit_code == 1
    assert "UNKNOWN_FORMAT" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
