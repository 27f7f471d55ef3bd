"""The API load generator of ``make bench``, run as its own process against a live server.

Events are drawn like the shaped month the store holds (``bench/shaped.py``): one of the 20,000
customers, a destination under one of the deck's prefixes, a start at a random second of
October 2026. Each mode prints one line of figures:

- ``quotes``, ``events``: ``POST /v1/rate`` or single-event ``POST /v1/events`` at a fixed
  rate (open loop: each request's latency is counted from when it was due, so a slow server
  cannot hide its queue), percentiles;
- ``quote-throughput``: quotes from many connections as fast as they are answered;
- ``batch``: batches of events into the month, events per second;
- ``backdated``: single events on untiered rows, one at the month's end and one back-dated to
  its start in turn, the median of each;
- ``flood``: ``/healthz`` idle, then under a flood of unauthenticated 15 MB bodies and of
  quotes from a read key, p99 of each.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

_ids = itertools.count()
RUN = uuid.uuid4().hex[:8]
_rng = random.Random(7)


class Draw:
    """Events like the shaped month's."""

    def __init__(self, prefixes: list[str]) -> None:
        self.prefixes = prefixes
        self.untiered = [p for p in prefixes if not p.startswith("60")] or prefixes

    def event(self, *, day: int | None = None, untiered: bool = False) -> dict[str, object]:
        n = next(_ids)
        pool = self.untiered if untiered else self.prefixes
        when = _rng.randrange(31 * 86_400) if day is None else (day - 1) * 86_400 + 36_000
        d, rest = divmod(when, 86_400)
        return {
            "record_id": f"{RUN}-{n}",
            "start_time": (
                f"2026-10-{d + 1:02d}T{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
                "+08:00"
            ),
            "quantity": 1 + _rng.randrange(900),
            "account": f"C{_rng.randrange(20_000):05d}",
            "destination": f"+{_rng.choice(pool)}{_rng.randrange(10_000):04d}",
        }

    def quote(self) -> dict[str, object]:
        event = self.event()
        del event["record_id"]
        return event


def _percentile(sorted_values: list[float], share: float) -> float:  # float-ok: timings
    index = min(len(sorted_values) - 1, int(share * len(sorted_values)))
    return sorted_values[index]


class _Connection:
    """One keep-alive HTTP/1.1 connection: a minimal client, so the load process measures the
    server rather than its own HTTP library."""

    def __init__(self, host: str, port: int, key: str | None) -> None:
        self.host, self.port, self.key = host, port, key
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: object = None) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        data = b"" if body is None else json.dumps(body).encode()
        auth = f"Authorization: Bearer {self.key}\r\n" if self.key else ""
        self.writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{auth}"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode()
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


def _ms(took: list[float]) -> str:  # float-ok: timings
    took = sorted(took)
    p50, p90, p99 = (1000 * _percentile(took, p) for p in (0.5, 0.9, 0.99))
    return f"p50 {p50:.1f} ms, p90 {p90:.1f} ms, p99 {p99:.1f} ms, max {1000 * took[-1]:.1f} ms"


async def open_loop(url: str, key: str, path: str, rate: int, seconds: int, make: object) -> None:
    """Requests at ``rate`` a second, each timed from when it was due."""
    host, port = _address(url)
    idle: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(256):
        idle.put_nowait(_Connection(host, port, key))
    took: list[float] = []  # float-ok: timings
    errors = 0

    async def one(due: float) -> None:  # float-ok: a clock reading
        nonlocal errors
        connection = await idle.get()
        try:
            if await connection.request("POST", path, make()) != 200:  # type: ignore[operator]
                errors += 1
        except (OSError, asyncio.IncompleteReadError):
            errors += 1
            connection = _Connection(host, port, key)
        idle.put_nowait(connection)
        took.append(time.perf_counter() - due)

    began = time.perf_counter()
    tasks = []
    for i in range(rate * seconds):
        due = began + i / rate
        pause = due - time.perf_counter()
        if pause > 0:
            await asyncio.sleep(pause)
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    print(f"{path} at {rate:,}/s for {seconds}s: {_ms(took)}, errors {errors}")


async def closed_loop(url: str, key: str, workers: int, seconds: int, draw: Draw) -> None:
    """Quotes from ``workers`` connections, each sending its next when answered."""
    host, port = _address(url)
    done = errors = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done, errors
        connection = _Connection(host, port, key)
        while time.perf_counter() < stop:
            if await connection.request("POST", "/v1/rate", draw.quote()) == 200:
                done += 1
            else:
                errors += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    rate = done / (time.perf_counter() - began)
    print(f"quotes from {workers} connections: {rate:,.0f}/s, errors {errors}")


async def batches(url: str, key: str, count: int, size: int, draw: Draw) -> None:
    host, port = _address(url)
    connection = _Connection(host, port, key)
    bodies = [[draw.event() for _ in range(size)] for _ in range(count)]
    began = time.perf_counter()
    for body in bodies:
        status = await connection.request("POST", "/v1/events", body)
        if status != 200:
            raise SystemExit(f"a batch was answered HTTP {status}")
    events = count * size / (time.perf_counter() - began)
    print(f"batches of {size:,} random-time events: {events:,.0f} events/s")


async def backdated(url: str, key: str, count: int, draw: Draw) -> None:
    host, port = _address(url)
    connection = _Connection(host, port, key)
    took: dict[int, list[float]] = {31: [], 2: []}  # float-ok: timings
    for n in range(2 * count):
        day = 31 if n % 2 == 0 else 2
        began = time.perf_counter()
        status = await connection.request("POST", "/v1/events", draw.event(day=day, untiered=True))
        if status != 200:
            raise SystemExit(f"an event was answered HTTP {status}")
        took[day].append(time.perf_counter() - began)
    now, back = (sorted(took[d])[count // 2] * 1000 for d in (31, 2))
    print(
        f"untiered single events: at the month's end median {now:.1f} ms, back-dated to its"
        f" start {back:.1f} ms ({back / now:.2f}x)"
    )


async def flood(url: str, key: str, seconds: int, draw: Draw) -> None:
    host, port = _address(url)

    async def probe(stop: float) -> list[float]:  # float-ok: timings
        connection = _Connection(host, port, None)
        took = []
        while time.perf_counter() < stop:
            began = time.perf_counter()
            await connection.request("GET", "/healthz")
            took.append(time.perf_counter() - began)
            await asyncio.sleep(0.005)
        return took

    idle = await probe(time.perf_counter() + seconds)
    stop = time.perf_counter() + seconds

    async def unauthenticated() -> None:
        body = b"x" * (15 * 1024 * 1024)
        while time.perf_counter() < stop:
            try:
                reader, writer = await asyncio.open_connection(host, port)
                writer.write(
                    b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                )
                writer.write(body[: 1024 * 1024])
                await reader.readuntil(b"\r\n\r\n")
                writer.close()
            except (OSError, asyncio.IncompleteReadError):
                pass

    async def quotes() -> None:
        connection = _Connection(host, port, key)
        while time.perf_counter() < stop:
            await connection.request("POST", "/v1/rate", draw.quote())

    flooding = [asyncio.create_task(unauthenticated()) for _ in range(4)]
    flooding += [asyncio.create_task(quotes()) for _ in range(16)]
    busy = await probe(stop)
    await asyncio.gather(*flooding)
    idle_p99 = _percentile(sorted(idle), 0.99) * 1000
    busy_p99 = _percentile(sorted(busy), 0.99) * 1000
    print(
        f"/healthz p99 idle {idle_p99:.1f} ms, under an unauthenticated and a quote flood"
        f" {busy_p99:.1f} ms ({busy_p99 / idle_p99:.1f}x idle; target at most 10x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "mode",
        choices=["quotes", "events", "quote-throughput", "batch", "backdated", "flood"],
    )
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--prefixes", type=Path, required=True, help="one deck prefix a line")
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--size", type=int, default=1_000)
    args = parser.parse_args()
    draw = Draw(args.prefixes.read_text().split())
    if args.mode == "quotes":
        job = open_loop(args.url, args.key, "/v1/rate", args.rate, args.seconds, draw.quote)
    elif args.mode == "events":
        job = open_loop(args.url, args.key, "/v1/events", args.rate, args.seconds, draw.event)
    elif args.mode == "quote-throughput":
        job = closed_loop(args.url, args.key, args.workers, args.seconds, draw)
    elif args.mode == "batch":
        job = batches(args.url, args.key, args.count, args.size, draw)
    elif args.mode == "backdated":
        job = backdated(args.url, args.key, args.count, draw)
    else:
        job = flood(args.url, args.key, args.seconds, draw)
    asyncio.run(job)


if __name__ == "__main__":
    main()
