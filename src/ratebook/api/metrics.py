"""Prometheus metrics of one app: events rated, exceptions by code, request latency.

Each app owns its registry (no process globals), so two apps in one process, as in tests,
count apart.
"""

from __future__ import annotations

import time
from collections import Counter as Tally

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Latency buckets in seconds, fine below 10 ms where the single-event target is.
_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Metrics:
    """The app's counters and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.rated = Counter(
            "ratebook_events_rated",
            "Events and rows rated into new records.",
            ["entity"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "ratebook_events_duplicate",
            "Events and rows that repeated one already received.",
            ["entity"],
            registry=self.registry,
        )
        self.exceptions = Counter(
            "ratebook_exceptions",
            "Events and rows sent to the exception queue, by code.",
            ["entity", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "ratebook_http_request_duration_seconds",
            "Time to answer a request, by route and status.",
            ["method", "route", "status"],
            buckets=_BUCKETS,
            registry=self.registry,
        )

        self.group_requests = Histogram(
            "ratebook_event_group_requests",
            "Requests to POST /v1/events stored together in one transaction (group commit).",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
            registry=self.registry,
        )

    def counted(self, entity: str, rated: int, duplicates: int, by_code: Tally[str]) -> None:
        """Add an ingest's outcome."""
        if rated:
            self.rated.labels(entity).inc(rated)
        if duplicates:
            self.duplicates.labels(entity).inc(duplicates)
        for code, count in by_code.items():
            self.exceptions.labels(entity, code).inc(count)

    def exposition(self, streams: list[dict[str, object]] | None = None) -> bytes:
        """The text format Prometheus scrapes, with each stream partition's gauges as the
        store has them (``stream_statuses``)."""
        text = generate_latest(self.registry)
        if not streams:
            return text
        registry = CollectorRegistry(auto_describe=True)
        labels = ["group", "topic", "partition"]
        gauges = {
            "next_offset": Gauge(
                "ratebook_stream_next_offset",
                "The next offset to apply, as stored.",
                labels,
                registry=registry,
            ),
            "lag": Gauge(
                "ratebook_stream_lag",
                "Messages behind the partition's end when its last batch was applied.",
                labels,
                registry=registry,
            ),
            "events_per_second": Gauge(
                "ratebook_stream_events_per_second",
                "The partition's last batch: its messages over its time in the store.",
                labels,
                registry=registry,
            ),
            "batch_ms": Gauge(
                "ratebook_stream_batch_seconds",
                "Time in the store of the partition's last batch.",
                labels,
                registry=registry,
            ),
        }
        for row in streams:
            key = (str(row["group_id"]), str(row["topic"]), str(row["partition"]))
            if row["next_offset"] is not None:
                gauges["next_offset"].labels(*key).set(int(str(row["next_offset"])))
            if row["lag"] is not None:
                gauges["lag"].labels(*key).set(int(str(row["lag"])))
            if row["events_per_second"] is not None:
                gauges["events_per_second"].labels(*key).set(int(str(row["events_per_second"])))
            if row["batch_ms"] is not None:
                gauges["batch_ms"].labels(*key).set(int(str(row["batch_ms"])) / 1000)
        return text + generate_latest(registry)


class LatencyMiddleware:
    """Times every HTTP request into ``ratebook_http_request_duration_seconds``, labelled by
    the route's template (not the raw path, whose ids would explode the label set)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def remember(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, remember)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.latency.labels(scope["method"], template, str(status)).observe(
                time.perf_counter() - started
            )
