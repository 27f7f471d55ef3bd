"""How a stream consumer reads: its brokers, topics, group and entity, checked before it
connects."""

from __future__ import annotations

from dataclasses import dataclass, field

from ratebook.errors import ConfigError

#: Client settings the consumer's exactly-once effect depends on: never overridden.
FIXED = {
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "auto.offset.reset": "earliest",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamConfig:
    """Where a consumer reads and how.

    Attributes:
        bootstrap: ``host:port[,host:port]`` of the brokers.
        topics: the topics read.
        group: the consumer group: its members share the topics' partitions.
        entity: the entity of every event; None reads it from ``entity_header``.
        entity_header: the header naming a message's entity when ``entity`` is None.
        origin: the origin of events that name none.
        batch_size: the most messages applied in one transaction.
        batch_wait: seconds to wait for a batch to fill.
        dead_letter_topic: where a message that names no known entity goes (with a
            ``ratebook-error`` header); required when the entity comes from a header.
        client: librdkafka settings passed through (``session.timeout.ms``, security, ...).
    """

    bootstrap: str
    topics: tuple[str, ...]
    group: str
    entity: str | None = None
    entity_header: str = "ratebook-entity"
    origin: str = "kafka"
    batch_size: int = 1000
    batch_wait: float = 0.5  # float-ok: seconds
    dead_letter_topic: str | None = None
    client: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.topics:
            raise ConfigError("NO_TOPIC", "name at least one topic to consume")
        if self.entity is None and self.dead_letter_topic is None:
            raise ConfigError(
                "NO_DEAD_LETTER_TOPIC",
                f"events whose entity comes from the {self.entity_header!r} header need a"
                " dead-letter topic for those naming none Ratebook knows: give --entity, or"
                " --dead-letter-topic",
            )
        clash = sorted(set(self.client) & set(FIXED))
        if clash:
            raise ConfigError(
                "BAD_CLIENT_SETTING",
                f"{clash[0]} is fixed by Ratebook: offsets are stored in its database",
            )
