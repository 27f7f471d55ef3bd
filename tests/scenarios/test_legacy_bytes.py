"""A switch that writes its callers' names in a legacy code page (Windows-1251) puts bytes that
are not UTF-8 in a free-text field: the call is still rated, the name shown with U+FFFD where
it could not be read. Such bytes in a field that billing reads still make the row an
``INVALID_UTF8`` exception naming that field."""

from __future__ import annotations

import base64
import csv
import json
import shutil
from pathlib import Path

from sqlalchemy import Engine, select

from ratebook.store.tables import exceptions, usage_records
from ratebook.workflows import report_usage
from ratebook.workflows.import_feed import import_feed
from tests.conftest import one_customer

FILE = Path(__file__).parents[1] / "data" / "real" / "asterisk-cp1251-names.csv"


def test_a_name_in_a_legacy_code_page_does_not_lose_the_call(
    my_engine: Engine, tmp_path: Path
) -> None:
    one_customer(my_engine, tmp_path)  # +60 at RM0.0300 a minute, 60/60 increments
    result = import_feed(
        my_engine, Path(shutil.copy(FILE, tmp_path / "Master.csv")), format_name="asterisk"
    )
    assert (result.tally.read, result.tally.rated, result.tally.exceptions) == (2, 1, 1)
    with my_engine.connect() as conn:
        attributes = json.loads(
            conn.execute(
                select(usage_records.c.attributes).where(
                    usage_records.c.record_id == "1790989200.1"  # answered: its uniqueid
                )
            ).scalar_one()
        )
        clid = attributes["clid"]
        refused = conn.execute(
            select(exceptions.c.sub_code, exceptions.c.field, exceptions.c.source_line)
        ).one()
    # eleven bytes of the name (a space is ASCII) each shown as U+FFFD
    assert clid == '"' + "\ufffd" * 4 + " " + "\ufffd" * 6 + '" <0321110001>'
    # the row's bytes as written are kept with it: read in the switch's code page, they are
    # the fields of the file's first line, the name whole
    kept = base64.b64decode(attributes["_raw_bytes"])
    first_line = FILE.read_bytes().splitlines()[0]
    assert next(csv.reader([kept.decode("cp1251")])) == next(
        csv.reader([first_line.decode("cp1251")])
    )
    assert "Иван Петров" in kept.decode("cp1251")
    assert tuple(refused) == ("INVALID_UTF8", "dst", 2)
    # 61 s billed as 2 minutes at RM0.0300
    assert [b.charge for b in report_usage.balances(my_engine, "2026-10")] == ["0.0600"]
