"""``ratebook formats list|show``: the layouts a usage file may be in, and what each column is
read as, so a user can tell which format their switch's file is before importing it."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ratebook.cli import app

runner = CliRunner()


def test_formats_are_listed() -> None:
    result = runner.invoke(app, ["formats", "list", "--format", "json"])
    assert result.exit_code == 0
    rows = [(row["format"], row["option"]) for row in json.loads(result.stdout)]
    # the formats, then the shipped mapping profiles
    assert rows[:3] == [
        ("asterisk", "--format"),
        ("freeswitch", "--format"),
        ("generic", "--format"),
    ]
    assert {name for name, option in rows[3:] if option == "--profile"} >= {
        "asterisk-16",
        "asterisk-18",
        "asterisk-21",
        "asterisk-custom",
        "freeswitch-example",
        "freeswitch-a-legs",
    }


def test_a_profile_s_columns_are_shown_with_its_key_and_names(tmp_path: Path) -> None:
    result = runner.invoke(app, ["formats", "show", "asterisk-custom", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    rows = {row["column"]: row["read as"] for row in json.loads(result.stdout)}
    # the sample cdr_custom line's 19 CDR variables, in its order
    assert list(rows)[:3] == ["clid", "src", "dst"]
    assert len(rows) == 19
    assert rows["uniqueid"].startswith("record id")
    assert rows["billsec"] == "quantity"
    carrier = tmp_path / "carrier.yaml"
    carrier.write_text("name: carrier\nkind: generic\nfields: {record_id: CallID}\n")
    result = runner.invoke(app, ["formats", "show", str(carrier), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)[0] == {
        "column": "CallID",
        "read as": "record id",
        "required": "yes",
    }


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
