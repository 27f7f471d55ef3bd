"""The audit log: every state change leaves an entry in its own transaction, and any edit made
behind Ratebook's back (a single field changed in SQL) is found by ``audit verify``."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text, update

from ratebook.errors import InputError
from ratebook.model.actor import acting_as
from ratebook.model.audit import HASHED
from ratebook.store import audit
from ratebook.store.tables import audit_log
from ratebook.workflows import disputes, resolve_dispute
from ratebook.workflows.billing_setup import set_policy
from ratebook.workflows.close_cycle import close_cycle
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rate_table import import_rate_table
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
"""
FEED = (
    "record_id,start_time,quantity,account,destination,service,unit\n"
    "a1,2026-10-05T10:00:00+08:00,1200,ACME,+60312345678,voice,s\n"
    "a2,2026-10-06T10:00:00+08:00,60,NOBODY,+60312345678,voice,s\n"
)


def _month_of_work(engine: Engine, tmp_path: Path) -> None:
    with acting_as("aisyah"):
        import_rate_table(engine, write(tmp_path / "flat.yaml", TABLE))
        import_customers(
            engine, write(tmp_path / "c.csv", "account,name,rate_table,numbers\nACME,Acme,flat,\n")
        )
        import_feed(engine, write(tmp_path / "oct.csv", FEED), format_name="generic")
        set_policy(engine, max_carry_cycles=3)
    with acting_as("ben"):
        disputes.open_dispute(engine, disputes.Subject(record_id="a1"), "too long")
        disputes.comment(engine, 1, "checking")
        resolve_dispute.resolve(engine, 1, outcome="upheld", credit="0.10")
        close_cycle(engine, "2026-10")


def test_each_change_is_an_entry_with_its_actor(my_engine: Engine, tmp_path: Path) -> None:
    _month_of_work(my_engine, tmp_path)
    with my_engine.connect() as conn:
        entries = audit.entries(conn)
        assert audit.verify(conn).broken is None
    actions = [(e["actor"], e["action"]) for e in entries]
    assert actions[1:] == [  # the first is the entity's creation by the test fixture
        ("aisyah", "rates.import"),
        ("aisyah", "customers.import"),
        ("aisyah", "import"),
        ("aisyah", "entity.policy"),
        ("ben", "dispute.open"),
        ("ben", "dispute.comment"),
        ("ben", "dispute.resolve"),
        ("ben", "invoice.issue"),
        ("ben", "cycle.close"),
    ]
    assert entries[0]["action"] == "entity.create"
    policy = next(e for e in entries if e["action"] == "entity.policy")
    assert '"max_carry_cycles":null' in policy["before"]
    assert '"max_carry_cycles":3' in policy["after"]


def test_a_failed_change_leaves_no_entry(my_engine: Engine, tmp_path: Path) -> None:
    with my_engine.connect() as conn:
        before = len(audit.entries(conn))
    with pytest.raises(InputError):
        import_feed(my_engine, write(tmp_path / "empty.csv", ""), format_name="generic")
    with my_engine.connect() as conn:
        assert len(audit.entries(conn)) == before


def _tampered(value: object, field: str, rng: random.Random) -> object:
    """A different value of the same kind."""
    if field == "entity_id":
        return (int(str(value)) if value is not None else 0) + rng.randint(1, 9)
    if value is None:
        return '{"x":1}'
    text_value = str(value)
    at = rng.randrange(len(text_value))
    replacement = "0" if text_value[at] != "0" else "1"
    return text_value[:at] + replacement + text_value[at + 1 :]


def test_every_single_field_tampering_is_found(my_engine: Engine, tmp_path: Path) -> None:
    _month_of_work(my_engine, tmp_path)
    rng = random.Random(20261124)
    fields = [f for f in (*HASHED, "hash") if f != "id"]
    with my_engine.connect() as conn:
        ids = [int(i) for i in conn.execute(select(audit_log.c.id)).scalars()]
        assert audit.verify(conn).broken is None  # no false alarm
        for _ in range(100):
            entry_id = rng.choice(ids)
            field = rng.choice(fields)
            current = conn.execute(
                select(audit_log.c[field]).where(audit_log.c.id == entry_id)
            ).scalar_one()
            conn.execute(
                update(audit_log)
                .where(audit_log.c.id == entry_id)
                .values({field: _tampered(current, field, rng)})
            )
            broken = audit.verify(conn).broken
            conn.rollback()  # undo the tampering before the next one
            assert broken is not None, (entry_id, field)
            assert broken.entry_id == entry_id, (entry_id, field, broken)
        assert audit.verify(conn).broken is None


def test_a_removed_entry_is_found(my_engine: Engine, tmp_path: Path) -> None:
    _month_of_work(my_engine, tmp_path)
    with my_engine.connect() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = 3"))
        broken = audit.verify(conn).broken
        conn.rollback()
    assert broken is not None
    assert broken.entry_id == 4


def test_a_close_chains_each_invoice_in_number_order(my_engine: Engine, tmp_path: Path) -> None:
    """A close writes its invoices' entries together; they chain as one at a time would, each
    on the one before, in invoice-number order, and the close's own entry comes last."""
    import_rate_table(my_engine, write(tmp_path / "flat.yaml", TABLE))
    import_customers(
        my_engine,
        write(
            tmp_path / "c.csv",
            "account,name,rate_table,numbers\nA,A,flat,\nB,B,flat,\nC,C,flat,\n",
        ),
    )
    feed = "record_id,start_time,quantity,account,destination,service,unit\n" + "".join(
        f"{who}1,2026-10-05T10:00:00+08:00,1200,{who},+60312345678,voice,s\n" for who in "ABC"
    )
    import_feed(my_engine, write(tmp_path / "oct.csv", feed), format_name="generic")
    close_cycle(my_engine, "2026-10")
    with my_engine.connect() as conn:
        entries = audit.entries(conn)
        assert audit.verify(conn).broken is None
    tail = [(e["action"], e["object_id"]) for e in entries[-4:]]
    assert tail == [
        ("invoice.issue", "1"),
        ("invoice.issue", "2"),
        ("invoice.issue", "3"),
        ("cycle.close", "2026-10"),
    ]
    for before, after in itertools.pairwise(entries):
        assert after["prev_hash"] == before["hash"]
        assert after["id"] == before["id"] + 1
