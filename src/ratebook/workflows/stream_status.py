"""What the store holds of every stream consumer group (``feeds status``, ``/metrics``): read
without the Kafka client, so the API and the status command do not load it."""

from __future__ import annotations

from sqlalchemy import Engine

from ratebook.store.engine import reading
from ratebook.store.stream_offsets import stored_positions


def stream_statuses(engine: Engine) -> list[dict[str, object]]:
    """Every consumer group's partitions as the store has them: position, lag, events/s,
    batch time and last error."""
    with reading(engine).connect() as conn:
        return stored_positions(conn)
