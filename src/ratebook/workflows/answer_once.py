"""Answering a request at most once per idempotency key: claim the key before the work, keep
the answer after it, or release the key when the work failed.

The first request with a key runs and its answer is kept; the same key with the same request
gets that answer again; the same key with another request is refused; a retry while the first
is still running is refused too, unless the first was left in flight longer than the lease
(its server died). A key expires after its time to live: its answer is forgotten and the key
may be used anew. Expired keys are purged as the keys are claimed, now and then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Engine

from ratebook.store import idempotency


class Claim(StrEnum):
    """What claiming a key found."""

    RUN = "run"  # the key is the caller's: do the work, then keep or release
    REPLAY = "replay"  # the same request was answered: give ``Claimed.answer`` again
    REUSED = "reused"  # the key was used for another request
    IN_FLIGHT = "in_flight"  # the same request is still being answered


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """A kept answer: HTTP status, media type and body text."""

    status: int
    media_type: str
    body: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Claimed:
    """The outcome of a claim, and the kept answer for a replay."""

    claim: Claim
    answer: Answer | None = None


def claim_key(
    engine: Engine,
    *,
    entity_id: int,
    key: str,
    request_sha256: str,
    now: datetime,
    time_to_live: timedelta,
    lease: timedelta,
    purge: bool,
) -> Claimed:
    """Claim ``key`` for the request whose digest is ``request_sha256``; ``purge`` also
    forgets every key expired by ``now``."""
    expired_before = now - time_to_live
    with engine.begin() as conn:
        if purge:
            idempotency.purge(conn, expired_before=expired_before)
        found = idempotency.claim(
            conn,
            entity_id=entity_id,
            key=key,
            request_sha256=request_sha256,
            now=now,
            expired_before=expired_before,
        )
        if found is None:
            return Claimed(claim=Claim.RUN)
        if found["request_sha256"] != request_sha256:
            return Claimed(claim=Claim.REUSED)
        if found["status"] == "done":
            return Claimed(
                claim=Claim.REPLAY,
                answer=Answer(
                    status=found["response_status"],
                    media_type=found["response_type"],
                    body=found["response_body"],
                ),
            )
        abandoned = found["created_at"] < now - lease
        if abandoned and idempotency.take_over(conn, found["id"], found["created_at"], now):
            return Claimed(claim=Claim.RUN)
        return Claimed(claim=Claim.IN_FLIGHT)


def keep_answer(engine: Engine, *, entity_id: int, key: str, answer: Answer, now: datetime) -> None:
    """Keep the answer of the request that holds ``key``."""
    with engine.begin() as conn:
        idempotency.complete(
            conn,
            entity_id=entity_id,
            key=key,
            status=answer.status,
            media_type=answer.media_type,
            body=answer.body,
            now=now,
        )


def release_key(engine: Engine, *, entity_id: int, key: str) -> None:
    """Forget ``key``: its request failed, so a retry runs."""
    with engine.begin() as conn:
        idempotency.release(conn, entity_id=entity_id, key=key)
