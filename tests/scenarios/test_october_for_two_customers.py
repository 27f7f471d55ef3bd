"""Story: a small operator bills October for two customers from an Asterisk file and a generic
feed. Every expected figure is worked out by hand in the comments; it runs on both stores."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from sqlalchemy import Engine

from ratebook.store import usage
from ratebook.store.entities import get_entity
from ratebook.workflows import report_usage
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rates import import_rates
from tests.conftest import write
from tests.support.statements import statement_records, statement_totals

DECK = """prefix,destination,rate
60,Malaysia,0.0500
6012,Malaysia Mobile (Maxis),0.1000
65,Singapore,0.2000
"""

CUSTOMERS = """account,name,rate_table,numbers
ACME,Acme Sdn Bhd,standard,+6032111000*;+60198887777
BETA,Beta Trading,standard,03-2112 0000
"""


def _cdr(
    src: str,
    dst: str,
    start: str,
    billsec: int,
    disposition: str = "ANSWERED",
    uniqueid: str | None = None,
) -> str:
    fields = [
        "",
        src,
        dst,
        "from-internal",
        f'"x" <{src}>',
        "SIP/a-1",
        "SIP/b-1",
        "Dial",
        "SIP/trunk",
        start,
        start,
        start,
        str(billsec + 5),
        str(billsec),
        disposition,
        "DOCUMENTATION",
    ]
    if uniqueid is not None:
        fields += [uniqueid, ""]
    return ",".join(
        f'"{f}"' if '"' not in f else f'"{f.replace(chr(34), chr(34) * 2)}"' for f in fields
    )


ASTERISK_ROWS = [
    # 1 ACME DID block -> +60123456789 (6012, 0.10/min): 61 s bills 120 s = 0.2000
    _cdr("0321110001", "0123456789", "2026-10-03 09:00:00", 61, uniqueid="1001.1"),
    # 2 ACME mobile -> +6591234567 (65, 0.20/min): 30 s bills 60 s = 0.2000
    _cdr("+60198887777", "006591234567", "2026-10-04 10:00:00", 30, uniqueid="1001.2"),
    # 3 BETA -> +60312345678 (60, 0.05/min): 125 s bills 180 s = 0.1500
    _cdr("0321120000", "0312345678", "2026-10-05 11:00:00", 125, uniqueid="1001.3"),
    # 4 BETA unanswered: kept at zero
    _cdr("0321120000", "0312345678", "2026-10-05 11:05:00", 0, "NO ANSWER", uniqueid="1001.4"),
    # 5 a caller no customer owns: UNMATCHED_CUSTOMER
    _cdr("0399999999", "0312345678", "2026-10-06 12:00:00", 40, uniqueid="1001.5"),
    # 6 exact repeat of 1: duplicate
    _cdr("0321110001", "0123456789", "2026-10-03 09:00:00", 61, uniqueid="1001.1"),
    # 7 ACME to a satellite number: NO_RATE
    _cdr("0321110002", "0088112345678", "2026-10-07 13:00:00", 20, uniqueid="1001.7"),
    # 8 ACME, no uniqueid (16 columns): id is the row hash; 5 s bills 60 s at 0.05 = 0.0500
    _cdr("0321110003", "0312345678", "2026-10-08 14:00:00", 5),
    # 9 ACME at 00:10 on 1 November local (31 Oct 16:10 UTC): November, 60 s = 0.1000
    _cdr("0321110001", "0123456789", "2026-11-01 00:10:00", 60, uniqueid="1001.9"),
    # 10 ACME at midnight starting October local (30 Sep 16:00 UTC): October, 0.0500
    _cdr("0321110001", "0312345678", "2026-10-01 00:00:00", 60, uniqueid="1001.10"),
]

GENERIC = """record_id,start_time,quantity,account,destination,service,unit,note
g-1,2026-10-10T12:00:00+08:00,90,BETA,+60123456789,voice,s,first
g-2,2026-10-10T12:01:00+08:00,1,BETA,+60123456789,sms,msg,no sms rates
"""


def _setup(engine: Engine, tmp: Path) -> Path:
    import_rates(
        engine, write(tmp / "deck.csv", DECK), name="standard", effective_from="2026-10-01"
    )
    import_customers(engine, write(tmp / "customers.csv", CUSTOMERS))
    return write(tmp / "Master.csv", "\n".join(ASTERISK_ROWS) + "\n")


def _balances(engine: Engine, period: str) -> dict[str, tuple[int, str, str]]:
    return {
        b.account: (b.records, b.billed_quantity, b.charge)
        for b in report_usage.balances(engine, period)
    }


def test_october_balances_statement_and_ledger(my_engine: Engine, tmp_path: Path) -> None:
    master = _setup(my_engine, tmp_path)
    cdrs = import_feed(my_engine, master, format_name="asterisk")
    # rated 1,2,3,4,8,9,10; duplicate 6; exceptions 5 (unmatched), 7 (no rate)
    assert (cdrs.rows_read, cdrs.rated, cdrs.duplicates, cdrs.exceptions) == (10, 7, 1, 2)
    assert dict(cdrs.by_code) == {"UNMATCHED_CUSTOMER": 1, "NO_RATE": 1}

    generic = import_feed(my_engine, write(tmp_path / "feed.csv", GENERIC), format_name="generic")
    # g-1: BETA by account, 90 s bills 120 s at 0.10 = 0.2000; g-2: no sms rate
    assert (generic.rows_read, generic.rated, generic.duplicates, generic.exceptions) == (
        2,
        1,
        0,
        1,
    )

    # ACME: 0.2000 + 0.2000 + 0.0500 + 0.0500 over 120+60+60+60 s
    # BETA: 0.1500 + 0 + 0.2000 over 180+0+120 s
    assert _balances(my_engine, "2026-10") == {
        "ACME": (4, "300", "0.5000"),
        "BETA": (3, "300", "0.3500"),
    }
    assert _balances(my_engine, "2026-11") == {"ACME": (1, "60", "0.1000")}

    with my_engine.connect() as conn:
        entity = get_entity(conn, None)
        assert usage.ledger_totals(conn, entity.id, "2026-10") == {"ACME": 500_000, "BETA": 350_000}

    out = report_usage.write_statement(
        my_engine, account="ACME", period="2026-10", out=tmp_path / "acme.csv"
    )
    assert (out.lines, out.total) == (4, "0.5000")
    with (tmp_path / "acme.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(report_usage.STATEMENT_HEADER)
    records = statement_records(tmp_path / "acme.csv")
    assert {(r["account"], r["period"], r["currency"]) for r in records} == {
        ("ACME", "2026-10", "MYR")
    }
    # destinations with the entity's last 3 digits masked (and, not being plain numbers, kept
    # from a spreadsheet's formula reading); the rate unit as the table has it
    assert records[0] == {
        "kind": "record",
        "account": "ACME",
        "period": "2026-10",
        "currency": "MYR",
        "record_id": "1001.10",
        "date_time": "2026-10-01 00:00:00",
        "service": "voice",
        "caller": "+60321110001",
        "destination": "'+60312345xxx",
        "destination_name": "Malaysia",
        "band": "standard",  # the band of a table without bands
        "quantity": "60",
        "billed_quantity": "60",
        "unit": "s",
        "rate": "0.0500",
        "rate_unit": "60s",
        "tiers": "",
        "charge": "0.0500",
        "records": "",
    }
    second = records[1]
    assert (second["record_id"], second["destination"], second["destination_name"]) == (
        "1001.1",
        "'+60123456xxx",
        "Malaysia Mobile (Maxis)",
    )
    assert (second["quantity"], second["billed_quantity"], second["rate"]) == (
        "61",
        "120",
        "0.1000",
    )
    assert second["charge"] == "0.2000"
    # one total per unit (here only seconds: 60 + 61 + 30 + 5 s, billed 60 + 120 + 60 + 60),
    # then the total of everything, each with its count of records
    totals = statement_totals(tmp_path / "acme.csv")
    assert [
        (t["unit"], t["quantity"], t["billed_quantity"], t["charge"], t["records"]) for t in totals
    ] == [("s", "156", "300", "0.5000", "4"), ("", "", "", "0.5000", "4")]
    assert all(t["record_id"] == t["destination_name"] == "" for t in totals)


def test_reimport_renamed_copy_and_redelivery_change_nothing(
    my_engine: Engine, tmp_path: Path
) -> None:
    master = _setup(my_engine, tmp_path)
    import_feed(my_engine, master, format_name="asterisk")
    before = _balances(my_engine, "2026-10")

    again = import_feed(my_engine, master, format_name="asterisk")
    assert again.already_imported
    copy = shutil.copy(master, tmp_path / "renamed.csv")
    assert import_feed(my_engine, Path(copy), format_name="asterisk").already_imported

    # a new file repeating record 1 exactly and record 2 with a corrected billsec
    redelivery = write(
        tmp_path / "Master-2.csv",
        "\n".join(
            [
                ASTERISK_ROWS[0],
                _cdr("+60198887777", "006591234567", "2026-10-04 10:00:00", 31, uniqueid="1001.2"),
            ]
        )
        + "\n",
    )
    result = import_feed(my_engine, redelivery, format_name="asterisk")
    assert (result.rows_read, result.rated, result.duplicates, result.exceptions) == (2, 0, 1, 1)
    assert dict(result.by_code) == {"ID_CONFLICT": 1}
    assert _balances(my_engine, "2026-10") == before

    conflicts = report_usage.exception_log(my_engine, code="ID_CONFLICT")
    assert conflicts["record_id"].to_list() == ["1001.2"]
    assert "Master.csv:2" in conflicts["reason"][0]  # where the kept version came from
    assert conflicts["source_line"].to_list() == [2]

    # the conflicting copy delivered once more is now a known version: a duplicate
    third = write(tmp_path / "Master-3.csv", redelivery.read_text() + "\n")
    repeat = import_feed(my_engine, third, format_name="asterisk")
    assert (repeat.rated, repeat.duplicates, repeat.exceptions) == (0, 2, 0)


def test_batches_in_another_order_give_the_same_balances(engine: Engine, tmp_path: Path) -> None:
    from ratebook.workflows.init_entity import init_entity

    halves = (ASTERISK_ROWS[:5], ASTERISK_ROWS[5:])
    results = []
    for code, order in (("FORWARD", (0, 1)), ("BACKWARD", (1, 0))):
        init_entity(
            engine,
            code=code,
            name=code,
            currency="MYR",
            timezone="Asia/Kuala_Lumpur",
            region="MY",
            floor="1.00",
        )
        import_rates(
            engine,
            write(tmp_path / "deck.csv", DECK),
            name="standard",
            effective_from="2026-10-01",
            entity_code=code,
        )
        import_customers(engine, write(tmp_path / "customers.csv", CUSTOMERS), entity_code=code)
        for index in order:
            path = write(tmp_path / f"{code}-{index}.csv", "\n".join(halves[index]) + "\n")
            import_feed(engine, path, format_name="asterisk", entity_code=code)
        results.append(
            {
                b.account: (b.records, b.charge)
                for b in report_usage.balances(engine, "2026-10", entity_code=code)
            }
        )
    # first half: ACME 1,2 (0.4000), BETA 3,4 (0.1500); second half adds ACME 8,10 (0.1000)
    assert results[0] == results[1] == {"ACME": (4, "0.5000"), "BETA": (2, "0.1500")}
