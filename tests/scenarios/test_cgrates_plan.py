"""A CGRateS tariff plan converted (``rates convert-cgrates``), imported and priced: each
call's cost is worked out by hand by CGRateS's documented rules (rate intervals by the
call's elapsed time, each in whole increments of its own; the connect fee of the call's
first rating; a timing change splitting the call; ``*free`` max cost capping it; the
destination rate's rounding), and Ratebook's charge is the same.

The plan (tests/data/real/cgrates-retail, written from CGRateS's tariff plan documentation)
prices Malaysia (60) at peak (Mon-Fri 08:00-19:00: connect 0.05, 0.10/min for the first
minute in 60 s increments, then 0.05/min per second) and off-peak (0.04/min in 30 s
increments), Malaysian mobiles (6012, 6019) at any time (connect 0.10, 0.20/min in 30 s
increments for the first minute, then 0.10/min in 10 s increments, rounded *middle), and
Singapore (65) at 0.01 a second with a *free max cost of 0.62."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, select

from ratebook.errors import InputError
from ratebook.store.tables import rated_charges, usage_records
from ratebook.workflows.convert_cgrates import convert_cgrates
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rate_table import import_rate_table
from tests.conftest import write

PLAN = Path(__file__).parents[1] / "data" / "real" / "cgrates-retail"

#: (id, local start in Kuala Lumpur, seconds, destination, cost by hand)
CALLS = [
    # 0.05 + 60 s x 0.10/60 + 25 s x 0.05/60 = 0.1708333..., *up to 4 places
    ("peak", "2026-10-05T10:00:00", 85, "+60312345678", "0.1709"),
    # 0.10 + 60 s (two 30 s increments) x 0.20/60 + 30 s (three 10 s) x 0.10/60 = 0.35
    ("mobile", "2026-10-05T10:00:00", 85, "+60123456789", "0.3500"),
    # timing changes at 19:00, 60 s in: peak 0.05 + 0.10; then off-peak from 60 s elapsed,
    # 90 s in 30 s increments x 0.04/60 = 0.06: 0.21
    ("evening", "2026-10-05T18:59:00", 150, "+60312345678", "0.2100"),
    # Saturday off-peak: 45 s in 30 s increments = 60 s x 0.04/60
    ("weekend", "2026-10-10T12:00:00", 45, "+60312345678", "0.0400"),
    # 100 s x 0.01 = 1.00, capped at the max cost 0.62
    ("capped", "2026-10-05T10:00:00", 100, "+6591234567", "0.6200"),
    # 30 s x 0.01
    ("short", "2026-10-05T10:00:00", 30, "+6591234567", "0.3000"),
]


def _load(engine: Engine, tmp_path: Path, plan: str) -> Path:
    table = tmp_path / f"{plan}.yaml"
    convert_cgrates(PLAN, plan, name="retail", effective_from="2026-10-01", out=table)
    import_rate_table(engine, table)
    import_customers(
        engine, write(tmp_path / "c.csv", "account,name,rate_table,numbers\nA,A,retail,\n")
    )
    return table


def _charges(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(usage_records.c.record_id, rated_charges.c.charge).join(
                rated_charges, rated_charges.c.record_pk == usage_records.c.id
            )
        ).all()
    return {record_id: f"{charge / 10**6:.4f}" for record_id, charge in rows}


def test_a_cgrates_rating_plan_prices_as_cgrates_prices_it(
    my_engine: Engine, tmp_path: Path
) -> None:
    table = _load(my_engine, tmp_path, "RP_RETAIL")
    lines = ["record_id,start_time,quantity,account,destination"]
    lines += [f"{i},{at}+08:00,{q},A,{to}" for i, at, q, to, _ in CALLS]
    result = import_feed(my_engine, write(tmp_path / "calls.csv", "\n".join(lines) + "\n"))
    assert (result.tally.rated, result.tally.exceptions) == (len(CALLS), 0)
    assert _charges(my_engine) == {i: cost for i, _, _, _, cost in CALLS}
    # the written table is one a person can review: the timings as bands, split calls
    version = yaml.safe_load(table.read_text())["versions"][0]
    assert version["split_bands"] is True
    assert version["bands"]["peak"] == {
        "days": ["mon", "tue", "wed", "thu", "fri"],
        "from": "08:00",
        "to": "19:00",
    }


def test_the_tutorial_s_ten_cent_rate_and_cgrates_own_answer(
    my_engine: Engine, tmp_path: Path
) -> None:
    """The tutorial's RT_10CNT (connect 0.20, 0.10/min for the first 60 s in 60 s increments,
    then 0.05/min per second): 85 s cost 0.2 + 0.1 + 25 x 0.05/60 = 0.3208333..., *up to 4
    places 0.3209. CGRateS's GetCost for it answers ConnectFee 0.2 and Cost 0.12075 (each
    1 s increment costed 0.00083): 0.32075. The two agree at the minor unit, 0.32."""
    _load(my_engine, tmp_path, "RP_1001")
    calls = "record_id,start_time,quantity,account,destination\n"
    calls += "t1,2026-10-05T10:00:00+08:00,85,A,+10025550100\n"
    import_feed(my_engine, write(tmp_path / "t.csv", calls))
    assert _charges(my_engine) == {"t1": "0.3209"}


def test_what_cannot_be_converted_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError) as raised:
        convert_cgrates(
            PLAN, "RP_NONE", name="x", effective_from="2026-10-01", out=tmp_path / "x.yaml"
        )
    assert raised.value.code == "BAD_RATE_TABLE"
    assert "RP_NONE" in raised.value.message
    missing = tmp_path / "plan"
    missing.mkdir()
    with pytest.raises(InputError) as raised:
        convert_cgrates(
            missing, "RP", name="x", effective_from="2026-10-01", out=tmp_path / "y.yaml"
        )
    assert raised.value.code == "FILE_NOT_FOUND"
