"""Asterisk writes several CDRs for one call: an unanswered or failed attempt, then the leg
that was answered, under one ``uniqueid``. In the 21-field form (``newcdrcolumns``) each has
its own ``linkedid``/``sequence``, which is the record id: every leg is kept and the answered
ones are billed, where keying on ``uniqueid`` alone made the answered leg an ``ID_CONFLICT``
of the attempt before it. An answered row of the classic forms keeps its ``uniqueid`` as id
(its attempts: ``test_mapping_profiles``)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select

from ratebook.store.tables import usage_records
from ratebook.workflows import report_usage
from ratebook.workflows.import_feed import import_feed
from tests.conftest import one_customer

FILE = Path(__file__).parents[1] / "data" / "real" / "asterisk-newcdrcolumns.csv"


def _records(engine: Engine) -> dict[str, tuple[int, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(usage_records.c.record_id, usage_records.c.quantity, usage_records.c.attributes)
        ).all()
    return {
        record_id: (quantity, json.loads(attributes).get("uniqueid"))
        for record_id, quantity, attributes in rows
    }


def test_every_leg_of_a_call_is_kept_and_the_answered_ones_billed(
    my_engine: Engine, tmp_path: Path
) -> None:
    one_customer(my_engine, tmp_path)  # +60 at RM0.0300 a minute, 60/60 increments
    master = shutil.copy(FILE, tmp_path / "Master.csv")
    result = import_feed(my_engine, Path(master), format_name="asterisk")
    assert (result.tally.read, result.tally.rated, result.tally.exceptions) == (5, 5, 0)
    # each leg under its linkedid/sequence, the uniqueid kept beside it; the 18-field row
    # under its uniqueid (quantities at 3 places)
    assert _records(my_engine) == {
        "1790989200.1/10": (0, "1790989200.1"),
        "1790989200.1/11": (61_000, "1790989200.1"),
        "1791079200.5/12": (0, "1791079200.5"),
        "1791079200.5/13": (300_000, "1791079200.5"),
        "1791169200.9": (30_000, None),
    }
    # the classic row's attributes are the classic ones: its content digest, and so the
    # duplicate check of a file imported before the 21-field form was read, is unchanged
    with my_engine.connect() as conn:
        classic = conn.execute(
            select(usage_records.c.attributes).where(usage_records.c.record_id == "1791169200.9")
        ).scalar_one()
    assert list(json.loads(classic)) == [
        "dcontext",
        "clid",
        "channel",
        "dstchannel",
        "lastapp",
        "lastdata",
        "answer",
        "end",
        "duration",
        "amaflags",
        "userfield",
    ]
    # 61 s billed as 2 minutes, 300 s as 5, 30 s as 1: 8 minutes at RM0.0300; the
    # unanswered attempts bill nothing
    assert [b.charge for b in report_usage.balances(my_engine, "2026-10")] == ["0.2400"]


def test_a_leg_sent_again_is_a_duplicate_and_a_changed_one_a_conflict(
    my_engine: Engine, tmp_path: Path
) -> None:
    one_customer(my_engine, tmp_path)
    import_feed(my_engine, Path(shutil.copy(FILE, tmp_path / "Master.csv")), format_name="asterisk")
    # the same CDRs in another order (another file to the store, the same records)
    reordered = tmp_path / "again.csv"
    reordered.write_text("\n".join(reversed(FILE.read_text().splitlines())) + "\n")
    again = import_feed(my_engine, reordered, format_name="asterisk")
    assert (again.tally.duplicates, again.tally.rated) == (5, 0)
    # the answered leg of the first call, resent with 62 billed seconds instead of 61
    changed = FILE.read_text().splitlines()[1].replace('"66","61"', '"67","62"')
    resent = tmp_path / "changed.csv"
    resent.write_text(changed + "\n")
    outcome = import_feed(my_engine, resent, format_name="asterisk")
    assert (outcome.tally.exceptions, dict(outcome.tally.by_code)) == (1, {"ID_CONFLICT": 1})


def _utc_written(count: int) -> str:
    """Calls whose start is written as UTC wall time, as a switch set to UTC writes it; each
    uniqueid begins with the same instant as epoch seconds."""
    rows = []
    for n in range(count):
        start = datetime(2026, 10, 3, 1, n, tzinfo=UTC)
        wall = f"{start:%Y-%m-%d %H:%M:%S}"
        rows.append(
            f'"A","0321110001","0312345678","from-internal","","SIP/a-{n}","SIP/t-{n}","Dial",'
            f'"SIP/t","{wall}","{wall}","{wall}","30","30","ANSWERED","DOCUMENTATION",'
            f'"{int(start.timestamp())}.{n}",""'
        )
    return "\n".join(rows) + "\n"


def test_a_file_read_in_the_wrong_zone_is_pointed_out(my_engine: Engine, tmp_path: Path) -> None:
    """Read as Kuala Lumpur time, UTC wall times start eight hours before the clock in their
    uniqueids: the import says so; read as UTC, they agree and nothing is said."""
    one_customer(my_engine, tmp_path)
    local = tmp_path / "kl.csv"
    local.write_text(_utc_written(6))
    (note,) = import_feed(my_engine, local, format_name="asterisk").notes
    assert note.startswith("start times are -8:00 h from the UTC clock in their uniqueid in 6 of 6")
    assert "Asia/Kuala_Lumpur" in note
    utc = tmp_path / "utc.csv"
    utc.write_text(_utc_written(7))
    assert import_feed(my_engine, utc, format_name="asterisk", feed_zone="UTC").notes == ()
    # the hand-written file's times are local and agree with their ids
    right = Path(shutil.copy(FILE, tmp_path / "Master.csv"))
    assert import_feed(my_engine, right, format_name="asterisk", origin="right").notes == ()
