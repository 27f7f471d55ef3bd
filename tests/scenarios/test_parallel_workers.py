"""Story: an operator imports a month's file and re-rates the month with 1, 2 and 4 workers.
Each customer-cycle is rated from its own records whatever the order, so every record's
charge, every exception and every balance is the same for any number of workers, on both
stores; only the batches differ. Three entities of one store stand for three deployments."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rate_table import import_rate_table
from ratebook.workflows.import_shards import import_in_shards
from ratebook.workflows.init_entity import init_entity
from ratebook.workflows.rerate import rerate
from tests.conftest import write
from tests.scenarios.test_order_independence import TIERED

ACCOUNTS = [f"C{n:02d}" for n in range(12)]
#: C00 is also known by its numbers: rows with no account and a caller of 603-2... are its
CUSTOMERS = "account,name,rate_table,numbers,discount\n" + "".join(
    f"{a},{a},retail,{'+6032*' if a == 'C00' else ''},{'5' if a == 'C03' else ''}\n"
    for a in ACCOUNTS
)
#: TIERED with the October version's prices corrected: 0.0400 to 0.0450, and past 45 minutes
#: of the cycle 0.0200 to 0.0250
CORRECTED = TIERED.replace('price: "0.0400"', 'price: "0.0450"').replace(
    "45min=0.0200", "45min=0.0250"
)

ROWS = 400
DUPLICATES = 15  # rows sent twice as they were
CONFLICTS = 10  # ids sent again with another quantity


def _file(tmp_path: Path) -> Path:
    draw = random.Random(28)
    start = datetime(2026, 9, 25, tzinfo=UTC)
    rows = []
    for n in range(ROWS):
        at = start + timedelta(minutes=draw.randrange(0, 37 * 24 * 60))
        account = draw.choice([*ACCOUNTS, "", "NOBODY"])
        caller = "+60321234567" if account == "" else "+60198887777"
        destination = draw.choice(["+60312345678", "+6591234567", "+60198765432"])
        seconds = draw.randrange(1, 3600)
        rows.append(f"r{n:04d},{at.isoformat()},{seconds},{account},{caller},{destination}")
    again = draw.sample(rows, DUPLICATES + CONFLICTS)
    repeats = again[:DUPLICATES] + [
        ",".join([*r.split(",")[:2], str(int(r.split(",")[2]) + 1), *r.split(",")[3:]])
        for r in again[DUPLICATES:]
    ]
    lines = rows + repeats
    draw.shuffle(lines)
    header = "record_id,start_time,quantity,account,caller,destination\n"
    return write(tmp_path / "month.csv", header + "\n".join(lines) + "\n")


def _ledger(engine: Engine, entity: str) -> dict[str, Any]:
    with engine.connect() as conn:
        entity_id = conn.execute(
            text("SELECT id FROM entities WHERE code = :c"), {"c": entity}
        ).scalar_one()
        charges = conn.execute(
            text(
                "SELECT k.record_id, r.status, r.period, cu.account, c.charge, c.tier,"
                " c.usage_before, c.billed_quantity FROM record_keys k"
                " JOIN usage_records r ON r.id = k.record_pk"
                " LEFT JOIN rated_charges c ON c.record_pk = r.id AND c.superseded_by IS NULL"
                " LEFT JOIN customers cu ON cu.id = c.customer_id"
                " WHERE k.entity_id = :e ORDER BY k.record_id"
            ),
            {"e": entity_id},
        ).all()
        exceptions = conn.execute(
            text(
                "SELECT record_id, code, source_line FROM exceptions WHERE entity_id = :e"
                " ORDER BY source_line"
            ),
            {"e": entity_id},
        ).all()
        balances = conn.execute(
            text(
                "SELECT cu.account, p.period, sum(p.amount) FROM ledger_postings p"
                " JOIN customers cu ON cu.id = p.customer_id WHERE p.entity_id = :e"
                " GROUP BY cu.account, p.period ORDER BY cu.account, p.period"
            ),
            {"e": entity_id},
        ).all()
    return {
        "charges": [tuple(r) for r in charges],
        "exceptions": [tuple(r) for r in exceptions],
        "balances": [tuple(r) for r in balances],
    }


def test_any_number_of_workers_gives_the_same_ledger(engine: Engine, tmp_path: Path) -> None:
    month = _file(tmp_path)
    found: dict[int, dict[str, Any]] = {}
    for workers in (1, 2, 4):
        code = f"E{workers}"
        init_entity(
            engine,
            code=code,
            name=code,
            currency="MYR",
            timezone="Asia/Kuala_Lumpur",
            region="MY",
            floor="1.00",
        )
        import_rate_table(engine, write(tmp_path / "t.yaml", TIERED), entity_code=code)
        import_customers(engine, write(tmp_path / "c.csv", CUSTOMERS), entity_code=code)
        if workers == 1:
            summary = import_feed(engine, month, format_name="generic", entity_code=code)
        else:
            summary = import_in_shards(
                engine, month, workers=workers, format_name="generic", entity_code=code
            )
            # run again, it finds every shard imported and changes nothing
            again = import_in_shards(
                engine, month, workers=workers, format_name="generic", entity_code=code
            )
            assert again.already_imported
        # every row once: the planted repeats are duplicates or conflicts, nothing lost
        assert summary.rows_read == ROWS + DUPLICATES + CONFLICTS
        assert summary.duplicates == DUPLICATES
        assert summary.by_code["ID_CONFLICT"] == CONFLICTS
        assert summary.rated + summary.exceptions == ROWS + CONFLICTS
        imported = _ledger(engine, code)
        assert len(imported["charges"]) == ROWS
        assert any(row[5] is not None for row in imported["charges"])  # tiers were placed

        import_rate_table(
            engine, write(tmp_path / "right.yaml", CORRECTED), entity_code=code, correct=True
        )
        rerated = rerate(engine, "2026-10", entity_code=code, workers=workers)
        assert rerated.rerated > 0
        found[workers] = {"imported": imported, "rerated": _ledger(engine, code)}
        found[workers]["summary"] = (summary.rated, summary.exceptions, rerated.rerated)
        found[workers]["rerate"] = (rerated.examined, rerated.before, rerated.after)

    assert found[2] == found[1]
    assert found[4] == found[1]
