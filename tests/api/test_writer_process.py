"""``ratebook serve`` stores pushed events in a process of its own (``workflows.writer_process``):
concurrent pushes are each stored once at their places in the cycle, a writer process that
ended is started again, and it ends with the server, even a killed one.

Hand-worked prices (tests/api/conftest.py TIERED): calls to +60 cost RM0.1000 a minute for
the first 10 minutes of the customer's cycle, RM0.0500 a minute after.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from ratebook.money import AMOUNT_SCALE
from ratebook.store.tables import rated_charges, usage_records
from tests.api.conftest import Api
from tests.support.servers import ratebook_serve


@dataclass
class Served:
    url: str
    process: subprocess.Popen[str]


def _writer_of(server: int) -> int | None:
    """The spawned writer process of the server process ``server`` (from /proc)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == server and b"spawn_main" in command:
            return int(entry.name)
    return None


def _gone(pid: int, seconds: float) -> bool:  # float-ok: a wait
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return True
        if stat.rsplit(")", 1)[1].split()[0] == "Z":  # ended, not yet reaped by its parent
            return True
        time.sleep(0.05)
    return False


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + 60
    while httpx.get(f"{url}/readyz").status_code != 200:
        assert time.monotonic() < deadline, "the server did not become ready"
        time.sleep(0.1)


@pytest.fixture
def served(api: Api, db_url: str, tmp_path: Path) -> Iterator[Served]:
    with ratebook_serve(db_url, tmp_path, "--no-feeds") as (url, process):
        _wait_ready(url)  # the writer process has started and loaded its reference data
        yield Served(url, process)


def _call(n: int) -> dict[str, object]:
    return {
        "record_id": f"p{n}",
        "start_time": f"2026-10-{1 + n:02d}T10:00:00+08:00",
        "quantity": 60,
        "account": "ACME",
        "destination": "+60312345678",
    }


def _push(api: Api, url: str, events: list[dict[str, object]]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {api.keys['my']}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        return client.post("/v1/events", json=events)


def _stored(api: Api) -> tuple[int, int]:
    """Records, and the sum of the current charges in ten-thousandths of a ringgit."""
    per_ten_thousandth = 10 ** (AMOUNT_SCALE - 4)
    with api.store.connect() as conn:
        records = conn.execute(select(func.count()).select_from(usage_records)).scalar_one()
        charged = conn.execute(
            select(func.coalesce(func.sum(rated_charges.c.charge), 0)).where(
                rated_charges.c.superseded_by.is_(None)
            )
        ).scalar_one()
    return int(records), int(charged) // per_ten_thousandth


def test_concurrent_pushes_are_stored_once_by_the_writer_process(api: Api, served: Served) -> None:
    assert _writer_of(served.process.pid) is not None
    # twelve one-minute calls on twelve days, pushed at once in any order: whatever the
    # order they are stored in, the first ten minutes of the cycle cost RM0.1000 each and
    # the last two RM0.0500, RM1.1000 in all
    with ThreadPoolExecutor(max_workers=12) as pool:
        replies = list(pool.map(lambda n: _push(api, served.url, [_call(n)]), range(12)))
    assert [(r.status_code, r.json()["rated"]) for r in replies] == [(200, 1)] * 12
    assert _stored(api) == (12, 11_000)
    # a repeat is answered as a duplicate, never stored twice
    again = _push(api, served.url, [_call(3)])
    assert (again.status_code, again.json()["duplicates"]) == (200, 1)
    assert _stored(api) == (12, 11_000)


def test_a_writer_process_that_ended_is_started_again(api: Api, served: Served) -> None:
    first = _writer_of(served.process.pid)
    assert first is not None
    assert _push(api, served.url, [_call(0)]).status_code == 200
    os.kill(first, signal.SIGKILL)
    assert _gone(first, 10)
    time.sleep(0.5)  # the server notices the end of its idle writer
    reply = _push(api, served.url, [_call(1)])
    assert (reply.status_code, reply.json()["rated"]) == (200, 1), reply.text
    second = _writer_of(served.process.pid)
    assert second not in (None, first)
    assert _stored(api) == (2, 2_000)


def test_the_writer_process_ends_with_a_killed_server(api: Api, served: Served) -> None:
    writer = _writer_of(served.process.pid)
    assert writer is not None
    served.process.kill()
    served.process.wait(10)
    assert _gone(writer, 10), "the writer process outlived its server"


def test_without_a_writer_process_the_server_stores_pushes_itself(
    api: Api, db_url: str, tmp_path: Path
) -> None:
    off = {"RATEBOOK_API_WRITER_PROCESS": "false"}
    with ratebook_serve(db_url, tmp_path, "--no-feeds", env=off) as (url, process):
        assert _writer_of(process.pid) is None
        replies = [_push(api, url, [_call(n)]) for n in range(11)]
        assert [(r.status_code, r.json()["rated"]) for r in replies] == [(200, 1)] * 11
    # ten minutes at RM0.1000 and the eleventh at RM0.0500: RM1.0500
    assert _stored(api) == (11, 10_500)


def _cpu_ticks(pid: int) -> int:
    """The CPU time ``pid`` has used, in clock ticks (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_a_writer_killed_mid_group_stores_nothing_of_it_and_a_resend_stores_it_once(
    api: Api, served: Served
) -> None:
    writer = _writer_of(served.process.pid)
    assert writer is not None
    # 10,000 one-minute calls in one request (the most one may hold): the writer works on
    # them for a second or more, and is killed once it has spent a fifth of a second on them
    october = [
        {
            "record_id": f"k{n}",
            "start_time": f"2026-10-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:{n % 59:02d}+08:00",
            "quantity": 60,
            "account": "ACME",
            "destination": "+60312345678",
        }
        for n in range(10_000)
    ]
    idle = _cpu_ticks(writer)
    with ThreadPoolExecutor(max_workers=1) as pool:
        sent = pool.submit(_push, api, served.url, october)
        while _cpu_ticks(writer) < idle + os.sysconf("SC_CLK_TCK") // 5:
            assert not sent.done(), "the group was stored before the writer could be killed"
            time.sleep(0.005)
        os.kill(writer, signal.SIGKILL)
        refused = sent.result()
    assert refused.status_code == 503, refused.text[:200]
    assert refused.json()["code"] == "WRITER_RESTARTED"
    assert _stored(api) == (0, 0)  # its transaction rolled back with the process
    again = _push(api, served.url, october)
    assert (again.status_code, again.json()["rated"]) == (200, 10_000), again.text[:200]
    # 10,000 minutes: the first ten at RM0.1000, the rest at RM0.0500, RM500.5000 in all
    assert _stored(api) == (10_000, 5_005_000)
