"""A call that crosses from peak into off-peak (or back), priced part by part
(``split_bands: true``), hand-worked from the rule in docs/money.md: increments over the
whole call by the start's row, each part at its band's row, the increments' excess in the
last part, the start row's connect fee, one rounding."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select

from ratebook.store.tables import rated_charges, usage_records
from ratebook.workflows import explain_record
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rate_table import import_rate_table
from tests.conftest import write

TABLE = """
name: carrier
currency: MYR
timezone: Asia/Kuala_Lumpur
rounding: {places: 4, mode: half-up}
versions:
  - effective_from: 2026-10-01
    split_bands: SPLIT
    bands:
      peak: {days: [mon, tue, wed, thu, fri], from: "08:00", to: "18:00"}
    default_band: offpeak
    rows:
      - {prefix: "60", destination: Malaysia, band: peak, price: "0.1200", connect_fee: "0.0500"}
      - {prefix: "60", destination: Malaysia, band: offpeak, price: "0.0600"}
"""

#: (id, local start, seconds): Monday 5 and Tuesday 6 October 2026
CALLS = [
    ("a", "2026-10-05T17:58:30", 150),  # 90 s peak, then 60 s off-peak
    ("c", "2026-10-06T07:59:00", 61),  # 60 s off-peak, then 1 s peak
    ("d", "2026-10-05T10:00:00", 61),  # all peak
    ("e", "2026-10-05T17:59:59", 0),  # not charged
]

#: By hand, at RM/min; increments 60/60:
#: a: billed 180 s; peak 90 s, off-peak 60 s + the 30 s excess = 90 s:
#:    0.05 + 90 x 0.12/60 + 90 x 0.06/60 = 0.05 + 0.18 + 0.09 = 0.3200 (whole call at peak: 0.4100)
#: c: billed 120 s; off-peak 60 s, peak 1 s + 59 s = 60 s; the start's row has no connect fee:
#:    60 x 0.06/60 + 60 x 0.12/60 = 0.06 + 0.12 = 0.1800 (whole call off-peak: 0.1200)
#: d: 120 s at peak: 0.05 + 0.24 = 0.2900
SPLIT = {"a": 320_000, "c": 180_000, "d": 290_000, "e": 0}
WHOLE = {"a": 410_000, "c": 120_000, "d": 290_000, "e": 0}


def _setup(engine: Engine, tmp_path: Path, split: bool) -> None:
    table = TABLE.replace("SPLIT", "true" if split else "false")
    import_rate_table(engine, write(tmp_path / "carrier.yaml", table))
    import_customers(
        engine, write(tmp_path / "c.csv", "account,name,rate_table,numbers\nA,A,carrier,\n")
    )


def _file(tmp_path: Path, padding: int) -> Path:
    """The calls, then ``padding`` more all-peak calls of 60 s (0.05 + 0.12 each): a file
    past the scalar path's size is priced by the vectorized path."""
    lines = ["record_id,start_time,quantity,account,destination"]
    lines += [f"{i},{at}+08:00,{q},A,+60312345678" for i, at, q in CALLS]
    lines += [f"p{n},2026-10-07T09:00:00+08:00,60,A,+60312345678" for n in range(padding)]
    return write(tmp_path / f"calls-{padding}.csv", "\n".join(lines) + "\n")


def _charges(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(usage_records.c.record_id, rated_charges.c.charge)
            .join(rated_charges, rated_charges.c.record_pk == usage_records.c.id)
            .where(
                rated_charges.c.superseded_by.is_(None),
                usage_records.c.record_id.in_([c[0] for c in CALLS]),
            )
        ).all()
    return dict(rows)


def test_a_call_crossing_bands_is_priced_part_by_part_one_at_a_time(
    my_engine: Engine, tmp_path: Path
) -> None:
    _setup(my_engine, tmp_path, split=True)
    import_feed(my_engine, _file(tmp_path, 0))
    assert _charges(my_engine) == SPLIT


def test_the_vectorized_path_prices_the_same_parts(my_engine: Engine, tmp_path: Path) -> None:
    _setup(my_engine, tmp_path, split=True)
    result = import_feed(my_engine, _file(tmp_path, 600))
    assert result.tally.rated == 604
    assert _charges(my_engine) == SPLIT


def test_without_split_bands_the_call_is_priced_in_its_start_band(
    my_engine: Engine, tmp_path: Path
) -> None:
    _setup(my_engine, tmp_path, split=False)
    import_feed(my_engine, _file(tmp_path, 0))
    assert _charges(my_engine) == WHOLE


def test_explain_shows_each_part(my_engine: Engine, tmp_path: Path) -> None:
    _setup(my_engine, tmp_path, split=True)
    import_feed(my_engine, _file(tmp_path, 0))
    text = "\n".join(explain_record.explain(my_engine, "a"))
    assert "part peak: 90 s at 0.1200 per 60 s" in text
    assert "part offpeak: 90 s at 0.0600 per 60 s (60 s of the call and the 30 s" in text
