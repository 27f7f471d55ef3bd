"""One trial of the close/import race: imports, closes, a rate correction with re-rating, a
customer added with its records re-processed, and late records, all at once on one store.

Calls to fixed lines cost RM0.0600 a minute and to mobiles RM0.0600 until a correction makes
it RM0.0900, per second, so a call of N seconds costs N × RM0.001 or N × RM0.0015. Months
August to November 2026 are imported in shuffled files (some rows twice) by two importers
while a third thread closes the months in order and a fourth corrects the mobile price,
re-rates the months still open, adds customer C and re-processes its records.

Afterwards every record must be billed exactly once: each customer's invoices plus what its
open cycle holds equal the sum of its calls, each at the price its current charge names
(one of the two). The ledger's invariants hold, the seals match, every issued invoice is as
it was issued, and re-running the closes changes nothing.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from ratebook.errors import ConflictError
from ratebook.model.review import Filter
from ratebook.store.tables import (
    customers,
    invoices,
    ledger_postings,
    rated_charges,
    usage_records,
)
from ratebook.workflows import reprocess_exceptions
from ratebook.workflows.check_ledger import check_ledger
from ratebook.workflows.close_cycle import close_cycle
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rate_table import import_rate_table
from ratebook.workflows.rerate import rerate
from ratebook.workflows.verify_audit import verify_audit
from tests.faults import story

MONTHS = ("2026-08", "2026-09", "2026-10", "2026-11")
ACCOUNTS = ("A", "B", "C")
FIXED, MOBILE = "+60312345678", "+60123456789"

TABLE = """
name: voice
currency: MYR
timezone: Asia/Kuala_Lumpur
rounding: {places: 4, mode: half-up}
versions:
  - effective_from: 2026-01-01
    rows:
      - {prefix: "603", destination: Malaysia Fixed, price: "0.0600", increment: 1s/1s}
      - {prefix: "6012", destination: Malaysia Mobile, price: "MOBILE", increment: 1s/1s}
"""

HEADER = "record_id,start_time,quantity,account,destination\n"


@dataclass(slots=True)
class RaceResult:
    """What a trial found.

    Attributes:
        records: distinct records sent.
        errors: unexpected errors raised by any thread.
        lost: records of a known customer with no current charge.
        doubled: records with more than one current charge.
        wrong: customers whose billed total differs from their calls' prices.
        violations: ledger invariants broken after the race (``ratebook check``).
        findings: what ``audit verify --deep`` found.
        changed_invoices: issued invoices that changed after they were issued.
        closes_failed: closes after the race that did not succeed.
    """

    records: int = 0
    errors: list[str] = field(default_factory=list)
    lost: int = 0
    doubled: int = 0
    wrong: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    changed_invoices: list[int] = field(default_factory=list)
    closes_failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.errors
            or self.lost
            or self.doubled
            or self.wrong
            or self.violations
            or self.findings
            or self.changed_invoices
            or self.closes_failed
        )


def _calls(rng: random.Random) -> list[tuple[str, str, int, str, str]]:
    """``(record_id, local start, seconds, account, destination)`` of every call."""
    calls = []
    for month in MONTHS:
        for n in range(8):
            for account in ACCOUNTS:
                day = rng.randint(1, 28)
                start = f"{month}-{day:02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00"
                destination = rng.choice((FIXED, MOBILE))
                calls.append(
                    (f"{account}{month}-{n}", start, rng.randint(1, 400), account, destination)
                )
    return calls


def _files(folder: Path, rng: random.Random, calls: list[Any], count: int) -> list[Path]:
    rows = [f"{r},{t}+08:00,{s},{a},{d}\n" for r, t, s, a, d in calls]
    rows += rng.sample(rows, len(rows) // 10)  # some rows sent twice
    rng.shuffle(rows)
    cuts = sorted(rng.sample(range(1, len(rows)), count - 1))
    paths = []
    for n, (start, end) in enumerate(zip([0, *cuts], [*cuts, len(rows)], strict=True)):
        path = folder / f"part{n}.csv"
        path.write_text(HEADER + "".join(rows[start:end]), encoding="utf-8")
        paths.append(path)
    return paths


def _issued(engine: Engine) -> dict[int, tuple[int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(invoices.c.number, invoices.c.total, invoices.c.document))
        return {int(n): (int(t), str(d)) for n, t, d in rows}


def race_trial(engine: Engine, folder: Path, seed: int) -> RaceResult:
    """Run one trial on an empty store; ``seed`` draws the calls, the files and the pauses."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    story.entity(engine)
    import_rate_table(engine, _table(folder, "voice.yaml", "0.0600"))
    import_customers(
        engine,
        _write(folder / "ab.csv", "account,name,rate_table,numbers\nA,A,voice,\nB,B,voice,\n"),
    )
    calls = _calls(rng)
    files = _files(folder, rng, calls, 8)
    result = RaceResult(records=len(calls))
    issued: dict[int, tuple[int, str]] = {}
    lock = threading.Lock()
    pauses = [rng.random() * 0.05 for _ in range(64)]

    def pause(n: int) -> None:
        time.sleep(pauses[n % len(pauses)])

    def importer(mine: list[Path], offset: int) -> None:
        for n, path in enumerate(mine):
            pause(offset + n)
            import_feed(engine, path, format_name="generic")

    def closer() -> None:
        for n, month in enumerate(MONTHS):
            pause(20 + n)
            close_cycle(engine, month)
            with lock:
                issued.update(_issued(engine))

    def reviewer() -> None:
        pause(30)
        import_rate_table(engine, _table(folder, "voice2.yaml", "0.0900"), correct=True)
        for n, month in enumerate(MONTHS):
            pause(31 + n)
            try:
                rerate(engine, month)
            except ConflictError as refused:
                if refused.code != "CYCLE_CLOSED":
                    raise
        import_customers(
            engine, _write(folder / "c.csv", "account,name,rate_table,numbers\nC,C,voice,\n")
        )
        pause(40)
        reprocess_exceptions.reprocess(engine, Filter(code="UNMATCHED_CUSTOMER"))

    work: list[Callable[[], None]] = [
        lambda: importer(files[0::2], 0),
        lambda: importer(files[1::2], 10),
        closer,
        reviewer,
    ]
    _together(work, result)
    # what the race left: C's last records re-processed, then every close again
    reprocess_exceptions.reprocess(engine, Filter(code="UNMATCHED_CUSTOMER"))
    for month in MONTHS:
        try:
            again = close_cycle(engine, month)
            if not again.already_closed:
                result.closes_failed.append(f"{month} was not closed by the race")
        except Exception as error:  # a close after the race must succeed
            result.closes_failed.append(f"{month}: {error!r}")
    _judge(engine, calls, issued, result)
    return result


def _together(work: list[Callable[[], None]], result: RaceResult) -> None:
    def run(job: Callable[[], None]) -> None:
        try:
            job()
        except Exception as error:  # every error is reported by the trial
            result.errors.append(repr(error))

    threads = [threading.Thread(target=run, args=(job,)) for job in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)


def _judge(
    engine: Engine,
    calls: list[tuple[str, str, int, str, str]],
    issued: dict[int, tuple[int, str]],
    result: RaceResult,
) -> None:
    seconds = {r: s for r, _, s, _, _ in calls}
    r, c, cu, p = usage_records.c, rated_charges.c, customers.c, ledger_postings.c
    with engine.connect() as conn:
        current = conn.execute(
            select(r.record_id, c.unit_price, c.charge, cu.account)
            .join(rated_charges, (c.record_pk == r.id) & c.superseded_by.is_(None))
            .join(customers, cu.id == c.customer_id)
        ).all()
        billed = dict(
            conn.execute(
                select(cu.account, func.sum(invoices.c.total))
                .join(customers, cu.id == invoices.c.customer_id)
                .group_by(cu.account)
            ).all()
        )
        # what December, the open cycle, holds: late usage and amounts brought forward
        holding = dict(
            conn.execute(
                select(cu.account, func.sum(p.amount))
                .join(customers, cu.id == p.customer_id)
                .where(p.period == "2026-12")
                .group_by(cu.account)
            ).all()
        )
    charged: dict[str, int] = {}
    expected: dict[str, int] = dict.fromkeys(ACCOUNTS, 0)
    for record_id, unit_price, charge, account in current:
        charged[str(record_id)] = charged.get(str(record_id), 0) + 1
        # RM0.0600 or RM0.0900 a minute at PRICE_SCALE (9 places), per second
        if unit_price not in (60_000_000, 90_000_000):
            result.wrong.append(f"{record_id} priced at {unit_price}")
            continue
        # N seconds at P a minute: N x P / 60, at AMOUNT_SCALE (6 places)
        price = seconds[str(record_id)] * unit_price // 60 // 1000
        if charge != price:
            result.wrong.append(f"{record_id} charged {charge}, worth {price}")
        expected[str(account)] += price
    result.lost = sum(1 for r in seconds if r not in charged)
    result.doubled = sum(1 for n in charged.values() if n > 1)
    for account in ACCOUNTS:
        got = int(billed.get(account, 0)) + int(holding.get(account, 0))
        if got != expected[account]:
            result.wrong.append(f"{account} billed {got}, its calls are worth {expected[account]}")
    result.violations = [
        f"{v.code} {v.subject}: {v.detail}"
        for r in check_ledger(engine)
        for v in r.checked.violations
    ]
    result.findings = [
        f"{f.code} {f.where}: {f.detail}" for f in verify_audit(engine, deep=True).findings
    ]
    now = _issued(engine)
    result.changed_invoices = sorted(n for n, was in issued.items() if now.get(n) != was)


def _write(path: Path, text_: str) -> Path:
    path.write_text(text_, encoding="utf-8")
    return path


def _table(folder: Path, name: str, mobile: str) -> Path:
    return _write(folder / name, TABLE.replace("MOBILE", mobile))
