"""A small store that has been through every kind of billing change, for fault campaigns.

Three customers over October and November 2026, calls at RM0.0600 a minute per second and
SMS on a graduated row (RM0.10 each, RM0.05 after the third of the cycle), a monthly fee,
8% tax, a floor of RM1.00: imports with duplicates, unmatched and invalid rows; a customer
added and its records re-processed; an invalid row corrected; a back-dated SMS that re-rates;
a close that invoices and carries; an upheld dispute with a credit; late usage of a closed
cycle; a second close.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import Engine

from ratebook.billing.recurring import Billing, Interval
from ratebook.billing.tax import Treatment
from ratebook.model.review import Filter
from ratebook.workflows import (
    correct_exception,
    disputes,
    reprocess_exceptions,
    resolve_dispute,
    review_exceptions,
)
from ratebook.workflows.billing_setup import set_tax
from ratebook.workflows.close_cycle import close_cycle
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rate_table import import_rate_table
from ratebook.workflows.init_entity import init_entity
from ratebook.workflows.manage_subscriptions import SubscriptionSpec, add_subscription

TABLE = """
name: retail
currency: MYR
timezone: Asia/Kuala_Lumpur
rounding: {places: 4, mode: half-up}
versions:
  - effective_from: 2026-01-01
    rows:
      - {prefix: "60", destination: Malaysia, price: "0.0600", increment: 1s/1s}
      - service: sms
        destination: SMS
        price: "0.1000"
        tiers: {kind: graduated, steps: [{after: 3msg, price: "0.0500"}]}
"""

HEADER = "record_id,start_time,quantity,account,destination,service,unit\n"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _calls(folder: Path, name: str, rows: list[str]) -> Path:
    return _write(folder / name, HEADER + "".join(f"{row}\n" for row in rows))


def entity(engine: Engine) -> None:
    """The entity the stories bill in: MYR, Asia/Kuala_Lumpur, floor RM1.00."""
    init_entity(
        engine,
        code="ACME",
        name="Acme Telco Sdn Bhd",
        currency="MYR",
        timezone="Asia/Kuala_Lumpur",
        region="MY",
        floor="1.00",
    )


def reference(engine: Engine, folder: Path, accounts: tuple[str, ...]) -> None:
    """The rate table and customers ``accounts`` on it."""
    import_rate_table(engine, _write(folder / "retail.yaml", TABLE))
    rows = "".join(f"{a},{a} Sdn Bhd,retail,\n" for a in accounts)
    import_customers(engine, _write(folder / "c.csv", "account,name,rate_table,numbers\n" + rows))


def build(engine: Engine, folder: Path) -> None:
    """Take an empty store through the story."""
    entity(engine)
    reference(engine, folder, ("A", "B"))
    set_tax(engine, "*", rate="8", treatment=Treatment.STANDARD, label="SST")
    add_subscription(
        engine,
        SubscriptionSpec(
            reference="S1",
            account="A",
            plan="Trunk",
            fee=20_000_000,
            interval=Interval.MONTHLY,
            billing=Billing.ADVANCE,
            starts_on=date(2026, 10, 1),
            ends_on=None,
        ),
    )
    oct1 = [
        "a1,2026-10-03T10:00:00+08:00,600,A,+60312345678,voice,s",
        "a2,2026-10-04T10:00:00+08:00,1,A,,sms,msg",
        "a3,2026-10-06T10:00:00+08:00,1,A,,sms,msg",
        "a4,2026-10-08T10:00:00+08:00,1,A,,sms,msg",
        "a5,2026-10-09T10:00:00+08:00,1,A,,sms,msg",
        "b1,2026-10-05T10:00:00+08:00,300,B,+60312345678,voice,s",
        "c1,2026-10-05T11:00:00+08:00,120,C,+60312345678,voice,s",
        "x1,2026-10-05T12:00:00+08:00,-4,B,+60312345678,voice,s",
        "a1,2026-10-03T10:00:00+08:00,600,A,+60312345678,voice,s",
    ]
    import_feed(engine, _calls(folder, "oct1.csv", oct1), format_name="generic")
    # C becomes a customer; its record is re-processed; the negative quantity is corrected
    import_customers(
        engine,
        _write(folder / "c2.csv", "account,name,rate_table,numbers\nC,C Sdn Bhd,retail,\n"),
    )
    reprocess_exceptions.reprocess(engine, Filter(code="UNMATCHED_CUSTOMER"))
    (invalid,) = review_exceptions.list_exceptions(engine, Filter(code="INVALID_RECORD"))
    correct_exception.correct(
        engine, int(invalid["id"]), changes={"quantity": "4"}, reason="sign error"
    )
    # a back-dated SMS of A: the SMS after it move up a tier place and are re-rated
    oct2 = ["a0,2026-10-02T10:00:00+08:00,1,A,,sms,msg"]
    import_feed(engine, _calls(folder, "oct2.csv", oct2), format_name="generic")
    close_cycle(engine, "2026-10")
    disputes.open_dispute(engine, disputes.Subject(record_id="b1"), "never dialled")
    resolve_dispute.resolve(engine, 1, outcome="upheld", credit="0.10")
    nov = [
        "a6,2026-11-03T10:00:00+08:00,900,A,+60312345678,voice,s",
        "b2,2026-11-04T10:00:00+08:00,1200,B,+60312345678,voice,s",
        "b0,2026-10-30T10:00:00+08:00,60,B,+60312345678,voice,s",
    ]
    import_feed(engine, _calls(folder, "nov.csv", nov), format_name="generic")
    close_cycle(engine, "2026-11")
