"""The API part of ``make bench``: the real ``ratebook serve`` on each store, holding the shaped
reference (the 50,000-prefix deck with bands, holidays and graduated tiers, 20,000 customers)
and a month of random-time records, driven from a separate load process on loopback
(``bench/api_load.py``). The floor, a FastAPI route answering a constant on the same server
stack (``bench/api_floor.py``), takes the same load first, and each Ratebook figure is printed
with its ratio to the floor's."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from shaped import ShapedInputs, generate

HERE = Path(__file__).parent
LOAD = [sys.executable, str(HERE / "api_load.py")]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"the server at {url} did not become ready")
        time.sleep(0.2)


def _load(mode: str, url: str, key: str, prefixes: Path, *extra: str) -> str:
    """Run one load mode; its line of figures."""
    return subprocess.run(
        [*LOAD, mode, "--url", url, "--key", key, "--prefixes", str(prefixes), *extra],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def _show(line: str, note: str = "") -> str:
    print(f"  {line}{note}", flush=True)
    return line


def _figure(line: str, pattern: str) -> float:  # float-ok: a timing or a rate
    found = re.search(pattern, line)
    return float(found.group(1).replace(",", "")) if found else float("nan")  # float-ok


def _p99(line: str) -> float:  # float-ok: milliseconds
    return _figure(line, r"p99 ([\d.]+) ms")


def _per_second(line: str) -> float:  # float-ok: a rate
    return _figure(line, r"([\d,]+)/s,")


def _ratebook(db: str, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "ratebook", "--db", db, *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "RATEBOOK_EVENT_DAYS_BACK": "36500"},
    ).stdout.strip()


def api_bench(work: Path, stores: list[tuple[str, str]], month_rows: int) -> None:
    """Set up each store, serve it, and print the figures."""
    inputs = generate(work / "input", month_rows)
    prefixes = work / "prefixes.txt"
    deck = (inputs.table.parent / "standard-deck.csv").read_text().splitlines()[1:]
    prefixes.write_text("\n".join(sorted({row.split(",", 1)[0] for row in deck})))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    floor = subprocess.Popen(
        [sys.executable, str(HERE / "api_floor.py"), str(port)], stderr=subprocess.DEVNULL
    )
    try:
        _wait_ready(url)
        print("\nAPI floor: a FastAPI route answering a constant, the same load:")
        floors = {
            "quotes": _p99(_show(_load("quotes", url, "-", prefixes, "--rate", "200"))),
            "rate": _per_second(
                _show(_load("quote-throughput", url, "-", prefixes, "--seconds", "5"))
            ),
            "events": _p99(_show(_load("events", url, "-", prefixes, "--rate", "500"))),
        }
    finally:
        floor.terminate()
        floor.wait(timeout=30)
    for label, db in stores:
        _serve_and_load(label, db, inputs, prefixes, floors)


def _as_autovacuum_would(db: str) -> None:
    """On PostgreSQL, vacuum the month just loaded, as autovacuum does after a bulk load on a
    server that runs it (the default; a bench server may not): the visibility map it sets
    lets placing, quotes and the ledger check read ``ix_rated_charges_place`` alone. Then a
    checkpoint, so that the load is measured after the server has written the month out
    rather than while it does (where the bench's role may not checkpoint, the server's own
    checkpoint comes when it comes)."""
    if not db.startswith("postgresql"):
        return
    import psycopg

    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            "VACUUM (ANALYZE) usage_records, record_keys, rated_charges, ledger_postings,"
            " usage_totals"
        )
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute("CHECKPOINT")


def _serve_and_load(
    label: str,
    db: str,
    inputs: ShapedInputs,
    prefixes: Path,
    floors: dict[str, float],  # float-ok: timings and rates
) -> None:
    began = time.monotonic()
    _ratebook(db, "init", "--entity", "BENCH")
    _ratebook(db, "rates", "import", str(inputs.table))
    _ratebook(db, "customers", "import", str(inputs.customers))
    _ratebook(db, "ingest", "--format", "generic", str(inputs.cdrs))
    _as_autovacuum_would(db)
    key = _ratebook(db, "keys", "create", "bench", "--scope", "ingest,read")
    rows = inputs.rows
    print(
        f"\nAPI on {label}, one worker, holding {rows:,} random-time records of October 2026"
        f" (set up in {time.monotonic() - began:.0f}s):",
        flush=True,
    )
    server, url = _serve(db, 1)
    try:
        _load("quotes", url, key, prefixes, "--rate", "10", "--seconds", "5")  # warm-up
        line = _load("quotes", url, key, prefixes, "--rate", "200")
        _show(line, f" ({_p99(line) / floors['quotes']:.1f}x the floor's p99; target p99 <= 5 ms)")
        line = _load("quote-throughput", url, key, prefixes, "--seconds", "5")
        _show(
            line,
            f" ({_per_second(line) / floors['rate']:.2f}x the floor's rate; target >= 1,000/s)",
        )
        line = _load("events", url, key, prefixes, "--rate", "500")
        _show(line, f" ({_p99(line) / floors['events']:.1f}x the floor's p99; target p99 <= 50 ms)")
        line = _load("batch", url, key, prefixes, "--count", "10", "--size", "1000")
        _show(line, " (target >= 20,000 events/s)")
        _show(_load("backdated", url, key, prefixes, "--count", "50"))
        _show(_load("flood", url, key, prefixes, "--seconds", "5"))
    finally:
        server.terminate()
        server.wait(timeout=30)
    _show(_group_costs(db, prefixes))
    print(f"API on {label}, serve --workers 2:", flush=True)
    server, url = _serve(db, 2)
    try:
        _load("quotes", url, key, prefixes, "--rate", "10", "--seconds", "5")  # warm-up
        line = _load("quote-throughput", url, key, prefixes, "--seconds", "5")
        _show(line, f" ({_per_second(line) / floors['rate']:.2f}x the one-worker floor's rate)")
        line = _load("events", url, key, prefixes, "--rate", "500")
        _show(line, f" ({_p99(line) / floors['events']:.1f}x the floor's p99)")
    finally:
        server.terminate()
        server.wait(timeout=30)


def _group_costs(db: str, prefixes: Path) -> str:
    """The writer's cost per group commit, in process (``bench/api_groups.py``)."""
    return subprocess.run(
        [sys.executable, str(HERE / "api_groups.py"), "--db", db, "--prefixes", str(prefixes)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "RATEBOOK_EVENT_DAYS_BACK": "36500"},
    ).stdout.strip()


def _serve(db: str, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    """``ratebook serve`` on a free port with ``workers`` processes, once it answers."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "ratebook", "--db", db, "serve", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--workers", str(workers), "--no-feeds"],
        stderr=subprocess.DEVNULL,
        env={**os.environ, "RATEBOOK_EVENT_DAYS_BACK": "36500"},
    )
    _wait_ready(url)
    return server, url
