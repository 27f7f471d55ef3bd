"""Streaming ingest from a real broker (tansu on loopback), on SQLite and PostgreSQL: every
message ends up exactly once as a rated record, a duplicate, an exception or a dead letter,
and the store's positions say what was applied."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from ratebook.errors import ConflictError
from ratebook.model.stream import StreamConfig
from ratebook.settings import Settings
from ratebook.sources.messages import StreamMessage
from ratebook.store import stream_offsets
from ratebook.store.tables import exceptions, import_batches, rated_charges, usage_records
from ratebook.workflows import review_exceptions
from ratebook.workflows.consume_stream import LostPartitionError, apply_batch, consume
from ratebook.workflows.correct_exception import correct
from ratebook.workflows.explain_record import explain
from tests.conftest import one_customer
from tests.stream.conftest import FAST_GROUP, Broker

#: Yesterday at 10:00 in Kuala Lumpur: inside the window a pushed event may start in.
START = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT10:00:00+08:00")


def event(record_id: str, seconds: int = 60, account: str = "A") -> dict[str, object]:
    return {
        "record_id": record_id,
        "start_time": START,
        "quantity": seconds,
        "account": account,
        "destination": "+60312345678",
    }


def as_bytes(value: object) -> bytes:
    return json.dumps(value).encode()


def config(broker: Broker, topic: str, **more: object) -> StreamConfig:
    given: dict[str, object] = {
        "bootstrap": broker.bootstrap,
        "topics": (topic,),
        "group": f"g-{topic}",
        "entity": "MY1",
        "batch_size": 7,
        "batch_wait": 0.2,
        "client": dict(FAST_GROUP),
        **more,
    }
    return StreamConfig(**given)  # type: ignore[arg-type]


def run_until_idle(engine: Engine, stream: StreamConfig, idle: float = 2.0) -> object:
    return consume(engine, stream, settings=Settings(), stop=threading.Event(), idle_exit=idle)


def charges(engine: Engine) -> dict[str, int]:
    """Each stored record's current charge, by record id (AMOUNT_SCALE)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(usage_records.c.record_id, rated_charges.c.charge)
            .join(rated_charges, rated_charges.c.record_pk == usage_records.c.id)
            .where(rated_charges.c.superseded_by.is_(None))
        ).all()
    return {str(r): int(c) for r, c in rows}


@pytest.mark.slow
def test_every_message_is_applied_once_with_its_offset(
    my_engine: Engine, tmp_path: Path, broker: Broker
) -> None:
    one_customer(my_engine, tmp_path)
    topic = broker.topic(partitions=1)
    cloud = {
        "specversion": "1.0",
        "id": "ce-1",
        "source": "meter-7",
        "type": "usage.call",
        "time": START,
        "subject": "A",
        "data": {"quantity": 120, "destination": "+60312345678", "region": "north"},
    }
    binary_headers: dict[str, str | bytes | None] = {
        "ce_specversion": b"1.0",
        "ce_id": b"ce-2",
        "ce_source": b"meter-7",
        "ce_type": b"usage.call",
        "ce_time": START.encode(),
        "ce_subject": b"A",
    }
    broker.produce(
        topic,
        [
            (b"A", as_bytes(event("e1")), None),  # offset 0: 1 min = 0.0300
            (b"A", as_bytes([event("e2", 61), event("e3", 30)]), None),  # 1: 2 min + 1 min
            (b"A", as_bytes(cloud), None),  # 2: structured CloudEvent, 2 min
            (b"A", as_bytes({"quantity": 180, "destination": "+60312345678"}), binary_headers),
            (b"A", b"{not json", None),  # 4: poison
            (b"A", as_bytes(event("e1")), None),  # 5: a producer's retry of offset 0
            (b"A", as_bytes({**event("e4"), "quantity": {"n": 1}}), None),  # 6: wrong shape
            (b"A", as_bytes(event("e5", 60, account="NOBODY")), None),  # 7: unmatched
        ],
    )
    totals = run_until_idle(my_engine, config(broker, topic))
    # 7 events and 2 unreadable messages: e1 e2 e3 ce-1 ce-2 rated, e1 again a duplicate,
    # the poison and the wrong shape BAD_MESSAGE, e5 UNMATCHED_CUSTOMER
    assert (totals.read, totals.rated, totals.duplicates, totals.exceptions) == (9, 5, 1, 3)  # type: ignore[attr-defined]
    # at RM0.0300 a started minute, AMOUNT_SCALE (6 places)
    assert charges(my_engine) == {
        "e1": 30_000,
        "e2": 60_000,
        "e3": 30_000,
        "ce-1": 60_000,
        "ce-2": 90_000,
    }
    with my_engine.connect() as conn:
        [position] = stream_offsets.stored_positions(conn, f"g-{topic}")
        bad = conn.execute(
            select(
                exceptions.c.sub_code, exceptions.c.source_line, exceptions.c.raw, exceptions.c.id
            )
            .where(exceptions.c.sub_code == "BAD_MESSAGE")
            .order_by(exceptions.c.source_line)
        ).all()
        kinds = set(conn.execute(select(import_batches.c.source_kind)).scalars())
    # the store holds the truth: the next offset after the 8 messages
    assert (position["topic"], position["partition"], position["next_offset"]) == (topic, 0, 8)
    assert [(s, line) for s, line, _, _ in bad] == [("BAD_MESSAGE", 4), ("BAD_MESSAGE", 6)]
    assert bad[0][2] == "{not json"
    # a message that holds no event has no fields to correct: it is rejected, not corrected
    with pytest.raises(ConflictError) as refused:
        correct(my_engine, bad[0][3], changes={"quantity": "60"}, reason="retyped")
    assert refused.value.code == "NOT_CORRECTABLE"
    assert "kafka" in kinds
    story = explain(my_engine, "e3")
    assert story[1].startswith(f"  from kafka {topic} partition 0 offset 1 (sha256 ")
    identity = review_exceptions.row_identity(my_engine, entity_code="MY1")
    assert all(row["ok"] for row in identity)

    # consuming again from the stored position applies nothing more
    again = run_until_idle(my_engine, config(broker, topic), idle=2.0)
    assert again.read == 0  # type: ignore[attr-defined]


def test_a_member_that_lost_its_partition_cannot_commit(my_engine: Engine, tmp_path: Path) -> None:
    one_customer(my_engine, tmp_path)
    stream = StreamConfig(bootstrap="unused:9092", topics=("cdrs",), group="g", entity="MY1")
    now = datetime.now(UTC)
    with my_engine.begin() as conn:
        zombie = stream_offsets.claim(conn, "g", "cdrs", 0, now)
    with my_engine.begin() as conn:  # a rebalance gives the partition to another member
        stream_offsets.claim(conn, "g", "cdrs", 0, now)
    message = StreamMessage("cdrs", 0, 0, as_bytes(event("z1")), {})
    with pytest.raises(LostPartitionError):
        apply_batch(
            my_engine,
            stream,
            {("cdrs", 0): zombie},
            {("cdrs", 0): None},
            [message],
            settings=Settings(),
        )
    assert charges(my_engine) == {}  # its records rolled back with its position
    with my_engine.connect() as conn:
        [position] = stream_offsets.stored_positions(conn, "g")
    assert (position["next_offset"], position["epoch"]) == (None, 2)


def test_messages_naming_no_known_entity_go_to_the_dead_letter_topic(
    my_engine: Engine, tmp_path: Path, broker: Broker
) -> None:
    one_customer(my_engine, tmp_path)
    topic, dead = broker.topic(partitions=2), broker.topic(partitions=1)
    broker.produce(
        topic,
        [
            (b"k1", as_bytes(event("h1")), {"ratebook-entity": b"MY1"}),
            (b"k2", as_bytes(event("h2")), {"ratebook-entity": b"XX9"}),
            (b"k3", as_bytes(event("h3")), None),
        ],
    )
    stream = config(broker, topic, entity=None, dead_letter_topic=dead)
    totals = run_until_idle(my_engine, stream)
    assert (totals.read, totals.rated, totals.dead_lettered) == (1, 1, 2)  # type: ignore[attr-defined]
    assert set(charges(my_engine)) == {"h1"}
    letters = broker.read_all(dead, expected=2)
    reasons = sorted(dict(m.headers())["ratebook-error"] for m in letters)  # type: ignore[attr-defined]
    assert reasons == [b"no entity 'XX9' in this Ratebook", b"no ratebook-entity header"]


def test_a_header_entity_without_a_dead_letter_topic_is_refused() -> None:
    from ratebook.errors import ConfigError

    with pytest.raises(ConfigError) as refused:
        StreamConfig(bootstrap="b:9092", topics=("t",), group="g", entity=None)
    assert refused.value.code == "NO_DEAD_LETTER_TOPIC"
    with pytest.raises(ConfigError) as fixed:
        StreamConfig(
            bootstrap="b:9092",
            topics=("t",),
            group="g",
            entity="MY1",
            client={"enable.auto.commit": "true"},
        )
    assert fixed.value.code == "BAD_CLIENT_SETTING"


def test_a_connection_lost_mid_batch_rolls_it_back_and_the_stream_resumes(
    my_engine: Engine, tmp_path: Path, broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import Connection

    one_customer(my_engine, tmp_path)
    topic = broker.topic(partitions=1)
    broker.produce(topic, [(b"A", as_bytes(event(f"m{n}", 60 * (n + 1))), None) for n in range(5)])
    real = stream_offsets.advance
    cut: list[int] = []

    def cut_once(conn: Connection, *args: object, **kwargs: object) -> bool:
        if not cut:  # the first batch's records are written: its connection dies now
            cut.append(1)
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_terminate_backend(pg_backend_pid())")
            else:
                conn.connection.dbapi_connection.close()  # type: ignore[union-attr]
        return real(conn, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("ratebook.workflows.consume_stream.advance", cut_once)
    totals = run_until_idle(my_engine, config(broker, topic, batch_size=2))
    assert cut == [1]
    assert totals.last_error is not None  # type: ignore[attr-defined]
    # m0..m4: 1..5 minutes at RM0.0300, each once
    assert charges(my_engine) == {f"m{n}": 30_000 * (n + 1) for n in range(5)}
    with my_engine.connect() as conn:
        [position] = stream_offsets.stored_positions(conn, f"g-{topic}")
    assert position["next_offset"] == 5
