"""Each kind of bad input ends as a located error or an exception record; no row is lost.

Runs on SQLite and PostgreSQL (the ``my_engine`` fixture)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from ratebook.errors import InputError
from ratebook.intake.tally import ImportSummary
from ratebook.store.tables import usage_records
from ratebook.workflows import report_usage
from ratebook.workflows.import_feed import import_feed
from tests.conftest import write

HEADER = "record_id,start_time,quantity,caller,destination\n"
GOOD = "r{n},2026-10-05T10:00:00+08:00,60,+60312345678,+60123456789\n"


def _import(
    engine: Engine, path: Path, fmt: str = "generic", feed_zone: str | None = None
) -> ImportSummary:
    summary = import_feed(engine, path, format_name=fmt, feed_zone=feed_zone)
    assert summary.rows_read == summary.rated + summary.duplicates + summary.exceptions
    return summary


def _exceptions(engine: Engine) -> list[tuple[str, str | None, str | None, int]]:
    log = report_usage.exception_log(engine)
    return list(zip(log["code"], log["sub_code"], log["field"], log["source_line"], strict=True))


def test_ragged_rows_are_located(my_engine: Engine, tmp_path: Path) -> None:
    path = write(
        tmp_path / "f.csv",
        HEADER
        + GOOD.format(n=1)
        + "r2,2026-10-05T10:00:00Z,60\n"
        + "r3,2026-10-05T10:00:00Z,60,+603,+601,extra\n"
        + GOOD.format(n=4),
    )
    summary = _import(my_engine, path)
    # no customers: the good rows are UNMATCHED; the ragged ones INVALID_RECORD
    assert summary.rows_read == 4
    assert _exceptions(my_engine) == [
        ("UNMATCHED_CUSTOMER", None, None, 2),
        ("INVALID_RECORD", "FIELD_COUNT", None, 3),
        ("INVALID_RECORD", "FIELD_COUNT", None, 4),
        ("UNMATCHED_CUSTOMER", None, None, 5),
    ]
    reasons = report_usage.exception_log(my_engine)["reason"].to_list()
    assert reasons[1] == "expected 5 fields, found 3"


@pytest.mark.parametrize(
    ("quantity", "sub_code"),
    [
        ("sixty", "NOT_A_NUMBER"),
        ("-5", "NEGATIVE"),
        ("", "MISSING_VALUE"),
        ("1.23456", "TOO_PRECISE"),
    ],
)
def test_bad_durations(my_engine: Engine, tmp_path: Path, quantity: str, sub_code: str) -> None:
    path = write(tmp_path / "f.csv", HEADER + f"r1,2026-10-05T10:00:00Z,{quantity},+603,+601\n")
    assert _import(my_engine, path).exceptions == 1
    assert _exceptions(my_engine) == [("INVALID_RECORD", sub_code, "quantity", 2)]


@pytest.mark.parametrize(
    ("start", "sub_code"),
    [
        ("2026-10-32T10:00:00", "BAD_TIMESTAMP"),
        ("yesterday", "BAD_TIMESTAMP"),
        ("", "MISSING_VALUE"),
        ("2026-10-05 10:00", "BAD_TIMESTAMP"),
    ],
)
def test_bad_timestamps(my_engine: Engine, tmp_path: Path, start: str, sub_code: str) -> None:
    path = write(tmp_path / "f.csv", HEADER + f"r1,{start},60,+603,+601\n")
    assert _import(my_engine, path).exceptions == 1
    assert _exceptions(my_engine) == [("INVALID_RECORD", sub_code, "start_time", 2)]


def test_daylight_saving_gap_and_overlap(my_engine: Engine, tmp_path: Path) -> None:
    # Europe/London: 2026-03-29 01:30 does not exist; 2026-10-25 01:30 happens twice
    path = write(
        tmp_path / "f.csv",
        HEADER
        + "gap,2026-03-29 01:30:00,60,+603,+601\n"
        + "overlap,2026-10-25 01:30:00,60,+603,+601\n",
    )
    _import(my_engine, path, feed_zone="Europe/London")
    assert _exceptions(my_engine)[0] == (
        "INVALID_RECORD",
        "NONEXISTENT_LOCAL_TIME",
        "start_time",
        2,
    )
    with my_engine.connect() as conn:
        start = conn.execute(
            select(usage_records.c.start_time).where(usage_records.c.record_id == "overlap")
        ).scalar_one()
    assert start == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # the earlier: 01:30 BST


def test_utf8_bom_is_ignored(my_engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path / "f.csv", b"\xef\xbb\xbf" + (HEADER + GOOD.format(n=1)).encode())
    summary = _import(my_engine, path)
    assert (summary.rows_read, summary.exceptions) == (1, 1)
    assert _exceptions(my_engine) == [("UNMATCHED_CUSTOMER", None, None, 2)]


def test_invalid_utf8_rejects_only_that_row(my_engine: Engine, tmp_path: Path) -> None:
    body = (HEADER + GOOD.format(n=1)).encode() + b"r2,2026-10-05T10:00:00Z,60,+60\xff3,+601\n"
    summary = _import(my_engine, write(tmp_path / "f.csv", body + GOOD.format(n=3).encode()))
    assert summary.rows_read == 3
    assert _exceptions(my_engine)[1] == ("INVALID_RECORD", "INVALID_UTF8", "caller", 3)
    raw = report_usage.exception_log(my_engine)["raw"][1]
    assert "\ufffd" in raw  # kept, with the bad byte shown as a replacement character


def test_quoted_newlines_keep_physical_line_numbers(my_engine: Engine, tmp_path: Path) -> None:
    text = (
        "record_id,start_time,quantity,note\n"
        'r1,2026-10-05T10:00:00Z,60,"a note\nover two lines"\n'
        "r2,2026-10-05T10:00:00Z,oops,plain\n"
    )
    summary = _import(my_engine, write(tmp_path / "f.csv", text))
    assert summary.rows_read == 2
    assert _exceptions(my_engine) == [
        ("UNMATCHED_CUSTOMER", None, None, 2),
        ("INVALID_RECORD", "NOT_A_NUMBER", "quantity", 4),
    ]


def test_empty_file_is_refused(my_engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        import_feed(my_engine, write(tmp_path / "f.csv", ""), format_name="asterisk")
    assert caught.value.render() == f"{tmp_path / 'f.csv'}:1: EMPTY_FILE the file has no rows"


def test_header_only_file_imports_nothing(my_engine: Engine, tmp_path: Path) -> None:
    summary = _import(my_engine, write(tmp_path / "f.csv", HEADER))
    assert (summary.rows_read, summary.rated, summary.exceptions) == (0, 0, 0)


def test_missing_required_column(my_engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        import_feed(
            my_engine,
            write(tmp_path / "f.csv", "record_id,quantity\nr1,60\n"),
            format_name="generic",
        )
    assert caught.value.line == 1
    assert caught.value.field == "start_time"
    assert caught.value.code == "MISSING_COLUMN"


def test_wrong_format_name(my_engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        import_feed(my_engine, write(tmp_path / "f.csv", HEADER), format_name="cisco")
    assert caught.value.render() == (
        "--format: UNKNOWN_FORMAT unknown format 'cisco' (known: asterisk, freeswitch, generic)"
    )


def test_missing_file(my_engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        import_feed(my_engine, tmp_path / "nope.csv", format_name="generic")
    assert caught.value.code == "FILE_NOT_FOUND"


def test_duplicate_ids_inside_one_file(my_engine: Engine, tmp_path: Path) -> None:
    text = (
        HEADER
        + GOOD.format(n=1)
        + GOOD.format(n=1)
        + "r1,2026-10-05T10:00:00+08:00,61,+60312345678,+60123456789\n"
    )
    summary = _import(my_engine, write(tmp_path / "f.csv", text))
    assert (summary.rows_read, summary.duplicates, summary.exceptions) == (3, 1, 2)
    codes = _exceptions(my_engine)
    assert codes == [("UNMATCHED_CUSTOMER", None, None, 2), ("ID_CONFLICT", None, "record_id", 4)]
    reason = report_usage.exception_log(my_engine, code="ID_CONFLICT")["reason"][0]
    assert reason == (
        "record_id 'r1' was already seen with different content at line 2 of"
        " this file; both versions are kept"
    )


def test_an_id_clash_names_where_the_record_was_first_seen(
    my_engine: Engine, tmp_path: Path
) -> None:
    """The record of ``r1`` is line 9 of oct.csv; a clashing copy came at line 10 of nov.csv.
    A third version names oct.csv:9, the first, not the name that sorts first as text."""
    others = "".join(GOOD.format(n=n) for n in range(2, 9))  # lines 2-8
    first = "r1,2026-10-05T10:00:00+08:00,61,+60312345678,+60123456789\n"  # line 9
    _import(my_engine, write(tmp_path / "oct.csv", HEADER + others + first))
    again = "".join(GOOD.format(n=n) for n in range(20, 28))  # lines 2-9
    clash = "r1,2026-10-05T10:00:00+08:00,62,+60312345678,+60123456789\n"  # line 10
    _import(my_engine, write(tmp_path / "nov.csv", HEADER + again + clash))
    third = "r1,2026-10-05T10:00:00+08:00,63,+60312345678,+60123456789\n"
    _import(my_engine, write(tmp_path / "dec.csv", HEADER + third))
    reasons = report_usage.exception_log(my_engine, code="ID_CONFLICT")["reason"].to_list()
    where = str(tmp_path / "oct.csv") + ":9"
    reason = f"record_id 'r1' was already seen with different content at {where}; both versions"
    assert reasons == [f"{reason} are kept", f"{reason} are kept"]


def test_ten_megabyte_field(my_engine: Engine, tmp_path: Path) -> None:
    huge = "x" * (10 * 1024 * 1024)
    text = (
        "record_id,start_time,quantity,note\n"
        + f"r1,2026-10-05T10:00:00Z,60,{huge}\n"
        + "r2,2026-10-05T10:00:00Z,60,short\n"
    )
    summary = _import(my_engine, write(tmp_path / "f.csv", text))
    assert summary.rows_read == 2
    assert _exceptions(my_engine) == [
        ("INVALID_RECORD", "FIELD_TOO_LONG", "note", 2),
        ("UNMATCHED_CUSTOMER", None, None, 3),
    ]
    raw = report_usage.exception_log(my_engine)["raw"][0]
    assert len(raw) > 10 * 1024 * 1024  # the row is kept whole for review


def test_asterisk_rows_without_uniqueid_get_a_stable_hash_id(
    my_engine: Engine, tmp_path: Path
) -> None:
    row = (
        '"","1001","0123456789","ctx","","SIP/1","SIP/2","Dial","x",'
        '"2026-10-05 10:00:00","","2026-10-05 10:01:00","60","60","ANSWERED","DOCUMENTATION"\n'
    )
    summary = _import(my_engine, write(tmp_path / "f.csv", row + row), fmt="asterisk")
    assert (summary.rows_read, summary.duplicates, summary.exceptions) == (2, 1, 1)
    record_id = report_usage.exception_log(my_engine)["record_id"][0]
    assert record_id.startswith("h:")
    assert len(record_id) == 66
