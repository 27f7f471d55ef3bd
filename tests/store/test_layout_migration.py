"""A populated store written in the layout before the key table keeps every record, charge,
posting and audit entry through the migrations to the newest layout, its audit chain still
verifies, and what it held still deduplicates: the same id is a duplicate or a conflict
whatever period its record is kept in."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from sqlalchemy import Engine, text

from ratebook.store.engine import alembic_config, migrate
from ratebook.workflows.close_cycle import close_cycle
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.verify_audit import verify_audit
from tests.conftest import one_customer, write

#: The layout every store had before the key table; a store written then is rebuilt here by
#: writing it now and taking the migrations back to it (their downgrades put the unique
#: record key back on usage_records and drop what later migrations added).
BEFORE_KEYS = "0025"

CALLS = "record_id,start_time,quantity,account,destination\n" + (
    "c1,2026-10-05T10:00:00+08:00,60,A,+60312345678\n"
    "c2,2026-10-31T23:59:00+08:00,120,A,+60312345678\n"
    "c3,2026-11-01T00:01:00+08:00,30,A,+60312345678\n"
    "c4,2026-11-02T09:00:00+08:00,90,NOBODY,+60312345678\n"
)

TABLES = ("usage_records", "rated_charges", "ledger_postings", "audit_log", "exceptions")


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in TABLES
        }


def _downgrade(engine: Engine, revision: str) -> None:
    # as ``migrate`` does: SQLite's batch mode rebuilds tables others refer to
    config = alembic_config()
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        with conn.begin():
            config.attributes["connection"] = conn
            command.downgrade(config, revision)
        if conn.dialect.name == "sqlite":
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def test_a_populated_store_migrates_with_its_data_and_its_keys(
    my_engine: Engine, tmp_path: Path
) -> None:
    one_customer(my_engine, tmp_path)
    first = import_feed(my_engine, write(tmp_path / "calls.csv", CALLS), format_name="generic")
    assert (first.rated, first.exceptions) == (3, 1)  # c4's account is nobody's
    close_cycle(my_engine, "2026-10", now=datetime(2026, 11, 5, tzinfo=UTC))
    before = _counts(my_engine)
    assert before["ledger_postings"] > 0
    assert before["audit_log"] > 0

    _downgrade(my_engine, BEFORE_KEYS)
    with my_engine.connect() as conn:
        tables = conn.dialect.get_table_names(conn)
    assert "record_keys" not in tables
    migrate(my_engine)

    assert _counts(my_engine) == before
    with my_engine.connect() as conn:
        keys = conn.execute(
            text("SELECT record_id, record_pk FROM record_keys ORDER BY record_id")
        ).all()
        records = conn.execute(text("SELECT record_id, id FROM usage_records ORDER BY record_id"))
        assert [tuple(k) for k in keys] == [tuple(r) for r in records]
    report = verify_audit(my_engine, deep=True)
    assert report.findings == []
    assert report.sealed > 0

    # the ids the store held before the migration are known after it, in either period:
    # c2 (October) and c3 (November) again as they were are duplicates; c1 sent again
    # dated in November is the same id with other content, a conflict, not a new record
    again = write(
        tmp_path / "again.csv",
        CALLS.splitlines()[0]
        + "\n"
        + "\n".join(CALLS.splitlines()[2:4])
        + "\nc1,2026-11-05T10:00:00+08:00,60,A,+60312345678\n"
        + "c5,2026-11-06T10:00:00+08:00,60,A,+60312345678\n",
    )
    result = import_feed(my_engine, again, format_name="generic")
    assert (result.rows_read, result.rated, result.duplicates, result.exceptions) == (4, 1, 2, 1)
    assert dict(result.by_code) == {"ID_CONFLICT": 1}
