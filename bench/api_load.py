"""The API load generator of ``make bench``, run as its own process against a live server.

Modes (each prints one line of figures):

- ``latency``: single-event pushes at a fixed rate (open loop: each request's latency is
  counted from when it was due, so a slow server cannot hide its queue), percentiles;
- ``throughput``: single-event pushes from many connections as fast as they are answered;
- ``batch``: batches of 10,000 events, events per second.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
import uuid
from urllib.parse import urlsplit

import httpx

_ids = itertools.count()
RUN = uuid.uuid4().hex[:8]


def _event(accounts: int) -> dict[str, object]:
    n = next(_ids)
    return {
        "record_id": f"{RUN}-{n}",
        "start_time": "2026-10-15T10:00:00+08:00",
        "quantity": 30 + n % 600,
        "account": f"C{n % accounts:05d}",
        "destination": "+60312345678",
    }


def _percentile(sorted_values: list[float], share: float) -> float:
    index = min(len(sorted_values) - 1, int(share * len(sorted_values)))
    return sorted_values[index]


class _Connection:
    """One keep-alive HTTP/1.1 connection that posts JSON and reads the answer: a minimal
    client, so the load process measures the server rather than its own HTTP library."""

    def __init__(self, host: str, port: int, key: str) -> None:
        self.host, self.port, self.key = host, port, key
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: object) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        data = json.dumps(body).encode()
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {self.key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n".encode()
            + data
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await self.reader.readexactly(length)
        return status


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


async def latency(url: str, key: str, rate: int, seconds: float, accounts: int) -> None:
    host, port = _address(url)
    idle: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(256):
        idle.put_nowait(_Connection(host, port, key))
    took: list[float] = []
    errors = 0

    async def one(due: float) -> None:
        nonlocal errors
        connection = await idle.get()
        try:
            if await connection.post("/v1/events", _event(accounts)) != 200:
                errors += 1
        except (OSError, asyncio.IncompleteReadError):
            errors += 1
            connection = _Connection(host, port, key)
        idle.put_nowait(connection)
        took.append(time.perf_counter() - due)

    began = time.perf_counter()
    tasks = []
    for i in range(int(rate * seconds)):
        due = began + i / rate
        pause = due - time.perf_counter()
        if pause > 0:
            await asyncio.sleep(pause)
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - began
    took.sort()
    ms = [1000 * _percentile(took, p) for p in (0.5, 0.9, 0.99)]
    print(
        f"single event at {rate:,}/s for {seconds:.0f}s: sent {len(took):,} in {elapsed:.1f}s,"
        f" p50 {ms[0]:.1f} ms, p90 {ms[1]:.1f} ms, p99 {ms[2]:.1f} ms,"
        f" max {1000 * took[-1]:.1f} ms, errors {errors}   (target p99 <= 10 ms:"
        f" {10 / ms[2]:.2f}x)"
    )


async def throughput(url: str, key: str, workers: int, seconds: float, accounts: int) -> None:
    host, port = _address(url)
    done = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        connection = _Connection(host, port, key)
        while time.perf_counter() < stop:
            status = await connection.post("/v1/events", _event(accounts))
            if status != 200:
                raise SystemExit(f"HTTP {status}")
            done += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    elapsed = time.perf_counter() - began
    print(
        f"single-event throughput, {workers} connections: {done / elapsed:,.0f} requests/s"
        f"   (1,000/s wanted at p99 <= 10 ms: {done / elapsed / 1000:.2f}x)"
    )


def batch(url: str, key: str, batches: int, size: int, accounts: int) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=300) as c:
        bodies = [[_event(accounts) for _ in range(size)] for _ in range(batches)]
        began = time.perf_counter()
        for body in bodies:
            reply = c.post("/v1/events", json=body)
            reply.raise_for_status()
            if reply.json()["rated"] != size:
                raise SystemExit(f"batch not fully rated: {reply.json()['exceptions']} exceptions")
        elapsed = time.perf_counter() - began
    events = batches * size
    print(
        f"batch ingest, {batches} x {size:,} events: {events / elapsed:,.0f} events/s"
        f"   (target 100,000/s: {events / elapsed / 100_000:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["latency", "throughput", "batch"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--accounts", type=int, default=200)
    args = parser.parse_args()
    if args.mode == "latency":
        asyncio.run(latency(args.url, args.key, args.rate, args.seconds, args.accounts))
    elif args.mode == "throughput":
        asyncio.run(throughput(args.url, args.key, args.workers, args.seconds, args.accounts))
    else:
        batch(args.url, args.key, args.batches, args.size, args.accounts)


if __name__ == "__main__":
    main()
