"""Mapping profiles: files in the layouts switches and carriers write, read through a named
layout (``ingest --profile``), with every row's outcome asserted.

The customer ``A`` is billed RM0.0300 a minute in whole minutes (``one_customer``), so each
expected charge below is worked out from the billed seconds by hand."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from ratebook.cli import app
from ratebook.errors import InputError
from ratebook.model.review import Filter
from ratebook.settings import Settings
from ratebook.sources.feeds_config import load_feeds
from ratebook.store.tables import import_batches, usage_records
from ratebook.workflows import correct_exception, report_usage
from ratebook.workflows import review_exceptions as review
from ratebook.workflows.import_feed import check_format, import_feed
from ratebook.workflows.import_shards import import_in_shards
from ratebook.workflows.pull_feeds import pull_feed
from tests.conftest import one_customer

REAL = Path(__file__).parents[1] / "data" / "real"


def _records(engine: Engine, origin: str) -> dict[str, tuple[int, str | None]]:
    """Each record of ``origin``: its billed seconds and disposition."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                usage_records.c.record_id, usage_records.c.quantity, usage_records.c.disposition
            ).where(usage_records.c.origin == origin)
        ).all()
    return {record_id: (quantity // 1000, disposition) for record_id, quantity, disposition in rows}


def _attempt(path: Path, line: int, width: int) -> str:
    """The record id docs/formats.md gives an unanswered Asterisk CDR: its uniqueid, ``/a:``
    and 16 hex digits of the SHA-256 of its fields (stripped, joined by U+001F, the layout's
    fields it lacks empty), worked out here from the file's text."""
    fields = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))[line - 1]
    fields = [f.strip() for f in fields] + [""] * (width - len(fields))
    digest = hashlib.sha256("\x1f".join(fields).encode()).hexdigest()[:16]
    unique = fields[16]
    return f"{unique}/a:{digest}"


def _charge(engine: Engine) -> list[str]:
    return [b.charge for b in report_usage.balances(engine, "2026-10")]


def test_every_asterisk_cdr_under_one_uniqueid_is_kept_and_the_answered_legs_billed(
    my_engine: Engine, tmp_path: Path
) -> None:
    """The 18-field form: a NO ANSWER attempt then the answered leg, and a CHANUNAVAIL attempt
    then a 300 s answered leg, each pair under one uniqueid. Keyed on uniqueid alone, the
    answered legs were ID_CONFLICT exceptions and 361 billed seconds were lost. The answered
    legs keep their uniqueid as id; each attempt's id adds its hash (cdr_csv's 21 fields)."""
    one_customer(my_engine, tmp_path)
    path = Path(shutil.copy(REAL / "asterisk-18-failover.csv", tmp_path / "Master.csv"))
    result = import_feed(my_engine, path, profile="asterisk-18")
    assert (result.tally.read, result.tally.rated, result.tally.exceptions) == (4, 4, 0)
    source = REAL / "asterisk-18-failover.csv"
    assert _records(my_engine, "asterisk-18") == {
        _attempt(source, 1, 21): (0, "NO ANSWER"),
        "1791248400.3": (61, "ANSWERED"),
        _attempt(source, 3, 21): (0, "CHANUNAVAIL"),
        "1791252000.7": (300, "ANSWERED"),
    }
    # 61 s as 2 minutes and 300 s as 5: 7 minutes at RM0.0300
    assert _charge(my_engine) == ["0.2100"]
    # the same rows through --format asterisk (auto-detected by field count; CRLF line
    # ends, so another file to the store) are keyed alike
    again = tmp_path / "again.csv"
    again.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    again_read = import_feed(my_engine, again, format_name="asterisk")
    assert set(_records(my_engine, "asterisk")) == set(_records(my_engine, "asterisk-18"))
    assert again_read.tally.rated == 4


def test_a_resent_asterisk_row_is_a_duplicate_and_a_changed_one_a_conflict(
    my_engine: Engine, tmp_path: Path
) -> None:
    one_customer(my_engine, tmp_path)
    rows = (REAL / "asterisk-18-failover.csv").read_text().splitlines()
    first = tmp_path / "first.csv"
    first.write_text("\n".join(rows) + "\n")
    import_feed(my_engine, first, profile="asterisk-18")
    resent = tmp_path / "resent.csv"
    # the answered leg sent again as it was, and with 62 billed seconds instead of 61
    resent.write_text(rows[1] + "\n" + rows[1].replace('"66","61"', '"67","62"') + "\n")
    outcome = import_feed(my_engine, resent, profile="asterisk-18")
    assert (outcome.tally.duplicates, dict(outcome.tally.by_code)) == (1, {"ID_CONFLICT": 1})


def test_an_asterisk_cdr_custom_layout_is_read_through_its_mapping_line(
    my_engine: Engine, tmp_path: Path
) -> None:
    """The shipped ``asterisk-custom`` profile holds the sample ``cdr_custom.conf`` line,
    which writes the start, answer and end stamps as epoch seconds (``CDR(start,u)``)."""
    one_customer(my_engine, tmp_path)
    path = Path(shutil.copy(REAL / "asterisk-cdr-custom.csv", tmp_path / "Custom.csv"))
    result = import_feed(my_engine, path, profile="asterisk-custom")
    assert (result.tally.read, result.tally.rated, result.tally.exceptions) == (2, 2, 0)
    source = REAL / "asterisk-cdr-custom.csv"
    # the uniqueid is the 17th of the line's 19 fields, as in cdr_csv
    assert _records(my_engine, "asterisk-custom") == {
        "1791338400.11": (95, "ANSWERED"),
        _attempt(source, 2, 19): (0, "BUSY"),
    }
    with my_engine.connect() as conn:
        start = conn.execute(
            select(usage_records.c.start_time).where(usage_records.c.disposition == "ANSWERED")
        ).scalar_one()
    # 1791338400.12 s after the epoch: 2026-10-07 02:00:00.12 UTC
    assert start.isoformat() == "2026-10-07T02:00:00.120000+00:00"
    # 95 s as 2 minutes
    assert _charge(my_engine) == ["0.0600"]


def test_a_site_s_own_cdr_custom_line_in_a_profile_file(my_engine: Engine, tmp_path: Path) -> None:
    """A short mapping line with local stamps and a key the site chose (its own column)."""
    one_customer(my_engine, tmp_path)
    profile = tmp_path / "pbx.yaml"
    profile.write_text(
        "name: pbx-west\n"
        "kind: asterisk\n"
        "line: '${CDR(userfield)},${CDR(accountcode)},${CDR(src)},${CDR(dst)},"
        "${CDR(start)},${CDR(billsec)},${CDR(disposition)},${CHANNEL(name)}'\n"
        "key: [userfield]\n"
        "zone: UTC\n"
    )
    data = tmp_path / "pbx.csv"
    data.write_text(
        "w-1,A,0321110001,0312345678,2026-10-10 01:00:00,59,ANSWERED,SIP/x-1\n"
        "w-2,A,0321110001,0312345678,2026-10-10 02:00:00,0,NO ANSWER,SIP/x-2\n"
        ",A,0321110001,0312345678,2026-10-10 03:00:00,10,ANSWERED,SIP/x-3\n"
    )
    result = import_feed(my_engine, data, profile=str(profile))
    # the row without a key is an exception, never a record without an id
    assert (result.tally.read, result.tally.rated, dict(result.tally.by_code)) == (
        3,
        2,
        {"INVALID_RECORD": 1},
    )
    assert _records(my_engine, "pbx-west") == {"w-1": (59, "ANSWERED"), "w-2": (0, "NO ANSWER")}
    with my_engine.connect() as conn:
        start, attributes = conn.execute(
            select(usage_records.c.start_time, usage_records.c.attributes).where(
                usage_records.c.record_id == "w-1"
            )
        ).one()
    # the profile's zone: 01:00 UTC; the field that writes no CDR variable is kept by position
    assert start.isoformat() == "2026-10-10T01:00:00+00:00"
    assert json.loads(attributes)["field_8"] == "SIP/x-1"
    assert _charge(my_engine) == ["0.0300"]


@pytest.mark.parametrize("workers", [1, 3])
def test_freeswitch_b_legs_are_kept_but_not_billed_twice(
    my_engine: Engine, tmp_path: Path, workers: int
) -> None:
    """``legs=ab`` writes an A leg and its B leg for one bridged call: read with every leg
    billed, the call is billed twice; the ``freeswitch-a-legs`` profile keeps the B leg as a
    record billed nothing, with workers too (a shard might not hold the A leg that tells a B
    leg, so such a file is imported whole)."""
    one_customer(my_engine, tmp_path)
    both = Path(shutil.copy(REAL / "freeswitch-ab-legs.csv", tmp_path / "Master.csv"))
    if workers == 1:
        result = import_feed(my_engine, both, profile="freeswitch-a-legs")
    else:
        result = import_in_shards(my_engine, both, workers=workers, profile="freeswitch-a-legs")
    assert (result.tally.read, result.tally.rated, result.tally.exceptions) == (3, 3, 0)
    assert _records(my_engine, "freeswitch-a-legs") == {
        "4c1e7a10-0001-4000-8000-00000000000a": (61, "ANSWERED"),
        "4c1e7a10-0001-4000-8000-00000000000b": (61, "B_LEG"),
        "4c1e7a10-0002-4000-8000-00000000000a": (0, "NO_ANSWER"),
    }
    # one call of 61 s: 2 minutes
    assert _charge(my_engine) == ["0.0600"]


def test_freeswitch_legs_and_directions_by_the_direction_variable(
    my_engine: Engine, tmp_path: Path
) -> None:
    one_customer(my_engine, tmp_path)
    line = (
        '"${uuid}","${direction}","${caller_id_number}","${destination_number}",'
        '"${start_stamp}","${answer_stamp}","${billsec}","${hangup_cause}","${accountcode}"'
    )
    a_legs = tmp_path / "a-legs.yaml"
    a_legs.write_text(f"name: fs-a\nkind: freeswitch\nlegs: a\nline: '{line}'\n")
    outbound = tmp_path / "outbound.yaml"
    outbound.write_text(f"name: fs-out\nkind: freeswitch\ndirections: [outbound]\nline: '{line}'\n")
    data = REAL / "freeswitch-direction.csv"
    import_feed(my_engine, Path(shutil.copy(data, tmp_path / "a.csv")), profile=str(a_legs))
    # the leg FreeSWITCH originated (outbound) is the B leg
    assert _records(my_engine, "fs-a") == {
        "5d2f8b20-0001-4000-8000-00000000000a": (120, "ANSWERED"),
        "5d2f8b20-0001-4000-8000-00000000000b": (120, "B_LEG"),
        "5d2f8b20-0002-4000-8000-00000000000a": (30, "ANSWERED"),
    }
    with my_engine.connect() as conn:
        directions = set(
            conn.execute(
                select(usage_records.c.direction).where(usage_records.c.origin == "fs-a")
            ).scalars()
        )
    assert directions == {"inbound", "outbound"}
    # 2 minutes and 1 minute
    assert _charge(my_engine) == ["0.0900"]
    crlf = tmp_path / "o.csv"  # another file to the store: the same rows, CRLF line ends
    crlf.write_bytes(data.read_bytes().replace(b"\n", b"\r\n"))
    import_feed(my_engine, crlf, profile=str(outbound))
    assert {d for _, d in _records(my_engine, "fs-out").values()} == {
        "ANSWERED",
        "NOT_BILLED_DIRECTION",
    }
    # the outbound leg's 2 minutes more
    assert _charge(my_engine) == ["0.1500"]


def test_a_carrier_s_headered_csv_through_its_own_names_and_a_correction(
    my_engine: Engine, tmp_path: Path
) -> None:
    """A generic layout with the carrier's header names and epoch milliseconds; a row
    corrected later is read through the same profile (kept with its batch)."""
    one_customer(my_engine, tmp_path)
    data = (REAL / "carrier-usage.csv").read_text()
    bad = data + "c-1003,1791439200000,abc,A,0321110001,0312345678,west\n"
    path = tmp_path / "usage.csv"
    path.write_text(bad)
    result = import_feed(my_engine, path, profile=str(REAL / "carrier-usage.yaml"))
    assert (result.tally.rated, dict(result.tally.by_code)) == (2, {"INVALID_RECORD": 1})
    assert _records(my_engine, "carrier-usage") == {
        "c-1001": (61, None),
        "c-1002": (125, None),
    }
    with my_engine.connect() as conn:
        start = conn.execute(
            select(usage_records.c.start_time).where(usage_records.c.record_id == "c-1002")
        ).scalar_one()
        layout = conn.execute(select(import_batches.c.layout)).scalar_one()
    assert start.isoformat() == "2026-10-07T03:30:00.500000+00:00"
    assert json.loads(layout)["name"] == "carrier-usage"
    # 61 s and 125 s: 2 and 3 minutes
    assert _charge(my_engine) == ["0.1500"]
    (pending,) = review.list_exceptions(my_engine, Filter())
    correct_exception.correct(my_engine, pending["id"], changes={"quantity": "30"}, reason="typo")
    assert _records(my_engine, "carrier-usage")["c-1003"] == (30, None)
    assert _charge(my_engine) == ["0.1800"]


def test_a_file_in_a_legacy_code_page_through_a_profile_s_encoding(
    my_engine: Engine, tmp_path: Path
) -> None:
    """Read as UTF-8, the Windows-1251 name is replacement characters and the row with such
    a byte in ``dst`` is refused; read as ``cp1251``, both are text."""
    one_customer(my_engine, tmp_path)
    profile = tmp_path / "cp1251.yaml"
    profile.write_text("name: pbx-ru\nkind: asterisk\nencoding: cp1251\n")
    path = Path(shutil.copy(REAL / "asterisk-cp1251-names.csv", tmp_path / "Master.csv"))
    result = import_feed(my_engine, path, profile=str(profile))
    assert (result.tally.read, result.tally.exceptions) == (2, 1)
    with my_engine.connect() as conn:
        (clid,) = conn.execute(
            select(usage_records.c.attributes).where(usage_records.c.record_id == "1790989200.1")
        ).one()
    assert json.loads(clid)["clid"] == '"Иван Петров" <0321110001>'
    # the second row's destination is read as text: a number with a letter matches no rate
    (refused,) = review.list_exceptions(my_engine, Filter())
    assert refused["code"] == "NO_RATE"


@pytest.mark.parametrize(
    ("text", "code", "field"),
    [
        ("name: x\nkind: asterisk\nkey: [nope]\n", "BAD_PROFILE", "key"),
        ("name: x\nkind: generic\nline: 'a,b'\n", "BAD_PROFILE", None),
        ("name: x\nkind: freeswitch\nline: '\"${uuid}\"'\n", "BAD_TEMPLATE", None),
        ("name: x\nkind: asterisk\nencoding: klingon\n", "BAD_PROFILE", "encoding"),
        ("name: x\nkind: asterisk\ntime: yesterday\n", "BAD_PROFILE", "time"),
        ("name: x\nkind: asterisk\nlegs: a\n", "BAD_PROFILE", None),
        ("name: x\nkind: cisco\n", "BAD_PROFILE", "kind"),
        ("name: x\nkind: generic\nfields: {callid: CallID}\n", "BAD_PROFILE", "fields"),
        (
            "name: x\nkind: freeswitch\ndirections: [inbound]\n"
            'line: \'"${uuid}","${start_stamp}","${billsec}","${destination_number}"\'\n',
            "BAD_PROFILE",
            "directions",
        ),
    ],
)
def test_a_bad_profile_is_refused_before_any_file_is_read(
    tmp_path: Path, text: str, code: str, field: str | None
) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(text)
    with pytest.raises(InputError) as raised:
        check_format("generic", profile=str(profile))
    assert raised.value.code == code
    if field is not None:
        assert raised.value.field == field


def test_an_unknown_profile_names_the_shipped_ones() -> None:
    with pytest.raises(InputError) as raised:
        check_format("generic", profile="cisco")
    assert raised.value.code == "UNKNOWN_PROFILE"
    assert "asterisk-18" in raised.value.message


def test_ingest_and_a_feed_take_a_profile(db_url: str, my_engine: Engine, tmp_path: Path) -> None:
    """``ratebook ingest --profile`` as a user types it, and a folder feed naming the same
    profile in ``feeds.yaml``: each reads the failover file's legs alike."""
    one_customer(my_engine, tmp_path)
    master = Path(shutil.copy(REAL / "asterisk-18-failover.csv", tmp_path / "Master.csv"))
    result = CliRunner().invoke(
        app, ["--db", db_url, "ingest", "--profile", "asterisk-18", str(master)]
    )
    assert result.exit_code == 0, result.stderr
    assert set(_records(my_engine, "asterisk-18")) == {
        "1791248400.3",
        "1791252000.7",
        _attempt(REAL / "asterisk-18-failover.csv", 1, 21),
        _attempt(REAL / "asterisk-18-failover.csv", 3, 21),
    }
    refused = CliRunner().invoke(
        app, ["--db", db_url, "ingest", "--format", "asterisk", "--profile", "asterisk-18", "x"]
    )
    assert (refused.exit_code, "BAD_PROFILE" in refused.stderr) == (1, True)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    dropped = inbox / "Master.csv"
    dropped.write_bytes(master.read_bytes().replace(b"\n", b"\r\n"))  # another file
    os.utime(dropped, (0, 0))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        f"feeds:\n  - {{name: pbx, kind: folder, path: '{inbox}', profile: asterisk-18}}\n"
    )
    (feed,) = load_feeds(feeds)
    pulled = pull_feed(my_engine, feed, settings=Settings(), now=datetime.now(UTC))
    (summary,) = pulled.imported
    assert (summary.tally.rated, summary.tally.exceptions) == (4, 0)
    assert set(_records(my_engine, "pbx")) == set(_records(my_engine, "asterisk-18"))
