"""Story: a billing clerk works through October's exception queue.

The rate table charges RM0.1000 a minute for +60 numbers, billed per second, so N seconds cost
N/600 ringgit exactly; its policy allows calls of at most one hour. The October file has ten
rows; every row but the first lands in the queue, one for each code:

    c1   ACME  60 s              rated: 0.1000
    c2   NEWCO 120 s             UNMATCHED_CUSTOMER (NEWCO is not a customer yet) -> 0.2000
    c3   NEWCO 300 s             UNMATCHED_CUSTOMER                               -> 0.5000
    c4   GHOST 60 s              UNMATCHED_CUSTOMER, written off
    c5   ACME  60 s to +44       NO_RATE until a +44 row at 0.3000/min is added   -> 0.3000
    c6   ACME  7200 s            OUT_OF_POLICY (over 1 h), accepted as it is       -> 12.0000
    c7   ACME  "abc" s           INVALID_RECORD, corrected to 30 s                -> 0.0500
    c1   ACME  90 s (same id)    ID_CONFLICT, corrected to id c1-b                 -> 0.1500
    c8   "=1+2" 60 s             UNMATCHED_CUSTOMER (a formula as account), written off
    c9   ACME  60 s in September LATE_FOR_CLOSED_CYCLE (September is closed and the entity
                                 rejects late usage), accepted: late usage in October -> 0.1000
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from ratebook.errors import ConflictError, InputError
from ratebook.model.review import Filter
from ratebook.sources.formats import ASTERISK_COLUMNS
from ratebook.store import usage
from ratebook.store.tables import corrections, import_batches, ledger_postings, usage_records
from ratebook.workflows import correct_exception, reprocess_exceptions
from ratebook.workflows import review_exceptions as review
from ratebook.workflows.billing_setup import set_policy
from ratebook.workflows.close_cycle import close_cycle
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rate_table import import_rate_table
from ratebook.workflows.lineage import lineage
from tests.conftest import write
from tests.scenarios.test_october_for_two_customers import _cdr
from tests.scenarios.test_october_for_two_customers import _setup as october_setup

TABLE = """
name: flat
currency: MYR
timezone: Asia/Kuala_Lumpur
rounding: {places: 4, mode: half-up}
versions:
  - effective_from: 2026-01-01
    policy: {max_quantity: {voice: 1h}}
    rows:
      - {prefix: "60", destination: Malaysia, price: "0.1000", increment: 1s/1s}
"""

# the same version, corrected: a +44 row added
TABLE_WITH_UK = TABLE + (
    '      - {prefix: "44", destination: United Kingdom, price: "0.3000", increment: 1s/1s}\n'
)

HEADER = "record_id,start_time,quantity,account,destination,service,unit\n"
SEPTEMBER = HEADER + "s1,2026-09-10T10:00:00+08:00,600,ACME,+60312345678,voice,s\n"
OCTOBER = HEADER + (
    "c1,2026-10-05T10:00:00+08:00,60,ACME,+60312345678,voice,s\n"
    "c2,2026-10-05T11:00:00+08:00,120,NEWCO,+60312345678,voice,s\n"
    "c3,2026-10-06T11:00:00+08:00,300,NEWCO,+60312345678,voice,s\n"
    "c4,2026-10-06T12:00:00+08:00,60,GHOST,+60312345678,voice,s\n"
    "c5,2026-10-07T10:00:00+08:00,60,ACME,+442071234567,voice,s\n"
    "c6,2026-10-07T11:00:00+08:00,7200,ACME,+60312345678,voice,s\n"
    "c7,2026-10-08T10:00:00+08:00,abc,ACME,+60312345678,voice,s\n"
    "c1,2026-10-05T10:00:00+08:00,90,ACME,+60312345678,voice,s\n"
    "c8,2026-10-09T10:00:00+08:00,60,=1+2,+60312345678,voice,s\n"
    "c9,2026-09-20T10:00:00+08:00,60,ACME,+60312345678,voice,s\n"
)
CUSTOMERS = "account,name,rate_table,numbers\nACME,Acme Sdn Bhd,flat,\n"


def _setup(engine: Engine, tmp_path: Path) -> None:
    import_rate_table(engine, write(tmp_path / "flat.yaml", TABLE))
    import_customers(engine, write(tmp_path / "c.csv", CUSTOMERS))
    import_feed(engine, write(tmp_path / "sep.csv", SEPTEMBER), format_name="generic")
    close_cycle(engine, "2026-09")
    set_policy(engine, late_usage="reject")
    import_feed(engine, write(tmp_path / "oct.csv", OCTOBER), format_name="generic")


def _queue(engine: Engine, **filters: Any) -> dict[str, dict[str, Any]]:
    """Exceptions by a readable key: the record id, or the code for rows without one."""
    out: dict[str, dict[str, Any]] = {}
    for x in review.list_exceptions(engine, Filter(**filters)):
        key = x["record_id"] if x["code"] != "ID_CONFLICT" else "c1 conflict"
        out[key or x["code"]] = x
    return out


def _identity_holds(engine: Engine) -> dict[str, int]:
    rows = [r for r in review.row_identity(engine) if r["source_name"].endswith("oct.csv")]
    assert len(rows) == 1
    row = rows[0]
    assert row["read"] == row["rated"] + row["duplicates"] + row["pending"] + row["written_off"]
    return {k: row[k] for k in ("read", "rated", "duplicates", "pending", "written_off")}


def _october_ledger(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        entity_id = conn.execute(select(usage_records.c.entity_id).limit(1)).scalar_one()
        return usage.ledger_totals(conn, entity_id, "2026-10")


def test_every_code_comes_from_a_realistic_row(my_engine: Engine, tmp_path: Path) -> None:
    _setup(my_engine, tmp_path)
    queue = _queue(my_engine)
    codes = {key: x["code"] for key, x in queue.items()}
    assert codes == {
        "c2": "UNMATCHED_CUSTOMER",
        "c3": "UNMATCHED_CUSTOMER",
        "c4": "UNMATCHED_CUSTOMER",
        "c8": "UNMATCHED_CUSTOMER",
        "c5": "NO_RATE",
        "c6": "OUT_OF_POLICY",
        "c7": "INVALID_RECORD",  # unreadable, but its record id could be read
        "c1 conflict": "ID_CONFLICT",
        "c9": "LATE_FOR_CLOSED_CYCLE",
    }
    assert queue["c7"]["sub_code"] == "NOT_A_NUMBER"
    assert queue["c7"]["field"] == "quantity"
    assert "max_quantity" in queue["c6"]["reason"]
    assert "2026-09, a closed cycle" in queue["c9"]["reason"]
    assert all(x["status"] == "open" for x in queue.values())
    assert _identity_holds(my_engine) == {
        "read": 10,
        "rated": 1,
        "duplicates": 0,
        "pending": 9,
        "written_off": 0,
    }


def test_a_clerk_clears_the_queue(my_engine: Engine, tmp_path: Path) -> None:
    _setup(my_engine, tmp_path)
    queue = _queue(my_engine)

    # re-processing before the cause is fixed changes nothing but says why
    unmatched = Filter(code="UNMATCHED_CUSTOMER")
    early = reprocess_exceptions.reprocess(my_engine, unmatched)
    assert (early.selected, early.resolved, dict(early.failing)) == (
        4,
        0,
        {"UNMATCHED_CUSTOMER": 4},
    )
    _identity_holds(my_engine)

    # NEWCO becomes a customer: exactly its two rows are resolved, 120 + 300 s = RM0.7000
    import_customers(
        my_engine, write(tmp_path / "newco.csv", CUSTOMERS.replace("ACME,Acme", "NEWCO,Newco"))
    )
    told: list[tuple[int, int]] = []
    fixed = reprocess_exceptions.reprocess(
        my_engine,
        unmatched,
        note="NEWCO signed on 1 October",
        progress=lambda done, total: told.append((done, total)),
    )
    assert told == [(0, 4), (4, 4)]  # the four pending UNMATCHED_CUSTOMER rows, settled
    assert (fixed.resolved, dict(fixed.failing), fixed.charge) == (
        2,
        {"UNMATCHED_CUSTOMER": 2},
        700_000,
    )
    after = _queue(my_engine)
    assert [after[k]["status"] for k in ("c2", "c3", "c4", "c8")] == [
        "resolved",
        "resolved",
        "open",
        "open",
    ]
    assert after["c2"]["resolution"] == "reprocessed"
    assert _october_ledger(my_engine)["NEWCO"] == 700_000
    assert _identity_holds(my_engine)["rated"] == 3

    # an out-of-policy record can be accepted; a record with no rate cannot
    with pytest.raises(ConflictError) as refused:
        reprocess_exceptions.accept(my_engine, queue["c5"]["id"], "customer insists")
    assert refused.value.code == "NOT_ACCEPTABLE"
    accepted = reprocess_exceptions.accept(
        my_engine, queue["c6"]["id"], "two-hour conference call, agreed"
    )
    assert accepted.charge == 12_000_000  # 7200 s / 600

    # the +44 rate is added as a correction of the version: c5 rates at 0.3000 a minute
    import_rate_table(my_engine, write(tmp_path / "flat2.yaml", TABLE_WITH_UK), correct=True)
    uk = reprocess_exceptions.reprocess(my_engine, Filter(ids=(queue["c5"]["id"],)))
    assert (uk.resolved, uk.charge) == (1, 300_000)

    # a resolved exception is final
    with pytest.raises(ConflictError) as final:
        reprocess_exceptions.reprocess(my_engine, Filter(ids=(queue["c5"]["id"],)))
    assert final.value.code == "EXCEPTION_CLOSED"

    # the late September call is billed as late usage in October
    late = reprocess_exceptions.accept(my_engine, queue["c9"]["id"], "switch uploaded late")
    assert late.charge == 100_000
    with my_engine.connect() as conn:
        posting = conn.execute(
            select(
                ledger_postings.c.kind, ledger_postings.c.source_period, ledger_postings.c.amount
            ).where(
                ledger_postings.c.source_period.is_not(None), ledger_postings.c.period == "2026-10"
            )
        ).all()
    assert [tuple(p) for p in posting] == [("late_usage", "2026-09", 100_000)]

    # two test numbers are written off
    gone = review.reject(my_engine, unmatched, "test numbers on the switch")
    assert gone.rejected == 2
    identity = _identity_holds(my_engine)
    assert (identity["pending"], identity["written_off"]) == (2, 2)  # c7 and the conflict

    # ACME: c1 0.1 + c6 12.0 + c5 0.3 + late c9 0.1
    assert _october_ledger(my_engine)["ACME"] == 12_500_000


def test_a_corrected_copy_keeps_the_original(my_engine: Engine, tmp_path: Path) -> None:
    _setup(my_engine, tmp_path)
    queue = _queue(my_engine)
    invalid = queue["c7"]
    original_raw = invalid["raw"]
    assert ",abc," in original_raw

    with pytest.raises(InputError) as unknown:
        correct_exception.correct(
            my_engine, invalid["id"], changes={"seconds": "30"}, reason="typo"
        )
    assert unknown.value.code == "UNKNOWN_COLUMN"
    with pytest.raises(InputError) as still:
        correct_exception.correct(
            my_engine, invalid["id"], changes={"quantity": "-3"}, reason="typo"
        )
    assert (still.value.code, still.value.field) == ("NEGATIVE", "quantity")

    fixed = correct_exception.correct(
        my_engine, invalid["id"], changes={"quantity": "30"}, reason="typo"
    )
    assert (fixed.resolved, fixed.charge) == (1, 50_000)  # 30 s / 600

    shown = review.show_exception(my_engine, invalid["id"])
    assert shown["raw"] == original_raw  # the original row is kept as it came
    assert (shown["status"], shown["resolution"]) == ("resolved", "corrected")
    [fix] = shown["corrections"]
    assert fix["raw"] == original_raw.replace(",abc,", ",30,")
    assert fix["changes"] == '{"quantity": ["abc", "30"]}'
    assert shown["record"]["record_id"] == "c7"
    assert shown["record"]["raw"] == fix["raw"]

    chain = lineage(my_engine, record_id="c7")
    [record] = chain["records"]
    assert record["exception"]["raw"] == original_raw
    assert [c["charge"] for c in record["charges"]] == [50_000]
    assert record["source_line"] == 8  # header is line 1

    # the conflicting copy of c1 cannot keep the id; with a new id it is billed
    conflict = queue["c1 conflict"]
    with pytest.raises(ConflictError) as same_id:
        correct_exception.correct(
            my_engine, conflict["id"], changes={"quantity": "90"}, reason="second leg"
        )
    assert same_id.value.code == "CORRECTION_ID_CONFLICT"
    assert review.show_exception(my_engine, conflict["id"])["status"] == "open"
    leg = correct_exception.correct(
        my_engine, conflict["id"], changes={"record_id": "c1-b"}, reason="second leg"
    )
    assert (leg.resolved, leg.charge) == (1, 150_000)  # 90 s / 600
    with my_engine.connect() as conn:  # one correction each for c7 and the conflict
        assert len(conn.execute(select(corrections.c.id)).all()) == 2
    identity = _identity_holds(my_engine)
    assert identity["rated"] == 3  # c1, c7, c1-b


def test_a_stored_record_is_corrected_in_place_with_its_original_kept(
    my_engine: Engine, tmp_path: Path
) -> None:
    """GHOST was a typo for ACME: the account is corrected on the stored record."""
    _setup(my_engine, tmp_path)
    ghost = _queue(my_engine)["c4"]
    fixed = correct_exception.correct(
        my_engine, ghost["id"], changes={"account": "ACME"}, reason="typo"
    )
    assert (fixed.resolved, fixed.charge) == (1, 100_000)
    [fix] = review.show_exception(my_engine, ghost["id"])["corrections"]
    assert '"account": "GHOST"' in fix["original"]
    # the original row sent again is a duplicate, not a new record or a conflict
    again = import_feed(
        my_engine,
        write(tmp_path / "resend.csv", HEADER + OCTOBER.splitlines()[4] + "\n"),
        format_name="generic",
    )
    assert (again.duplicates, again.exceptions, again.rated) == (1, 0, 0)


def test_export_is_safe_to_open_in_a_spreadsheet(my_engine: Engine, tmp_path: Path) -> None:
    _setup(my_engine, tmp_path)
    out = tmp_path / "queue.csv"
    written = review.export_csv(my_engine, Filter(code="UNMATCHED_CUSTOMER"), out)
    assert written == 4
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    formula = next(r for r in rows if r["record_id"] == "c8")
    assert formula["account"] == "'=1+2"
    assert not any(
        cell[:1] in ("=", "+", "-", "@") for row in rows for cell in row.values() if cell
    )


def test_counts_and_filters(my_engine: Engine, tmp_path: Path) -> None:
    _setup(my_engine, tmp_path)
    counts = {(r["period"], r["code"], r["status"]): r["n"] for r in review.counts(my_engine)}
    assert counts[("2026-10", "UNMATCHED_CUSTOMER", "open")] == 4
    assert counts[("2026-09", "LATE_FOR_CLOSED_CYCLE", "open")] == 1
    assert counts[(None, "INVALID_RECORD", "open")] == 1
    assert {
        x["record_id"] for x in review.list_exceptions(my_engine, Filter(customer="NEWCO"))
    } == {
        "c2",
        "c3",
    }
    assert [x["record_id"] for x in review.list_exceptions(my_engine, Filter(text="+44"))] == ["c5"]
    assigned = review.assign(my_engine, Filter(code="NO_RATE"), "aisyah")
    assert assigned.assigned == 1
    [mine] = review.list_exceptions(my_engine, Filter(status="in_review"))
    assert (mine["record_id"], mine["assignee"]) == ("c5", "aisyah")


def test_an_asterisk_row_read_before_the_21_field_form_is_corrected_by_its_own_columns(
    my_engine: Engine, tmp_path: Path
) -> None:
    """A batch imported when the format had 18 columns keeps them: its exception is read
    back through them, its record id still the uniqueid (``--set record_id`` names it)."""
    october_setup(my_engine, tmp_path)
    row = _cdr("0321110001", "0312345678", "2026-10-03 09:00:00", 61, uniqueid="9.2")
    feed = write(tmp_path / "Master.csv", row.replace('"61"', '"abc"') + "\n")
    assert import_feed(my_engine, feed, format_name="asterisk").exceptions == 1
    eighteen = json.dumps(list(ASTERISK_COLUMNS[:18]))
    with my_engine.begin() as conn:
        conn.execute(update(import_batches).values(columns=eighteen))
    [held] = review.list_exceptions(my_engine, Filter())
    fixed = correct_exception.correct(
        my_engine,
        held["id"],
        changes={"quantity": "30", "record_id": "9.2b"},
        reason="switch wrote abc",
    )
    assert (fixed.resolved, fixed.charge) == (1, 50_000)  # 30 s bills 60 s at 0.05
    [fix] = review.show_exception(my_engine, held["id"])["corrections"]
    assert json.loads(fix["changes"]) == {"billsec": ["abc", "30"], "uniqueid": ["9.2", "9.2b"]}


def test_an_asterisk_row_is_corrected_by_the_field_its_exception_names(
    my_engine: Engine, tmp_path: Path
) -> None:
    october_setup(my_engine, tmp_path)
    # ACME's number to +60312345678 (0.05 a minute, per minute); billsec "abc" cannot be read
    row = _cdr("0321110001", "0312345678", "2026-10-03 09:00:00", 61, uniqueid="9.1")
    feed = write(tmp_path / "Master.csv", row.replace('"61"', '"abc"') + "\n")
    assert import_feed(my_engine, feed, format_name="asterisk").exceptions == 1
    [held] = review.list_exceptions(my_engine, Filter())
    assert held["field"] == "quantity"  # the canonical field, read from billsec
    fixed = correct_exception.correct(
        my_engine, held["id"], changes={"quantity": "30"}, reason="switch wrote abc"
    )
    assert (fixed.resolved, fixed.charge) == (1, 50_000)  # 30 s bills 60 s at 0.05
    [fix] = review.show_exception(my_engine, held["id"])["corrections"]
    assert fix["changes"] == '{"billsec": ["abc", "30"]}'  # the switch's own column changed
