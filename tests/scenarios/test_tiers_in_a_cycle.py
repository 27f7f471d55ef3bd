"""Story: a reseller prices Malaysian calls on a graduated ladder and SMS on a volume ladder.
October's usage arrives in two files, the second holding a call made before calls already
billed. Expected charges are worked out by hand in the comments.

Ladders (per customer and cycle): calls to +60 cost RM0.1000 a minute for the first 10
minutes, RM0.0500 after; SMS cost RM0.0500 each, RM0.0200 each once the cycle passes 3.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from ratebook.errors import InputError
from ratebook.settings import Settings
from ratebook.store.entities import get_entity
from ratebook.store.tables import ledger_postings
from ratebook.store.usage import ledger_totals
from ratebook.workflows import report_usage
from ratebook.workflows.explain_record import explain
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rate_table import import_rate_table
from tests.conftest import write
from tests.support.statements import statement_records, statement_totals

TABLE = """
name: tiered
currency: MYR
timezone: Asia/Kuala_Lumpur
rounding: {places: 4, mode: half-up}
versions:
  - effective_from: 2026-10-01
    rows:
      - prefix: "60"
        destination: Malaysia
        price: "0.1000"
        tiers: {kind: graduated, steps: [{after: 10min, price: "0.0500"}]}
      - {service: sms, destination: SMS, price: "0.0500", tiers: "volume 3msg=0.0200"}
"""

HEADER = "record_id,start_time,quantity,account,destination,service,unit\n"
FIRST = HEADER + (
    "c1,2026-10-05T10:00:00+08:00,480,ACME,+60312345678,voice,s\n"
    "c3,2026-10-20T10:00:00+08:00,180,ACME,+60312345678,voice,s\n"
    "s1,2026-10-05T10:00:00+08:00,1,ACME,+60123456789,sms,msg\n"
    "s2,2026-10-06T10:00:00+08:00,1,ACME,+60123456789,sms,msg\n"
    "s3,2026-10-07T10:00:00+08:00,1,ACME,+60123456789,sms,msg\n"
)
LATE = HEADER + "c2,2026-10-10T10:00:00+08:00,240,ACME,+60312345678,voice,s\n"


def _setup(engine: Engine, tmp_path: Path) -> None:
    import_rate_table(engine, write(tmp_path / "tiered.yaml", TABLE))
    import_customers(
        engine, write(tmp_path / "c.csv", "account,name,rate_table,numbers\nACME,Acme,tiered,\n")
    )


def _lines(engine: Engine, tmp_path: Path) -> dict[str, str]:
    report_usage.write_statement(engine, account="ACME", period="2026-10", out=tmp_path / "s.csv")
    rows = statement_records(tmp_path / "s.csv")
    return {r["date_time"][:10] + " " + r["quantity"]: r["charge"] for r in rows}


def test_a_late_call_re_rates_the_calls_after_it(my_engine: Engine, tmp_path: Path) -> None:
    _setup(my_engine, tmp_path)
    import_feed(my_engine, write(tmp_path / "first.csv", FIRST), format_name="generic")
    # c1: 8 min at 0.10 = 0.80; c3 then starts at 8 min: 2 min at 0.10 + 1 at 0.05 = 0.25.
    # SMS: provisional at the tier reached so far: 3 messages, none past 3: 0.05 each.
    assert _lines(my_engine, tmp_path) == {
        "2026-10-05 480": "0.8000",
        "2026-10-20 180": "0.2500",
        "2026-10-05 1": "0.0500",
        "2026-10-06 1": "0.0500",
        "2026-10-07 1": "0.0500",
    }
    import_feed(my_engine, write(tmp_path / "late.csv", LATE), format_name="generic")
    # c2 (10 Oct) comes before c3: c2 = 2 min at 0.10 + 2 at 0.05 = 0.30; c3 now starts at
    # 12 min: 3 min at 0.05 = 0.15 (re-rated from 0.25)
    assert _lines(my_engine, tmp_path) == {
        "2026-10-05 480": "0.8000",
        "2026-10-10 240": "0.3000",
        "2026-10-20 180": "0.1500",
        "2026-10-05 1": "0.0500",
        "2026-10-06 1": "0.0500",
        "2026-10-07 1": "0.0500",
    }
    # the statement shows c2's split between the tiers, and no one rate for it; SMS are
    # priced per message, calls per minute; one total per unit
    c2 = next(r for r in statement_records(tmp_path / "s.csv") if r["record_id"] == "c2")
    assert (c2["rate"], c2["rate_unit"]) == ("", "60s")
    assert c2["tiers"] == "120 s at 0.1000; 120 s at 0.0500"
    sms = next(r for r in statement_records(tmp_path / "s.csv") if r["record_id"] == "s1")
    assert (sms["rate"], sms["rate_unit"], sms["tiers"]) == ("0.0500", "1msg", "")
    totals = statement_totals(tmp_path / "s.csv")
    assert [(t["unit"], t["quantity"], t["charge"], t["records"]) for t in totals] == [
        ("msg", "3", "0.1500", "3"),
        ("s", "900", "1.2500", "3"),
        ("", "", "1.4000", "6"),
    ]
    with my_engine.connect() as conn:
        entity = get_entity(conn, None)
        postings = conn.execute(
            select(ledger_postings.c.kind, ledger_postings.c.amount, ledger_postings.c.records)
            .where(ledger_postings.c.entity_id == entity.id)
            .order_by(ledger_postings.c.id)
        ).all()
        total = ledger_totals(conn, entity.id, "2026-10")
    # first file: calls 0.80 + 0.25, SMS 0.15; late file: c2 0.30, then c3's 0.25 reversed and
    # 0.15 posted in its place
    assert sorted(map(tuple, postings)) == sorted(
        [
            ("usage", 150_000, 3),
            ("usage", 1_050_000, 2),
            ("usage", 300_000, 1),
            ("reversal", -250_000, -1),
            ("usage", 150_000, 1),
        ]
    )
    assert total == {"ACME": 150_000 + 800_000 + 300_000 + 150_000}
    story = "\n".join(explain(my_engine, "c3"))
    assert "(superseded)" in story
    assert "(current)" in story
    assert "usage before this record was 720 s" in story
    assert "; 180 s x 0.0500 / 60 s = 0.15" in story


def test_one_file_or_two_in_either_order_give_the_same_ledger(
    my_engine: Engine, tmp_path: Path
) -> None:
    _setup(my_engine, tmp_path)
    import_feed(my_engine, write(tmp_path / "late.csv", LATE), format_name="generic")
    import_feed(my_engine, write(tmp_path / "first.csv", FIRST), format_name="generic")
    in_reverse = _lines(my_engine, tmp_path)
    assert in_reverse["2026-10-10 240"] == "0.3000"  # the same as arriving in order
    assert in_reverse["2026-10-20 180"] == "0.1500"
    assert in_reverse["2026-10-05 480"] == "0.8000"


def test_a_call_straddling_the_boundary_is_split_in_the_explanation(
    my_engine: Engine, tmp_path: Path
) -> None:
    _setup(my_engine, tmp_path)
    import_feed(
        my_engine, write(tmp_path / "all.csv", FIRST + LATE[len(HEADER) :]), format_name="generic"
    )
    story = "\n".join(explain(my_engine, "c2"))
    # c2 starts at 8 minutes: 2 minutes left in tier 0, 2 in tier 1
    assert "tier 0: 120 s x 0.1000 / 60 s = 0.2" in story
    assert "tier 1: 120 s x 0.0500 / 60 s = 0.1" in story
    assert "= 0.3, rounded half-up to 4 places: 0.3000 MYR" in story


def test_a_deck_beside_the_table_can_carry_tiers(my_engine: Engine, tmp_path: Path) -> None:
    write(
        tmp_path / "deck.csv",
        "prefix,destination,rate,tiers\n60,Malaysia,0.1000,graduated 10min=0.0500\n",
    )
    table = (
        "name: tiered\nversions:\n  - effective_from: 2026-10-01\n    deck: deck.csv\n"
        "rounding: {places: 4, mode: half-up}\n"
    )
    import_rate_table(my_engine, write(tmp_path / "tiered.yaml", table))
    import_customers(
        my_engine, write(tmp_path / "c.csv", "account,name,rate_table,numbers\nACME,Acme,tiered,\n")
    )
    calls = [line for line in (FIRST + LATE[len(HEADER) :]).splitlines() if ",voice," in line]
    import_feed(my_engine, write(tmp_path / "calls.csv", HEADER + "\n".join(calls) + "\n"),
                format_name="generic")  # fmt: skip
    # the same ladder as TABLE's: c1 0.80, c2 (from minute 8) 0.30, c3 (from minute 12) 0.15
    assert _lines(my_engine, tmp_path) == {
        "2026-10-05 480": "0.8000",
        "2026-10-10 240": "0.3000",
        "2026-10-20 180": "0.1500",
    }


@pytest.mark.parametrize(
    "change",
    [
        ('"volume 3msg=0.0200"', '"volume 3s=0.0200"'),  # a step in another unit than the row
        ('"volume 3msg=0.0200"', '"volume 3msg"'),  # a step without a price
        (  # steps that do not rise
            '[{after: 10min, price: "0.0500"}]',
            '[{after: 10min, price: "0.0500"}, {after: 5min, price: "0.0100"}]',
        ),
    ],
)
def test_tier_mistakes_are_refused_naming_the_version(
    my_engine: Engine, tmp_path: Path, change: tuple[str, str]
) -> None:
    assert change[0] in TABLE
    with pytest.raises(InputError) as caught:
        import_rate_table(my_engine, write(tmp_path / "t.yaml", TABLE.replace(*change)))
    assert caught.value.code == "BAD_RATE_TABLE"
    assert str(caught.value.field).startswith("versions[0]")


def test_a_file_out_of_time_order_re_rates_none_of_its_own_calls(
    my_engine: Engine, tmp_path: Path
) -> None:
    _setup(my_engine, tmp_path)
    # six 3-minute calls, newest first, read two rows at a time: every chunk holds calls
    # made before those of the chunks read ahead of it
    calls = HEADER + "".join(
        f"d{day},2026-10-{day:02d}T10:00:00+08:00,180,ACME,+60312345678,voice,s\n"
        for day in (16, 15, 14, 13, 12, 11)
    )
    summary = import_feed(
        my_engine,
        write(tmp_path / "reversed.csv", calls),
        format_name="generic",
        settings=Settings(chunk_rows=2),
    )
    # in time order: 11, 12, 13 Oct at 3 min x 0.10 = 0.30 each (9 min used); 14 Oct is
    # 1 min at 0.10 + 2 min at 0.05 = 0.20; 15 and 16 Oct 3 min x 0.05 = 0.15 each
    assert _lines(my_engine, tmp_path) == {
        "2026-10-11 180": "0.3000",
        "2026-10-12 180": "0.3000",
        "2026-10-13 180": "0.3000",
        "2026-10-14 180": "0.2000",
        "2026-10-15 180": "0.1500",
        "2026-10-16 180": "0.1500",
    }
    assert summary.charge == 1_400_000  # RM1.40 at AMOUNT_SCALE 6
    assert (summary.rerated, summary.rerated_change) == (0, 0)
    with my_engine.connect() as conn:
        memos = conn.execute(select(ledger_postings.c.memo)).scalars().all()
        totals = ledger_totals(conn, get_entity(conn, None).id, "2026-10")
    assert not [m for m in memos if m.startswith("re-rated")]  # no reversal, no re-posting
    assert totals == {"ACME": 1_400_000}


def test_a_late_call_leaves_alone_the_calls_it_moves_without_repricing(
    my_engine: Engine, tmp_path: Path
) -> None:
    _setup(my_engine, tmp_path)
    import_feed(my_engine, write(tmp_path / "first.csv", FIRST), format_name="generic")
    import_feed(my_engine, write(tmp_path / "late.csv", LATE), format_name="generic")
    with my_engine.connect() as conn:
        before = conn.execute(select(ledger_postings.c.id)).scalars().all()
    # c2b (15 Oct, 1 min) comes after c2: the cycle is at 12 min, so c2b is 1 min at 0.05 =
    # 0.05. c3 (20 Oct) moves from 12 min to 13 min, still wholly past 10 min: 3 min at 0.05
    # = 0.15 as before, so it is not re-rated
    extra = HEADER + "c2b,2026-10-15T10:00:00+08:00,60,ACME,+60312345678,voice,s\n"
    summary = import_feed(my_engine, write(tmp_path / "extra.csv", extra), format_name="generic")
    assert (summary.rerated, summary.rerated_change) == (0, 0)
    with my_engine.connect() as conn:
        added = conn.execute(
            select(
                ledger_postings.c.kind, ledger_postings.c.amount, ledger_postings.c.records
            ).where(ledger_postings.c.id.not_in(before))
        ).all()
    assert [tuple(p) for p in added] == [("usage", 50_000, 1)]
    assert _lines(my_engine, tmp_path)["2026-10-20 180"] == "0.1500"
    # the explanation gives c3's place as it is now, after c2b
    story = "\n".join(explain(my_engine, "c3"))
    assert "usage before this record was 780 s" in story
