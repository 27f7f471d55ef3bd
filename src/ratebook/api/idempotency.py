"""The ``Idempotency-Key`` header (IETF httpapi draft) on the API's writes: pushed events,
the exception queue's actions and disputes.

The first request with a key runs and its response is kept; a retry with the same key and
the same request gets that response again (``Idempotent-Replayed: true``). The same key with
another request is 422; a retry while the first is still running is 409. A server error
releases the key so the retry runs. A key left in flight longer than the lease (its server
died) may be taken over. A key expires ``idempotency_ttl_hours`` after its request arrived:
its answer is forgotten and the key may be used anew. The server purges expired keys as it
goes, at most once every ten minutes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Header, Request, Response
from sqlalchemy import Engine

from ratebook.api.deps import Caller
from ratebook.api.problems import Problem, error_response
from ratebook.settings import Settings
from ratebook.workflows.answer_once import (
    Answer,
    Claim,
    claim_key,
    keep_answer,
    release_key,
)

#: The header, on every write that honours it.
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Makes a retry safe: the same key and body get the first answer again.",
    ),
]

_MAX_KEY = 255
#: How often a server purges expired keys (on the way of a request that carries one).
PURGE_EVERY = timedelta(minutes=10)


def fingerprint(request: Request, body_sha256: str) -> str:
    """What makes two requests the same: method, path, query and body."""
    text = f"{request.method} {request.url.path}?{request.url.query}\n{body_sha256}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _key(header: str) -> str:
    # the draft sends a structured-field string ("..."); a bare token is taken as it is
    key = header.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not key or len(key) > _MAX_KEY or not key.isprintable():
        raise Problem(
            400,
            "BAD_IDEMPOTENCY_KEY",
            f"Idempotency-Key must be 1 to {_MAX_KEY} printable characters",
        )
    return key


def run_once(
    engine: Engine,
    settings: Settings,
    caller: Caller,
    request: Request,
    header: str | None,
    body_sha256: str,
    produce: Callable[[], Response],
) -> Response:
    """``produce()`` the response, at most once per idempotency key of the caller's entity.

    One function: claim, run and keep are one request's steps."""
    if header is None:
        return produce()
    key = _key(header)
    entity_id = caller.key.entity_id
    now = datetime.now(UTC)
    state = request.app.state
    purge = now - state.idempotency_purged_at >= PURGE_EVERY
    if purge:
        state.idempotency_purged_at = now
    claimed = claim_key(
        engine,
        entity_id=entity_id,
        key=key,
        request_sha256=fingerprint(request, body_sha256),
        now=now,
        time_to_live=timedelta(hours=settings.idempotency_ttl_hours),
        lease=timedelta(seconds=settings.idempotency_lease_seconds),
        purge=purge,
    )
    if claimed.claim is Claim.REUSED:
        raise Problem(
            422, "IDEMPOTENCY_KEY_REUSED", "this Idempotency-Key was used for another request"
        )
    if claimed.claim is Claim.IN_FLIGHT:
        raise Problem(
            409,
            "IDEMPOTENCY_IN_FLIGHT",
            "a request with this Idempotency-Key is still being processed",
        )
    if claimed.answer is not None:
        return Response(
            claimed.answer.body,
            status_code=claimed.answer.status,
            media_type=claimed.answer.media_type,
            headers={"Idempotent-Replayed": "true"},
        )
    try:
        response = produce()
    except Exception as exc:
        answer = error_response(request, exc)
        if answer is None:
            release_key(engine, entity_id=entity_id, key=key)
            raise
        response = answer
    if response.status_code >= 500:
        release_key(engine, entity_id=entity_id, key=key)
    else:
        kept = Answer(
            status=response.status_code,
            media_type=response.media_type or "application/json",
            body=bytes(response.body).decode("utf-8"),
        )
        keep_answer(engine, entity_id=entity_id, key=key, answer=kept, now=datetime.now(UTC))
    return response
