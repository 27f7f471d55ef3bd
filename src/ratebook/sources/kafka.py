"""The Kafka client (confluent-kafka) as the stream consumer uses it: a consumer that never
commits on its own, messages as ``StreamMessage``, dead letters, and each partition's high
watermark for the lag."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, Producer
from confluent_kafka import TopicPartition as KafkaPartition

from ratebook.model.stream import FIXED, StreamConfig
from ratebook.sources.messages import StreamMessage

__all__ = [
    "Consumer",
    "DeadLetters",
    "commit_async",
    "consumer",
    "high_watermarks",
    "poll",
    "seek",
]

log = logging.getLogger(__name__)


class _OncePerMinute(logging.Filter):
    """Lets each distinct client line through once a minute: a broker that is down is told
    once, not at every reconnect attempt."""

    def __init__(self) -> None:
        super().__init__()
        self._last: dict[str, float] = {}  # float-ok: a clock

    def filter(self, record: logging.LogRecord) -> bool:
        key = re.sub(r"\(after \d+ms[^)]*\)|\d+", "", record.getMessage())
        now = time.monotonic()
        if now - self._last.get(key, -60.0) < 60:
            return False
        self._last[key] = now
        return True


_CLIENT_LOG = logging.getLogger("ratebook.kafka.client")
_CLIENT_LOG.addFilter(_OncePerMinute())


def _quiet(client: dict[str, Any]) -> dict[str, Any]:
    """librdkafka's own log lines through Python's logging (each once a minute), not on
    stderr."""
    return {"logger": _CLIENT_LOG, **client}


def consumer(
    config: StreamConfig,
    on_assign: Callable[[list[tuple[str, int]]], dict[tuple[str, int], int | None]],
    on_revoke: Callable[[list[tuple[str, int]]], None],
) -> Consumer:
    """A subscribed consumer. ``on_assign`` gets the partitions given to this member and
    answers where each starts (None: at the earliest offset); ``on_revoke`` is told of those
    taken away (and of every one when the member leaves)."""
    client = Consumer(
        _quiet(
            {
                "bootstrap.servers": config.bootstrap,
                "group.id": config.group,
                **config.client,
                **FIXED,
            }
        )
    )

    def assigned(c: Consumer, partitions: list[KafkaPartition]) -> None:
        starts = on_assign([(p.topic, p.partition) for p in partitions])
        for p in partitions:
            start = starts.get((p.topic, p.partition))
            p.offset = OFFSET_BEGINNING if start is None else start
        c.assign(partitions)

    def revoked(c: Consumer, partitions: list[KafkaPartition]) -> None:
        on_revoke([(p.topic, p.partition) for p in partitions])

    client.subscribe(list(config.topics), on_assign=assigned, on_revoke=revoked, on_lost=revoked)
    return client


def poll(client: Consumer, config: StreamConfig) -> list[StreamMessage]:
    """The next messages (at most a batch, waiting at most the batch wait); broker errors
    other than the end of a partition are logged (the client retries them itself)."""
    found: list[StreamMessage] = []
    for m in client.consume(config.batch_size, config.batch_wait):
        error = m.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                log.warning("kafka: %s", error.str())
            continue
        found.append(_message(m))
    return found


def _message(m: Message) -> StreamMessage:
    headers: dict[str, bytes] = {}
    given = m.headers() or []
    pairs = given.items() if isinstance(given, dict) else given
    for name, value in pairs:
        headers[name] = value if isinstance(value, bytes) else (value or "").encode()
    value = m.value()
    return StreamMessage(
        topic=str(m.topic()),
        partition=int(m.partition() or 0),
        offset=int(m.offset() or 0),
        value=value if isinstance(value, bytes | None) else value.encode(),
        headers=headers,
    )


def commit_async(client: Consumer, positions: dict[tuple[str, int], int]) -> None:
    """Tell the broker the positions stored, for monitoring tools (the store is the truth)."""
    if positions:
        client.commit(
            offsets=[KafkaPartition(t, p, o) for (t, p), o in positions.items()],
            asynchronous=True,
        )


def high_watermarks(
    client: Consumer, partitions: list[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    """Each partition's next offset to be written, as the last fetch response said (no
    round trip to the broker)."""
    marks: dict[tuple[str, int], int] = {}
    for topic, partition in partitions:
        try:
            _, high = client.get_watermark_offsets(KafkaPartition(topic, partition), cached=True)
        except Exception as error:  # a broker that is away: the lag is unknown for now
            log.info("kafka: no watermark of %s:%s: %s", topic, partition, error)
        else:
            marks[(topic, partition)] = int(high)
    return marks


class DeadLetters:
    """Sends messages no entity takes to the dead-letter topic, synchronously: they are on
    the broker before the batch that skips them commits."""

    def __init__(self, config: StreamConfig) -> None:
        self.topic = config.dead_letter_topic
        self._producer: Producer | None = None
        self._config = config

    def send(self, messages: list[tuple[StreamMessage, str]]) -> None:
        """Produce each message with its headers and a ``ratebook-error`` header.

        Raises:
            RuntimeError: a message was not acknowledged (the batch must not commit).
        """
        if not messages:
            return
        if self.topic is None:
            raise RuntimeError("no dead-letter topic")  # StreamConfig requires one
        if self._producer is None:
            self._producer = Producer(
                _quiet({"bootstrap.servers": self._config.bootstrap, "enable.idempotence": True})
            )
        failures: list[str] = []

        def delivered(error: KafkaError | None, _: Message) -> None:
            if error is not None:
                failures.append(error.str())

        for message, why in messages:
            headers: list[tuple[str, str | bytes | None]] = [
                *message.headers.items(),
                ("ratebook-error", why.encode()),
                ("ratebook-source", message.where.encode()),
            ]
            self._producer.produce(
                self.topic, value=message.value, headers=headers, on_delivery=delivered
            )
        left = self._producer.flush(30)
        if left or failures:
            raise RuntimeError(
                f"dead-letter topic {self.topic!r}: {left or len(failures)} message(s) not"
                f" acknowledged ({failures[0] if failures else 'timed out'})"
            )


def seek(client: Consumer, partition: tuple[str, int], offset: int | None) -> None:
    """Read ``partition`` again from ``offset`` (None: the earliest)."""
    topic, number = partition
    start = OFFSET_BEGINNING if offset is None else offset
    try:
        client.seek(KafkaPartition(topic, number, start))
    except Exception as error:  # not fetching yet: the assignment's own start holds
        log.info("kafka: seek %s:%s to %s deferred: %s", topic, number, start, error)
