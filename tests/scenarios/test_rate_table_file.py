"""Story: an operator writes a rate table by hand in YAML (bands, a holiday, SMS and data,
policy limits, two versions) and bills October with it. Expected charges worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from ratebook.errors import InputError
from ratebook.workflows import report_usage
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rate_table import import_rate_table
from tests.conftest import write
from tests.support.statements import statement_records

TABLE = """
name: retail
currency: MYR
timezone: Asia/Kuala_Lumpur
rounding: {places: 4, mode: half-up}
versions:
  - effective_from: 2026-10-01
    bands:
      peak: {days: [mon, tue, wed, thu, fri], from: "08:00", to: "18:00"}
      weekend: {days: [sat, sun]}
    default_band: offpeak
    holidays: {band: weekend, dates: [2026-10-13]}
    policy: {max_quantity: {voice: 2h}, max_charge: "20.00"}
    rows:
      - {prefix: "60", destination: Malaysia, band: peak, price: "0.0600"}
      - {prefix: "60", destination: Malaysia, band: offpeak, price: "0.0300"}
      - {prefix: "60", destination: Malaysia, band: weekend, price: "0.0200"}
      - {prefix: "65", destination: Singapore, price: "0.2000", increment: 30/6}
      - {service: sms, destination: SMS, price: "0.0500"}
      - {service: data, destination: Data, price: "5.00", per: 1GB, increment: 1MB/1MB}
  - effective_from: 2026-10-15
    rows:
      - {prefix: "60", destination: Malaysia, price: "0.0400"}
"""

FEED = """record_id,start_time,quantity,account,destination,service,unit
v1,2026-10-05T08:00:00+08:00,61,ACME,+60312345678,voice,s
v2,2026-10-05T07:59:59+08:00,60,ACME,+60312345678,voice,s
v3,2026-10-10T12:00:00+08:00,60,ACME,+60312345678,voice,s
v4,2026-10-05T10:00:00+08:00,31,ACME,+6591234567,voice,s
s1,2026-10-05T10:00:00+08:00,1,ACME,+60123456789,sms,msg
d1,2026-10-05T10:00:00+08:00,1500000,ACME,,data,B
v7,2026-10-13T10:00:00+08:00,60,ACME,+60312345678,voice,s
v8,2026-10-05T10:00:00+08:00,10800,ACME,+60312345678,voice,s
v9,2026-10-19T10:00:00+08:00,60,ACME,+60312345678,voice,s
v10,2026-10-06T10:00:00+08:00,7000,ACME,+6591234567,voice,s
"""


def test_october_with_bands_units_holiday_policy_and_versions(
    my_engine: Engine, tmp_path: Path
) -> None:
    table = import_rate_table(my_engine, write(tmp_path / "retail.yaml", TABLE))
    assert len(table.added) == 2
    import_customers(
        my_engine, write(tmp_path / "c.csv", "account,name,rate_table,numbers\nACME,Acme,retail,\n")
    )
    summary = import_feed(my_engine, write(tmp_path / "f.csv", FEED), format_name="generic")
    assert (summary.rows_read, summary.rated, summary.exceptions) == (10, 8, 2)
    statement = report_usage.write_statement(
        my_engine, account="ACME", period="2026-10", out=tmp_path / "acme.csv"
    )
    lines = {
        row["date_time"] + " " + row["quantity"]: row["charge"]
        for row in statement_records(tmp_path / "acme.csv")
    }
    assert lines == {
        "2026-10-05 08:00:00 61": "0.1200",  # v1 peak, 120 s x 0.06/min
        "2026-10-05 07:59:59 60": "0.0300",  # v2 off-peak, one second before peak
        "2026-10-10 12:00:00 60": "0.0200",  # v3 Saturday: weekend band
        "2026-10-05 10:00:00 31": "0.1200",  # v4 Singapore, 30/6: 36 s x 0.20/min
        "2026-10-05 10:00:00 1": "0.0500",  # s1 one SMS
        "2026-10-05 10:00:00 1500000": "0.0100",  # d1 1.5 MB -> 2 MB x 5.00/GB
        "2026-10-13 10:00:00 60": "0.0200",  # v7 a Tuesday, but a holiday: weekend
        "2026-10-19 10:00:00 60": "0.0400",  # v9 second version, no bands
    }
    assert statement.total == "0.4100"
    reasons = report_usage.exception_log(my_engine, code="OUT_OF_POLICY")
    assert list(zip(reasons["record_id"], reasons["field"], reasons["reason"], strict=True)) == [
        ("v8", "quantity", "quantity 10800 s is over the rate table's max_quantity of 7200 s"),
        # 7000 s at 30/6 bills 7002 s: 116.7 min x 0.20 = 23.34
        ("v10", "charge", "charge 23.34 is over the rate table's max_charge of 20"),
    ]


def test_reimporting_keeps_versions_and_adds_only_new_ones(
    my_engine: Engine, tmp_path: Path
) -> None:
    path = write(tmp_path / "retail.yaml", TABLE)
    import_rate_table(my_engine, path)
    again = import_rate_table(my_engine, path)
    assert (again.added, len(again.unchanged)) == ([], 2)
    extended = (
        TABLE
        + """  - effective_from: 2026-11-01
    rows:
      - {prefix: "60", destination: Malaysia, price: "0.0450"}
"""
    )
    third = import_rate_table(my_engine, write(tmp_path / "retail.yaml", extended))
    assert (len(third.added), len(third.unchanged)) == (1, 2)
    edited = extended.replace('price: "0.0400"', 'price: "0.0410"')
    with pytest.raises(InputError) as caught:
        import_rate_table(my_engine, write(tmp_path / "retail.yaml", edited))
    assert caught.value.code == "VERSION_EXISTS"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (('price: "0.0600"', 'price: "six"'), "versions[0].rows[0].price"),
        (("band: peak, price", "band: night, price"), "versions[0]"),
        (("per: 1GB", "per: 1 parsec"), "versions[0]"),
        (('from: "08:00"', 'from: "8 am"'), "versions[0]"),
        (("currency: MYR", "currency: SGD"), "currency"),
    ],
)
def test_mistakes_in_the_file_are_located(
    my_engine: Engine, tmp_path: Path, change: tuple[str, str], field: str
) -> None:
    with pytest.raises(InputError) as caught:
        import_rate_table(my_engine, write(tmp_path / "t.yaml", TABLE.replace(*change)))
    assert caught.value.field == field
