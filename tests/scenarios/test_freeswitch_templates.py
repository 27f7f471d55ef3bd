"""FreeSWITCH files written with a ``mod_cdr_csv`` template other than the stock ``example``
are read through that template's line: every row was refused for its field count before."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from ratebook.errors import InputError
from ratebook.model.review import Filter
from ratebook.store.tables import usage_records
from ratebook.workflows import correct_exception, report_usage
from ratebook.workflows import review_exceptions as review
from ratebook.workflows.import_feed import check_format, import_feed
from tests.conftest import one_customer

FILE = Path(__file__).parents[1] / "data" / "real" / "freeswitch-custom-template.csv"
TEMPLATE = (
    '"${uuid}","${caller_id_number}","${destination_number}","${start_stamp}",'
    '"${answer_stamp}","${billsec}","${hangup_cause}","${accountcode}",'
    '"${sip_hangup_disposition}"'
)


def test_a_file_of_a_site_s_own_template_is_read_through_its_line(
    my_engine: Engine, tmp_path: Path
) -> None:
    one_customer(my_engine, tmp_path)  # +60 at RM0.0300 a minute, 60/60 increments
    # read as the stock template, every row has 9 fields where 15 are expected (the same
    # rows with CRLF line ends: another file to the store)
    stock = tmp_path / "stock.csv"
    stock.write_bytes(FILE.read_bytes().replace(b"\n", b"\r\n"))
    refused = import_feed(my_engine, stock, format_name="freeswitch", origin="fs-stock")
    assert (refused.tally.rated, dict(refused.tally.by_code)) == (0, {"INVALID_RECORD": 2})
    path = Path(shutil.copy(FILE, tmp_path / "cdr.csv"))
    read = import_feed(
        my_engine, path, format_name="freeswitch", template=TEMPLATE, origin="fs-custom"
    )
    assert (read.tally.rated, read.tally.exceptions) == (2, 0)
    with my_engine.connect() as conn:
        rows = {
            record_id: (disposition, json.loads(attributes))
            for record_id, disposition, attributes in conn.execute(
                select(
                    usage_records.c.record_id,
                    usage_records.c.disposition,
                    usage_records.c.attributes,
                ).where(usage_records.c.origin == "fs-custom")
            )
        }
    # the answered call is ANSWERED; the other keeps its hangup cause; the variables the
    # format does not map are kept as attributes
    assert rows["a3b1c2d4-0001-4000-8000-000000000001"] == (
        "ANSWERED",
        {
            "answer_stamp": "2026-10-09 10:00:05",
            "hangup_cause": "NORMAL_CLEARING",
            "sip_hangup_disposition": "NORMAL_CLEARING",
        },
    )
    assert rows["a3b1c2d4-0002-4000-8000-000000000002"][0] == "NO_ANSWER"
    # 95 s billed as 2 minutes at RM0.0300; the unanswered attempt bills nothing
    assert [b.charge for b in report_usage.balances(my_engine, "2026-10")] == ["0.0600"]


@pytest.mark.parametrize(
    ("fmt", "template"),
    [
        ("freeswitch", '"${uuid}","${start_stamp}","${billsec}"'),  # no destination
        ("freeswitch", '"${uuid}","${uuid}","${start_stamp}","${billsec}","${destination_number}"'),
        ("freeswitch", '"${uuid}","start","${billsec}","${destination_number}"'),
        ("asterisk", TEMPLATE),
    ],
)
def test_a_template_that_cannot_be_read_is_refused_before_any_file(fmt: str, template: str) -> None:
    with pytest.raises(InputError) as caught:
        check_format(fmt, template)
    assert (caught.value.code, caught.value.path) == ("BAD_TEMPLATE", "--template")


def test_a_row_of_a_template_file_is_corrected_through_the_template_s_columns(
    my_engine: Engine, tmp_path: Path
) -> None:
    one_customer(my_engine, tmp_path)
    bad = FILE.read_text().splitlines()[0].replace('"95"', '"9x5"')
    path = tmp_path / "bad.csv"
    path.write_text(bad + "\n")
    held = import_feed(my_engine, path, format_name="freeswitch", template=TEMPLATE)
    assert dict(held.tally.by_code) == {"INVALID_RECORD": 1}
    [exception] = review.list_exceptions(my_engine, Filter())
    fixed = correct_exception.correct(
        my_engine, exception["id"], changes={"quantity": "95"}, reason="switch wrote 9x5"
    )
    # 95 s bills 2 minutes at RM0.0300: RM0.06, at 6 places
    assert (fixed.resolved, fixed.charge) == (1, 60_000)
