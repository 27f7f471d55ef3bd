"""Fault campaigns at a larger scale than the suite runs them, on demand.

    python -m tests.faults.run race --trials 50 [--store sqlite|postgres|both]
    python -m tests.faults.run tamper --trials 200
    python -m tests.faults.run kill --trials 20
    python -m tests.faults.run stream --trials 10         (a consumer killed with SIGKILL)
    python -m tests.faults.run disk-full --trials 10      (needs root: mounts a small tmpfs)
    python -m tests.faults.run modes --store sqlite       (which check finds which tampering)

PostgreSQL runs need ``RATEBOOK_TEST_POSTGRES_URL``. Each campaign prints, per store, the
trials run, the records lost and doubled (or the tamperings detected and missed), and the
trials that went wrong, with their seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import psycopg

from ratebook.model.anchor import load_key
from ratebook.store.engine import open_store
from ratebook.workflows.init_entity import init_entity
from ratebook.workflows.verify_audit import audit_findings, make_anchor
from tests.faults import story
from tests.faults.race import race_trial
from tests.faults.tamper import TAMPERINGS
from tests.stream.conftest import running_broker
from tests.stream.test_consumer_faults import expected_charges, kill_trial, stop_members


@dataclass
class Tally:
    """One campaign on one store."""

    trials: int = 0
    lost: int = 0
    doubled: int = 0
    detected: int = 0
    missed: int = 0
    failed: list[str] = field(default_factory=list)


@contextmanager
def _store(kind: str, folder: Path) -> Iterator[str]:
    """A URL of an empty store of ``kind``, dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'ratebook.db'}"
        return
    base = os.environ.get("RATEBOOK_TEST_POSTGRES_URL")
    if not base:
        raise SystemExit("set RATEBOOK_TEST_POSTGRES_URL to run a campaign on PostgreSQL")
    schema = f"rb_fault_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    joiner = "&" if "?" in base else "?"
    try:
        yield f"{base}{joiner}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def race(kind: str, seed: int, folder: Path, tally: Tally) -> None:
    with _store(kind, folder) as url:
        engine = open_store(url)
        try:
            result = race_trial(engine, folder / "files", seed)
        finally:
            engine.dispose()
    tally.lost += result.lost
    tally.doubled += result.doubled
    if not result.ok:
        tally.failed.append(
            f"seed {seed}: {result.errors + result.wrong + result.violations + result.findings}"
            f" changed invoices {result.changed_invoices}, closes {result.closes_failed}"
        )


def tamper(kind: str, seed: int, folder: Path, tally: Tally) -> None:
    rng = random.Random(seed)
    with _store(kind, folder) as url:
        engine = open_store(url)
        try:
            story.build(engine, folder)
            key = load_key(b"a campaign's anchor key, 32 bytes")
            anchor = make_anchor(engine, now=datetime.now(UTC), key=key)
            with engine.connect() as conn:
                if audit_findings(conn, deep=True, anchor=anchor, key=key).findings:
                    tally.failed.append(f"seed {seed}: a false alarm on the untouched store")
            for _ in range(20):
                tampering = rng.choice(TAMPERINGS)
                with engine.connect() as conn:
                    transaction = conn.begin()
                    try:
                        what = tampering(conn, rng)
                        found = audit_findings(conn, deep=True, anchor=anchor, key=key)
                    finally:
                        transaction.rollback()
                if found.findings:
                    tally.detected += 1
                else:
                    tally.missed += 1
                    tally.failed.append(f"seed {seed}: missed {what}")
        finally:
            engine.dispose()


def _ratebook(url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ratebook", "--db", url, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _done(url: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = _ratebook(url, *args, env=env)
    out, err = process.communicate(timeout=600)
    return process.returncode, out, err


def _calls(folder: Path, rng: random.Random, count: int) -> Path:
    path = folder / "calls.csv"
    rows = [
        f"k{i},2026-10-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00+08:00,"
        f"{rng.randint(1, 600)},{rng.choice('AB')},+60312345678\n"
        for i in range(count)
    ]
    path.write_text("record_id,start_time,quantity,account,destination\n" + "".join(rows))
    return path


def _prepared(url: str, folder: Path) -> None:
    engine = open_store(url)
    try:
        story.entity(engine)
        story.reference(engine, folder, ("A", "B"))
    finally:
        engine.dispose()


def _balances(url: str) -> dict[str, tuple[int, str]]:
    code, out, err = _done(url, "balances", "--period", "2026-10", "--format", "json")
    if code != 0:
        raise RuntimeError(err)
    return {row["account"]: (int(row["records"]), row["charge"]) for row in json.loads(out)}


def kill(kind: str, seed: int, folder: Path, tally: Tally) -> None:
    """Kill an import at a random moment, run it again, and compare with a clean run."""
    rng = random.Random(seed)
    calls = _calls(folder, rng, 30_000)
    with _store(kind, folder / "clean") as clean_url:
        (folder / "clean").mkdir(exist_ok=True)
        _prepared(clean_url, folder / "clean")
        _done(clean_url, "ingest", str(calls))
        expected = _balances(clean_url)
    with _store(kind, folder / "killed") as url:
        (folder / "killed").mkdir(exist_ok=True)
        _prepared(url, folder / "killed")
        importer = _ratebook(url, "ingest", str(calls))
        time.sleep(rng.uniform(0.2, 4.0))
        importer.send_signal(signal.SIGKILL)
        importer.communicate()
        code, _, err = _done(url, "ingest", str(calls))
        found = _balances(url)
    for account, (records, charge) in expected.items():
        got_records, got_charge = found.get(account, (0, "0"))
        tally.lost += max(records - got_records, 0)
        tally.doubled += max(got_records - records, 0)
        if (got_records, got_charge) != (records, charge) or code != 0:
            tally.failed.append(f"seed {seed}: {account} {found.get(account)} != {expected} {err}")


def stream(kind: str, seed: int, folder: Path, tally: Tally) -> None:
    """Kill stream consumers at random points (ten times), then let one finish: every event
    applied once, and the stored positions the topic's ends."""
    with _store(kind, folder) as url, running_broker() as broker:
        engine = open_store(url)
        try:
            init_entity(
                engine,
                code="MY1",
                name="Campaign",
                currency="MYR",
                timezone="Asia/Kuala_Lumpur",
                region="MY",
                floor="1.00",
            )
            found = kill_trial(engine, folder, broker, seed, kills=10)
        finally:
            stop_members()
            engine.dispose()
    expected = expected_charges()
    tally.lost += len(set(expected) - set(found.charges))
    tally.doubled += found.records - len(found.charges)
    if found.charges != expected or found.positions != found.ends or found.last_exit != 0:
        tally.failed.append(
            f"seed {seed}: {len(found.charges)} of {len(expected)} charged, positions"
            f" {found.positions} != ends {found.ends} {found.last_errors[-300:]}"
        )


def disk_full(kind: str, seed: int, folder: Path, tally: Tally) -> None:
    """Import into a store (SQLite) or spill (both) on a small disk: DISK_FULL, nothing kept."""
    rng = random.Random(seed)
    mount = folder / "tiny"
    mount.mkdir()
    size = rng.choice((1, 2, 3, 4))
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}m", "tmpfs", str(mount)]
    ).returncode:
        raise SystemExit("mounting a tmpfs needs root")
    try:
        calls = _calls(folder, rng, 80_000)
        spill_only = kind == "postgres" or rng.random() < 0.5
        with _store(kind, mount if not spill_only else folder) as url:
            _prepared(url, folder)
            env = {"TMPDIR": str(mount), "RATEBOOK_CHUNK_ROWS": "10000"} if spill_only else None
            code, _, err = _done(url, "ingest", str(calls), env=env)
            if code == 1 and err.startswith("error: DISK_FULL"):
                tally.detected += 1
            elif code == 0:
                pass  # it fitted after all
            else:
                tally.missed += 1
                tally.failed.append(f"seed {seed}: {err.strip()}")
            if code != 0 and _balances(url):
                tally.failed.append(f"seed {seed}: a failed import left charges behind")
    finally:
        subprocess.run(["umount", "-l", str(mount)])


CAMPAIGNS: dict[str, Callable[[str, int, Path, Tally], None]] = {
    "race": race,
    "tamper": tamper,
    "kill": kill,
    "disk-full": disk_full,
    "stream": stream,
}


def modes(kind: str, trials: int) -> None:
    """Per kind of tampering, how often each check finds it: the plain chain walk, the
    ledger check, the deep check without an anchor, and the deep check with one."""
    from ratebook.store.checks import check_store
    from ratebook.store.entities import get_entity

    print(f"{'tampering':<22} {'verify':>7} {'check':>6} {'--deep':>7} {'+anchor':>8}")
    with (
        tempfile.TemporaryDirectory(prefix="ratebook-fault-") as name,
        _store(kind, Path(name)) as url,
    ):
        engine = open_store(url)
        story.build(engine, Path(name))
        key = load_key(b"a campaign's anchor key, 32 bytes")
        anchor = make_anchor(engine, now=datetime.now(UTC), key=key)
        for tampering in TAMPERINGS:
            found = [0, 0, 0, 0]
            for trial in range(trials):
                with engine.connect() as conn:
                    transaction = conn.begin()
                    try:
                        tampering(conn, random.Random(trial))
                        entity = get_entity(conn, None).id
                        found[0] += bool(audit_findings(conn).findings)
                        found[1] += bool(check_store(conn, entity).violations)
                        found[2] += bool(audit_findings(conn, deep=True).findings)
                        found[3] += bool(
                            audit_findings(conn, deep=True, anchor=anchor, key=key).findings
                        )
                    finally:
                        transaction.rollback()
            print(f"{tampering.__name__:<22}" + "".join(f" {n:>6}/{trials}" for n in found))
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("campaign", choices=sorted([*CAMPAIGNS, "modes"]))
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    stores = ("sqlite", "postgres") if args.store == "both" else (args.store,)
    if args.campaign == "modes":
        for kind in stores:
            print(f"{kind}:")
            modes(kind, args.trials)
        return
    print(
        f"{'campaign':<10} {'store':<9} {'trials':>6} {'lost':>6} {'doubled':>8}"
        f" {'detected':>9} {'missed':>7} {'failed':>7}"
    )
    for kind in stores:
        tally = Tally()
        for n in range(args.trials):
            with tempfile.TemporaryDirectory(prefix="ratebook-fault-") as folder:
                CAMPAIGNS[args.campaign](kind, args.seed + n, Path(folder), tally)
            tally.trials += 1
        print(
            f"{args.campaign:<10} {kind:<9} {tally.trials:>6} {tally.lost:>6} {tally.doubled:>8}"
            f" {tally.detected:>9} {tally.missed:>7} {len(tally.failed):>7}"
        )
        for line in tally.failed[:20]:
            print(f"  {line}")


if __name__ == "__main__":
    main()
