"""The console's exception queue over a long queue, on each store: ``ratebook serve``
started as a user would, a user signed in, and the queue's pages timed when the entity holds
fifty exceptions and again when it holds a million (the same rows repeated in SQL), so the
ratio says how a page's cost grows with the queue."""

from __future__ import annotations

import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from commands import ratebook_rss
from sqlalchemy import text

from ratebook.store.engine import open_store

PASSWORD = "bench password"
#: Fifty pending exceptions of three codes: unmatched accounts, calls to an unrated prefix,
#: and rows that are not records.
SEED = "record_id,start_time,quantity,account,destination\n" + "".join(
    f"x{i},2026-10-{1 + i % 28:02d}T10:00:00+08:00,"
    + (
        "60,NOBODY,+60312345678\n"
        if i % 3 == 0
        else "60,A,+99912345\n"
        if i % 3 == 1
        else "-5,A,+60312345678\n"
    )
    for i in range(50)
)
DECK = "prefix,destination,rate\n60,Malaysia,0.0300\n"
CUSTOMERS = "account,name,rate_table,numbers\nA,A,standard,\n"
PAGES = {
    "queue, first page": "/e/BENCH/exceptions",
    "queue, by code": "/e/BENCH/exceptions?code=NO_RATE",
    "queue, by text": "/e/BENCH/exceptions?text=nobody",
    "queue, a deep page": "/e/BENCH/exceptions?before={middle}",
    "overview": "/e/BENCH",
}


def _repeat(db: str, total: int) -> int:
    """Repeat the entity's exceptions in SQL until it holds ``total``; the middle id."""
    engine = open_store(db)
    try:
        with engine.begin() as conn:
            have = conn.execute(text("SELECT count(*) FROM exceptions")).scalar_one()
            times = total // have - 1
            series = (
                "SELECT generate_series(1, :n) AS i"
                if conn.dialect.name == "postgresql"
                else "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n)"
                " SELECT i FROM s"
            )
            columns = (
                "entity_id, batch_id, code, sub_code, field, reason, status, origin, record_pk,"
                " period, source_sha256, source_line, raw, payload, created_at"
            )
            conn.execute(
                text(
                    f"INSERT INTO exceptions ({columns}, record_id)"
                    f" SELECT {columns}, record_id || '-' || n.i FROM exceptions,"
                    f" ({series}) AS n"
                ),
                {"n": times},
            )
            if conn.dialect.name == "postgresql":
                conn.execute(text("ANALYZE exceptions"))
            low, high = conn.execute(text("SELECT min(id), max(id) FROM exceptions")).one()
        return int((low + high) // 2)
    finally:
        engine.dispose()


def _serve(db: str, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "ratebook", "--db", db, "serve", "--port", str(port), "--no-feeds"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=(folder / "serve.log").open("ab"),
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return server, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("ratebook serve did not start")


def _timed_pages(url: str, middle: int) -> dict[str, float]:
    """The median seconds of five loads of each page, signed in."""
    with httpx.Client(base_url=url, timeout=120) as client:
        form = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
        assert form is not None
        client.post(
            "/login", data={"csrf": form.group(1), "username": "bench", "password": PASSWORD}
        )
        found = {}
        for name, path in PAGES.items():
            times = []
            for _ in range(5):
                began = time.perf_counter()
                answer = client.get(path.format(middle=middle))
                times.append(time.perf_counter() - began)
                assert answer.status_code == 200, (path, answer.status_code)
            found[name] = statistics.median(times)
    return found


def console_bench(work: Path, stores: list[tuple[str, str]], total: int) -> None:
    """Time the queue's pages with fifty exceptions and with ``total``, on each store."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "seed.csv").write_text(SEED)
    (work / "deck.csv").write_text(DECK)
    (work / "customers.csv").write_text(CUSTOMERS)
    print(
        f"\nconsole: the exception queue's pages, 50 exceptions and {total:,}"
        " (bench/console_part.py)"
    )
    for name, db in stores:
        for args in (
            ("init", "--entity", "BENCH"),
            (
                "rates",
                "import",
                str(work / "deck.csv"),
                "--name",
                "standard",
                "--effective-from",
                "2026-01-01",
            ),
            ("customers", "import", str(work / "customers.csv")),
            ("ingest", str(work / "seed.csv")),
        ):
            ratebook_rss(db, *args)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "ratebook",
                "--db",
                db,
                "users",
                "create",
                "bench",
                "--role",
                "admin",
                "--password-stdin",
            ],
            input=f"{PASSWORD}\n",
            text=True,
            check=True,
            capture_output=True,
            cwd=work,
        )
        figures = []
        for size in (50, total):
            middle = _repeat(db, size) if size > 50 else 1
            server, url = _serve(db, work)
            try:
                figures.append(_timed_pages(url, middle))
            finally:
                server.terminate()
                server.wait(timeout=30)
        small, large = figures
        for page in PAGES:
            print(
                f"  {name:10} {page:20} {small[page] * 1000:7.1f} ms with 50,"
                f" {large[page] * 1000:7.1f} ms with {total:,}"
                f" ({large[page] / small[page]:.1f}x)"
            )
