"""``ratebook consume`` as operators run it, against a real broker on both stores: killed with
SIGKILL at random points and started again, or sharing a topic with a member that joins and
one that leaves. Every event is applied exactly once, and the stored positions are the
topic's ends."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from ratebook.store import stream_offsets
from ratebook.store.tables import usage_records
from tests.conftest import one_customer
from tests.stream.conftest import FAST_GROUP, Broker
from tests.stream.test_consume import START, charges

EVENTS = 240
PARTITIONS = 3


def _seconds(n: int) -> int:
    return 1 + (n * 37) % 400


def expected_charges() -> dict[str, int]:
    """Each event's charge by hand: RM0.0300 a started minute, at 6 places."""
    return {f"k{n}": -(-_seconds(n) // 60) * 30_000 for n in range(EVENTS)}


def _produce(broker: Broker, topic: str, numbers: range) -> None:
    broker.produce(
        topic,
        [
            (
                f"A{n % 7}".encode(),
                json.dumps(
                    {
                        "record_id": f"k{n}",
                        "start_time": START,
                        "quantity": _seconds(n),
                        "account": "A",
                        "destination": "+60312345678",
                    }
                ).encode(),
                None,
            )
            for n in numbers
        ],
    )


#: The consumers started, so that a test or a campaign trial that fails stops them too.
STARTED: list[subprocess.Popen[bytes]] = []


def stop_members() -> None:
    """Kill every consumer still running and reap it."""
    while STARTED:
        member = STARTED.pop()
        if member.poll() is None:
            member.kill()
        member.communicate()


@pytest.fixture(autouse=True)
def _members_stopped() -> Iterator[None]:
    yield
    stop_members()


def _consumer(url: str, broker: Broker, topic: str, *more: str) -> subprocess.Popen[bytes]:
    client = [f"--client={k}={v}" for k, v in FAST_GROUP.items()]
    member = subprocess.Popen(
        [sys.executable, "-m", "ratebook", "--db", url, "consume", "--topic", topic,
         "--group", f"g-{topic}", "--bootstrap-servers", broker.bootstrap, "--entity", "MY1",
         "--batch-size", "15", "--batch-wait", "0.1", *client, *more],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    STARTED.append(member)
    return member


def _records(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(usage_records)).scalar_one())


def _positions(engine: Engine, topic: str) -> dict[int, int]:
    with engine.connect() as conn:
        return {
            int(p["partition"]): int(p["next_offset"])  # type: ignore[call-overload]
            for p in stream_offsets.stored_positions(conn, f"g-{topic}")
            if p["next_offset"] is not None  # a partition no message went to
        }


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@dataclass
class KillTrial:
    """What a stream held after its consumers were killed and one ran to the end."""

    charges: dict[str, int]
    records: int
    positions: dict[int, int]
    ends: dict[int, int]
    last_exit: int
    last_errors: str


def kill_trial(engine: Engine, folder: Path, broker: Broker, seed: int, kills: int) -> KillTrial:
    """Events produced in ``kills`` shares, each share met by a new member killed with
    SIGKILL at a random point, then one member left to run until the stream is quiet."""
    one_customer(engine, folder)
    topic = broker.topic(PARTITIONS)
    chance = random.Random(seed)
    share = EVENTS // kills
    for trial in range(kills):  # each member finds new events, and is killed at a random point
        numbers = range(trial * share, EVENTS if trial == kills - 1 else (trial + 1) * share)
        _produce(broker, topic, numbers)
        member = _consumer(_url(engine), broker, topic, "--batch-size", "4")
        time.sleep(chance.uniform(0.8, 3.0))
        member.send_signal(signal.SIGKILL)
        member.communicate(timeout=10)  # reaps it and closes its pipes
    last = _consumer(_url(engine), broker, topic, "--stop-when-idle", "4")
    _, err = last.communicate(timeout=120)
    return KillTrial(
        charges=charges(engine),
        records=_records(engine),
        positions=_positions(engine, topic),
        ends=broker.ends(topic, EVENTS),
        last_exit=last.returncode,
        last_errors=err.decode(),
    )


@pytest.mark.slow
def test_a_consumer_killed_at_random_points_applies_each_event_once(
    my_engine: Engine, tmp_path: Path, broker: Broker
) -> None:
    seed = zlib.crc32(f"{os.environ.get('PYTEST_XDIST_WORKER', '')}{tmp_path}".encode())
    found = kill_trial(my_engine, tmp_path, broker, seed, kills=5)
    assert found.last_exit == 0, found.last_errors
    assert found.charges == expected_charges()
    assert found.records == len(found.charges)  # no record stored twice
    assert found.positions == found.ends


@pytest.mark.slow
def test_members_joining_and_leaving_lose_and_double_nothing(
    my_engine: Engine, tmp_path: Path, broker: Broker
) -> None:
    one_customer(my_engine, tmp_path)
    topic = broker.topic(PARTITIONS)
    first = _consumer(_url(my_engine), broker, topic, "--stop-when-idle", "6")
    _produce(broker, topic, range(EVENTS // 3))
    time.sleep(2)
    second = _consumer(_url(my_engine), broker, topic)  # joins mid-stream
    _produce(broker, topic, range(EVENTS // 3, 2 * EVENTS // 3))
    time.sleep(4)
    # the newcomer leaves cleanly after its batch (tansu, unlike Kafka, never completes a
    # rebalance after the group's leader leaves, so the first member stays)
    second.send_signal(signal.SIGTERM)
    _, err = second.communicate(timeout=30)
    assert second.returncode == 0, err.decode()
    _produce(broker, topic, range(2 * EVENTS // 3, EVENTS))
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err.decode()
    assert charges(my_engine) == expected_charges()
    assert _records(my_engine) == EVENTS
    assert _positions(my_engine, topic) == broker.ends(topic, EVENTS)
