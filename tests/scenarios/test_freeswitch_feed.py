"""Story: an operator bills October from FreeSWITCH's ``mod_cdr_csv`` files (the stock
``example`` template). Every expected figure is worked out by hand in the comments; it runs on
both stores."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, select

from ratebook.store.tables import exceptions, usage_records
from ratebook.workflows import report_usage
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rates import import_rates
from tests.conftest import write

DECK = """prefix,destination,rate
60,Malaysia,0.0500
6012,Malaysia Mobile,0.1000
"""
CUSTOMERS = """account,name,rate_table,numbers
ACME,Acme Sdn Bhd,standard,
BETA,Beta Trading,standard,03-2112 0000
"""


def _cdr(
    number: str,
    destination: str,
    start: str,
    answer: str,
    billsec: int,
    cause: str,
    uuid: str,
    account: str = "",
) -> str:
    """One line of the ``example`` template: 15 quoted fields."""
    fields = [
        "Desk 1",
        number,
        destination,
        "default",
        start,
        answer,
        start,  # end_stamp: not read
        str(billsec + 5),
        str(billsec),
        cause,
        uuid,
        "",
        account,
        "PCMA",
        "PCMA",
    ]
    return ",".join(f'"{f}"' for f in fields)


# ACME by its account code -> +60123456789 (6012 at 0.10/min): 61 s bills 120 s = 0.2000
ACME_CALL = _cdr(
    "1001",
    "0123456789",
    "2026-10-03 09:00:00",
    "2026-10-03 09:00:05",
    61,
    "NORMAL_CLEARING",
    "f1-0001",
    account="ACME",
)

ROWS = [
    # 1 ACME's call above
    ACME_CALL,
    # 2 BETA by its caller number -> +60312345678 (60 at 0.05/min): 125 s bills 180 s = 0.1500
    _cdr(
        "0321120000",
        "0312345678",
        "2026-10-05 11:00:00",
        "2026-10-05 11:00:09",
        125,
        "NORMAL_CLEARING",
        "f1-0002",
    ),
    # 3 BETA, not answered: its hangup cause is its disposition; a zero-charge record
    _cdr("0321120000", "0312345678", "2026-10-05 11:05:00", "", 0, "NO_ANSWER", "f1-0003"),
    # 4 BETA, busy: the same
    _cdr("0321120000", "0312345678", "2026-10-05 11:06:00", "", 0, "USER_BUSY", "f1-0004"),
    # 5 a caller no customer owns: UNMATCHED_CUSTOMER
    _cdr(
        "0399999999",
        "0312345678",
        "2026-10-06 12:00:00",
        "2026-10-06 12:00:02",
        40,
        "NORMAL_CLEARING",
        "f1-0005",
    ),
    # 6 an exact repeat of 1: a duplicate
    ACME_CALL,
    # 7 no uuid: INVALID_RECORD (record_id is empty)
    _cdr(
        "1001",
        "0312345678",
        "2026-10-07 13:00:00",
        "2026-10-07 13:00:01",
        20,
        "NORMAL_CLEARING",
        "",
        account="ACME",
    ),
    # 8 a line of another template (13 fields): INVALID_RECORD, FIELD_COUNT
    ",".join(f'"{f}"' for f in ["x"] * 13),
]


def test_october_from_a_freeswitch_file(my_engine: Engine, tmp_path: Path) -> None:
    import_rates(
        my_engine, write(tmp_path / "deck.csv", DECK), name="standard", effective_from="2026-10-01"
    )
    import_customers(my_engine, write(tmp_path / "customers.csv", CUSTOMERS))
    master = write(tmp_path / "Master.csv", "\n".join(ROWS) + "\n")

    summary = import_feed(my_engine, master, format_name="freeswitch")
    # rated 1-4; duplicate 6; exceptions 5 (unmatched), 7 and 8 (invalid)
    assert (summary.rows_read, summary.rated, summary.duplicates, summary.exceptions) == (
        8,
        4,
        1,
        3,
    )
    assert dict(summary.by_code) == {"UNMATCHED_CUSTOMER": 1, "INVALID_RECORD": 2}
    assert summary.charge == 200_000 + 150_000  # AMOUNT_SCALE 6: 0.2000 + 0.1500

    # ACME: 120 s, 0.2000; BETA: 180 + 0 + 0 s, 0.1500
    assert {
        b.account: (b.records, b.billed_quantity, b.charge)
        for b in report_usage.balances(my_engine, "2026-10")
    } == {"ACME": (1, "120", "0.2000"), "BETA": (3, "180", "0.1500")}

    with my_engine.connect() as conn:
        stored = {
            r.record_id: r
            for r in conn.execute(
                select(
                    usage_records.c.record_id,
                    usage_records.c.origin,
                    usage_records.c.disposition,
                    usage_records.c.caller,
                    usage_records.c.attributes,
                )
            )
        }
        reasons = sorted(
            (r.sub_code, r.reason)
            for r in conn.execute(
                select(exceptions.c.sub_code, exceptions.c.reason).where(
                    exceptions.c.code == "INVALID_RECORD"
                )
            )
        )
    assert stored["f1-0001"].origin == "freeswitch"
    assert stored["f1-0001"].disposition == "ANSWERED"
    assert stored["f1-0003"].disposition == "NO_ANSWER"
    assert stored["f1-0004"].disposition == "USER_BUSY"
    assert stored["f1-0002"].caller == "+60321120000"
    assert json.loads(stored["f1-0003"].attributes) == {
        "caller_id_name": "Desk 1",
        "context": "default",
        "answer_stamp": "",  # attributes are kept as written
        "end_stamp": "2026-10-05 11:05:00",
        "duration": "5",
        "hangup_cause": "NO_ANSWER",
        "bleg_uuid": "",
        "read_codec": "PCMA",
        "write_codec": "PCMA",
    }
    assert reasons == [
        ("FIELD_COUNT", "expected 15 fields, found 13"),
        ("MISSING_VALUE", "record_id is empty"),
    ]
