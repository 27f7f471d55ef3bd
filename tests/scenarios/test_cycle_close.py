"""Story: a small SIP reseller closes its months. Calls to +60 cost RM0.1000 a minute, billed
per second (no rounding beyond 4 places), so N seconds cost N/600 ringgit exactly. The floor
is RM1.00. Every expected amount is worked out by hand in the comments.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from ratebook.billing.recurring import Billing, Interval
from ratebook.billing.tax import Treatment
from ratebook.errors import ConflictError
from ratebook.store.tables import invoices, ledger_postings
from ratebook.workflows.billing_setup import close_account, set_customer_floor, set_policy, set_tax
from ratebook.workflows.close_cycle import close_cycle
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rate_table import import_rate_table
from ratebook.workflows.invoices import get_invoice, list_invoices
from ratebook.workflows.manage_subscriptions import SubscriptionSpec, add_subscription
from tests.conftest import write

TABLE = """
name: flat
currency: MYR
timezone: Asia/Kuala_Lumpur
rounding: {places: 4, mode: half-up}
versions:
  - effective_from: 2026-01-01
    rows:
      - {prefix: "60", destination: Malaysia, price: "0.1000", increment: 1s/1s}
      - {service: sms, destination: SMS, price: "0.0500"}
"""

HEADER = "record_id,start_time,quantity,account,destination,service,unit\n"


def _setup(engine: Engine, tmp_path: Path, accounts: tuple[str, ...] = ("ACME",)) -> None:
    import_rate_table(engine, write(tmp_path / "flat.yaml", TABLE))
    rows = "".join(f"{a},{a} Sdn Bhd,flat,\n" for a in accounts)
    import_customers(engine, write(tmp_path / "c.csv", "account,name,rate_table,numbers\n" + rows))


def _calls(engine: Engine, tmp_path: Path, name: str, *calls: tuple[str, str, int]) -> None:
    """Import calls ``(record_id, local start, seconds)`` of ACME to a Malaysian number."""
    body = "".join(f"{r},{t}+08:00,{s},ACME,+60312345678,voice,s\n" for r, t, s in calls)
    import_feed(engine, write(tmp_path / name, HEADER + body), format_name="generic")


def _postings(engine: Engine, period: str) -> int:
    with engine.connect() as conn:
        total = conn.execute(
            select(func.coalesce(func.sum(ledger_postings.c.amount), 0)).where(
                ledger_postings.c.period == period
            )
        ).scalar_one()
    return int(total)


def test_small_balances_are_carried_until_they_cross_the_floor(
    my_engine: Engine, tmp_path: Path
) -> None:
    _setup(my_engine, tmp_path)
    # July 240 s = RM0.40, August 210 s = RM0.35, September 180 s = RM0.30
    _calls(my_engine, tmp_path, "jul.csv", ("j1", "2026-07-10T10:00:00", 240))
    _calls(my_engine, tmp_path, "aug.csv", ("a1", "2026-08-10T10:00:00", 210))
    _calls(my_engine, tmp_path, "sep.csv", ("s1", "2026-09-10T10:00:00", 180))

    july = close_cycle(my_engine, "2026-07")
    assert (july.invoiced, july.carried, july.carried_total) == (0, 1, 400_000)
    august = close_cycle(my_engine, "2026-08")  # 0.40 brought forward + 0.35 = 0.75 < 1.00
    assert (august.invoiced, august.carried, august.carried_total) == (0, 1, 750_000)
    september = close_cycle(my_engine, "2026-09")  # 0.75 + 0.30 = 1.05 >= 1.00
    assert (september.invoiced, september.invoice_numbers) == (1, [1])
    assert september.invoiced_total == 1_050_000

    _, doc = get_invoice(my_engine, 1)
    assert doc["invoice"]["period"] == "2026-09"
    assert doc["totals"] == {
        "net": "1.05",
        "tax": "0.00",
        "exact": "1.05",
        "rounding_carried": "0.00",
        "total": "1.05",
    }
    lines = [(x["kind"], x["amount"], x.get("source_period")) for x in doc["lines"]]
    assert lines == [("usage", "0.30", None), ("brought_forward", "0.75", "2026-08")]
    assert doc["lines"][0]["quantity"] == "180"
    assert doc["lines"][0]["unit"] == "s"
    # the ledger: July and August net to zero (carried out), September holds the invoice
    assert [_postings(my_engine, p) for p in ("2026-07", "2026-08", "2026-09")] == [
        0,
        0,
        1_050_000,
    ]
    assert _postings(my_engine, "2026-10") == 0


def test_closing_again_changes_nothing_and_cycles_close_in_order(
    my_engine: Engine, tmp_path: Path
) -> None:
    _setup(my_engine, tmp_path)
    _calls(my_engine, tmp_path, "a.csv", ("j1", "2026-07-10T10:00:00", 900))  # RM1.50
    _calls(my_engine, tmp_path, "b.csv", ("a1", "2026-08-10T10:00:00", 60))
    with pytest.raises(ConflictError) as out_of_order:
        close_cycle(my_engine, "2026-08")
    assert out_of_order.value.code == "CYCLE_OUT_OF_ORDER"
    first = close_cycle(my_engine, "2026-07")
    _, before = list_invoices(my_engine)
    again = close_cycle(my_engine, "2026-07")
    _, after = list_invoices(my_engine)
    assert (first.invoiced, again.already_closed, again.invoiced) == (1, True, 0)
    assert [i.document for i in before] == [i.document for i in after]
    with pytest.raises(ConflictError) as early:
        close_cycle(my_engine, "2026-08", now=datetime(2026, 8, 31, 15, 59, tzinfo=UTC))
    assert early.value.code == "CYCLE_NOT_ENDED"  # August ends 16:00 UTC on the 31st


def test_a_late_call_is_billed_on_the_next_invoice_and_the_issued_one_stays(
    my_engine: Engine, tmp_path: Path
) -> None:
    _setup(my_engine, tmp_path)
    _calls(my_engine, tmp_path, "a.csv", ("j1", "2026-07-10T10:00:00", 900))  # RM1.50
    close_cycle(my_engine, "2026-07")
    issued, _ = get_invoice(my_engine, 1)
    # a July call arrives after July closed, and an August call
    _calls(
        my_engine,
        tmp_path,
        "late.csv",
        ("j2", "2026-07-20T10:00:00", 120),  # RM0.20, late
        ("a1", "2026-08-03T10:00:00", 600),  # RM1.00
    )
    assert _postings(my_engine, "2026-07") == 1_500_000  # July stays as invoiced
    close_cycle(my_engine, "2026-08")
    still, _ = get_invoice(my_engine, 1)
    assert still.document == issued.document
    _, doc = get_invoice(my_engine, 2)
    lines = [(x["kind"], x["amount"], x.get("source_period")) for x in doc["lines"]]
    assert lines == [("usage", "1.00", None), ("late_usage", "0.20", "2026-07")]
    assert doc["lines"][1]["description"].startswith("Late usage of 2026-07")
    assert doc["totals"]["total"] == "1.20"


def test_tax_rounding_and_the_remainder_carried(my_engine: Engine, tmp_path: Path) -> None:
    _setup(my_engine, tmp_path)
    set_tax(my_engine, "voice", rate="8", treatment=Treatment.STANDARD, label="SST")
    set_tax(my_engine, "recurring", rate="8", treatment=Treatment.STANDARD, label="SST")
    set_tax(my_engine, "sms", rate=None, treatment=Treatment.ZERO, label="SST")
    add_subscription(
        my_engine,
        SubscriptionSpec(
            reference="S-1",
            account="ACME",
            plan="SIP trunk",
            fee=15_000_000,
            interval=Interval.MONTHLY,
            billing=Billing.ARREARS,
            starts_on=date(2026, 7, 1),
            ends_on=None,
        ),
    )
    # 7407 s at RM0.10/min = 12.345 exactly; plus 2 SMS at 0.05 = 0.10 (zero-rated)
    body = (
        "c1,2026-07-10T10:00:00+08:00,7407,ACME,+60312345678,voice,s\n"
        "m1,2026-07-10T11:00:00+08:00,1,ACME,+60123456789,sms,msg\n"
        "m2,2026-07-10T12:00:00+08:00,1,ACME,+60123456789,sms,msg\n"
    )
    import_feed(my_engine, write(tmp_path / "jul.csv", HEADER + body), format_name="generic")
    close_cycle(my_engine, "2026-07")
    _, doc = get_invoice(my_engine, 1)
    # lines exact: fee 15.00, SMS 0.10, calls 12.345; net 27.445 -> 27.45 (half-up). Each
    # line taken down to the sen (15.00, 0.10, 12.34 = 27.44), the missing sen goes to the
    # line that lost most, the calls: billed 15.00, 0.10, 12.35
    # SST 8% on 15.00 + 12.35 = 27.35 -> 2.188 -> 2.19 (half-up, once per rate)
    # zero-rated SMS 0.10: a tax line of 0.00
    # total 27.45 + 2.19 = 29.64; exact 27.445 + 2.19 = 29.635; -0.005 carried
    assert [(x["kind"], x["amount"]) for x in doc["lines"]] == [
        ("recurring", "15.00"),
        ("usage", "0.10"),
        ("usage", "12.35"),
    ]
    assert doc["tax"] == [
        {"label": "SST", "treatment": "standard", "rate": "8", "base": "27.35", "amount": "2.19"},
        {"label": "SST", "treatment": "zero", "rate": "0", "base": "0.10", "amount": "0.00"},
    ]
    assert doc["totals"] == {
        "net": "27.45",
        "tax": "2.19",
        "exact": "29.635",
        "rounding_carried": "-0.005",
        "total": "29.64",
    }
    assert doc["lines"][0]["description"] == "SIP trunk, 01 Jul 2026 to 31 Jul 2026"
    # August: the fee again, and the -0.005 brought forward (outside the scope of tax): net
    # 14.995 -> 15.00; taken down, 15.00 and -0.01; the sen goes to the brought-forward line,
    # which lost 0.005: billed 15.00 and 0.00. SST on 15.00 = 1.20; total 16.20; -0.005 on
    close_cycle(my_engine, "2026-08")
    _, august = get_invoice(my_engine, 2)
    assert [(x["kind"], x["amount"]) for x in august["lines"]] == [
        ("recurring", "15.00"),
        ("brought_forward", "0.00"),
    ]
    assert august["totals"]["total"] == "16.20"
    assert august["totals"]["rounding_carried"] == "-0.005"


def test_a_subscription_starting_mid_month_is_prorated(my_engine: Engine, tmp_path: Path) -> None:
    _setup(my_engine, tmp_path)
    # RM31.00 a month from 16 September, in advance: the August close bills 16-30 September,
    # 15 of 30 days = 15.50; the September close bills October whole, 31.00.
    add_subscription(
        my_engine,
        SubscriptionSpec(
            reference="S-2",
            account="ACME",
            plan="Hosted PBX",
            fee=31_000_000,
            interval=Interval.MONTHLY,
            billing=Billing.ADVANCE,
            starts_on=date(2026, 9, 16),
            ends_on=None,
        ),
    )
    _calls(my_engine, tmp_path, "aug.csv", ("a1", "2026-08-10T10:00:00", 60))  # 0.10
    close_cycle(my_engine, "2026-08")
    close_cycle(my_engine, "2026-09")
    _, first = get_invoice(my_engine, 1)
    _, second = get_invoice(my_engine, 2)
    assert [(x["kind"], x["amount"]) for x in first["lines"]] == [
        ("recurring", "15.50"),
        ("usage", "0.10"),
    ]
    assert first["lines"][0]["description"] == (
        "Hosted PBX, 16 Sep 2026 to 30 Sep 2026 (15 of 30 days)"
    )
    assert [(x["kind"], x["amount"]) for x in second["lines"]] == [("recurring", "31.00")]


@pytest.mark.parametrize("rule", ["closure", "max_cycles", "fiscal_year_end"])
def test_an_invoice_is_forced_under_the_floor(rule: str, my_engine: Engine, tmp_path: Path) -> None:
    _setup(my_engine, tmp_path)
    _calls(my_engine, tmp_path, "jul.csv", ("j1", "2026-07-10T10:00:00", 60))  # 0.10
    _calls(my_engine, tmp_path, "aug.csv", ("a1", "2026-08-10T10:00:00", 120))  # 0.20
    if rule == "closure":
        close_account(my_engine, "ACME", date(2026, 8, 15))
    elif rule == "max_cycles":
        set_policy(my_engine, max_carry_cycles=1)  # July carried once; August may not carry
    else:
        set_policy(my_engine, fiscal_year_end_month=8)
    july = close_cycle(my_engine, "2026-07")
    august = close_cycle(my_engine, "2026-08")
    assert (july.invoiced, july.carried) == (0, 1)
    assert august.invoice_numbers == [1]
    row, doc = get_invoice(my_engine, 1)
    assert (row.reason, doc["totals"]["total"]) == (rule, "0.30")


def test_numbers_are_gapless_per_entity(engine: Engine, tmp_path: Path) -> None:
    from ratebook.workflows.init_entity import init_entity

    for code in ("AAA", "BBB"):
        init_entity(
            engine,
            code=code,
            name=f"{code} Bhd",
            currency="MYR",
            timezone="Asia/Kuala_Lumpur",
            region="MY",
            floor="0.01",
        )
    for code in ("AAA", "BBB"):
        import_rate_table(engine, write(tmp_path / f"{code}.yaml", TABLE), entity_code=code)
        rows = "".join(f"{a},{a},flat,\n" for a in ("X1", "X2", "X3"))
        import_customers(
            engine,
            write(tmp_path / f"{code}.csv", "account,name,rate_table,numbers\n" + rows),
            entity_code=code,
        )
        body = "".join(
            f"{code}{a},2026-07-10T10:00:00+08:00,60,{a},+60312345678,voice,s\n"
            for a in ("X1", "X2", "X3")
        )
        import_feed(
            engine,
            write(tmp_path / f"{code}-calls.csv", HEADER + body),
            format_name="generic",
            entity_code=code,
        )
        close_cycle(engine, "2026-07", entity_code=code)
    with engine.connect() as conn:
        numbers = conn.execute(
            select(invoices.c.entity_id, invoices.c.number).order_by(
                invoices.c.entity_id, invoices.c.number
            )
        ).all()
    assert [n for _, n in numbers] == [1, 2, 3, 1, 2, 3]
    _, doc = get_invoice(engine, 2, entity_code="BBB")
    assert doc["invoice"]["id"] == "BBB-000002"


def test_a_customer_floor_overrides_the_entity_floor(my_engine: Engine, tmp_path: Path) -> None:
    _setup(my_engine, tmp_path)
    set_customer_floor(my_engine, "ACME", "0.10")
    _calls(my_engine, tmp_path, "jul.csv", ("j1", "2026-07-10T10:00:00", 60))  # 0.10
    july = close_cycle(my_engine, "2026-07")  # 0.10 >= ACME's own 0.10 floor (entity: 1.00)
    assert (july.invoiced, july.carried) == (1, 0)
    row, _ = get_invoice(my_engine, 1)
    assert (row.reason, row.total) == ("floor", 100_000)


VOLUME = """
name: flat
currency: MYR
timezone: Asia/Kuala_Lumpur
rounding: {places: 4, mode: half-up}
versions:
  - effective_from: 2026-01-01
    rows:
      - {service: sms, destination: SMS, price: "0.0500", tiers: "volume 3msg=0.0200"}
"""


def test_volume_tiers_are_settled_on_the_invoice(my_engine: Engine, tmp_path: Path) -> None:
    import_rate_table(my_engine, write(tmp_path / "volume.yaml", VOLUME))
    import_customers(
        my_engine, write(tmp_path / "c.csv", "account,name,rate_table,numbers\nACME,Acme,flat,\n")
    )
    set_customer_floor(my_engine, "ACME", "0.01")
    body = "".join(
        f"m{d},2026-07-{d:02d}T10:00:00+08:00,1,ACME,+60123456789,sms,msg\n" for d in range(1, 6)
    )
    import_feed(my_engine, write(tmp_path / "sms.csv", HEADER + body), format_name="generic")
    close_cycle(my_engine, "2026-07")
    _, doc = get_invoice(my_engine, 1)
    # provisional: messages 1-3 at 0.05 (3 is not past 3), 4-5 at 0.02 = 0.19; the cycle
    # reached 5, past 3, so all five cost 0.02 = 0.10: a settlement of -0.09
    assert [(x["kind"], x["amount"]) for x in doc["lines"]] == [
        ("usage", "0.04"),
        ("usage", "0.15"),
        ("volume_settlement", "-0.09"),
    ]
    assert doc["totals"]["total"] == "0.10"


def test_an_invoice_line_never_names_a_number_called(my_engine: Engine, tmp_path: Path) -> None:
    _setup(my_engine, tmp_path)
    # 900 s to +60 = RM1.50; two unanswered calls to numbers no rate row covers (a satellite
    # phone, a UK number): billed at zero, they need no rate, and group into one line
    body = (
        "c1,2026-07-10T10:00:00+08:00,900,ACME,+60312345678,voice,s\n"
        "u1,2026-07-11T10:00:00+08:00,0,ACME,+88179160184,voice,s\n"
        "u2,2026-07-12T10:00:00+08:00,0,ACME,+442071234567,voice,s\n"
    )
    import_feed(my_engine, write(tmp_path / "jul.csv", HEADER + body), format_name="generic")
    close_cycle(my_engine, "2026-07")
    _, doc = get_invoice(my_engine, 1)
    assert [(x["description"], x["records"], x["amount"]) for x in doc["lines"]] == [
        ("Voice: Malaysia (standard)", 1, "1.50"),
        ("Voice: not charged", 2, "0.00"),
    ]
    text = repr(doc)
    assert "88179160184" not in text
    assert "2071234567" not in text


def test_a_close_tells_its_progress_customer_by_customer(my_engine: Engine, tmp_path: Path) -> None:
    _setup(my_engine, tmp_path, accounts=("ACME", "BETA", "GAMMA"))
    body = "".join(
        f"{a}1,2026-07-10T10:00:00+08:00,600,{a},+60312345678,voice,s\n"
        for a in ("ACME", "BETA", "GAMMA")
    )
    import_feed(my_engine, write(tmp_path / "jul.csv", HEADER + body), format_name="generic")
    told: list[tuple[int, int]] = []
    close_cycle(my_engine, "2026-07", progress=lambda done, total: told.append((done, total)))
    # three customers and the writing: it starts at 0 and ends at the total, never going back
    assert told[0] == (0, 4)
    assert told[-1] == (4, 4)
    assert [done for done, _ in told] == sorted(done for done, _ in told)
