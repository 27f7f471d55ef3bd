"""Delivering invoices to the invoice generator's webhook: signed, idempotent, retried, logged.

Each request POSTs the invoice's frozen JSON document with:

* ``Ratebook-Timestamp``: Unix seconds when the request was signed;
* ``Ratebook-Signature``: ``v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>``, so a
  receiver can check both the body and its age (and refuse replays);
* ``Idempotency-Key``: ``<entity>-<invoice number>``, the same on every attempt, so a receiver
  that saw a request whose answer was lost keeps one copy.

A 2xx answer delivers the invoice; anything else (or no answer) is retried after
``base_delay × 2^(attempt-1)`` seconds, up to ``attempts`` tries. Every attempt is logged in
``invoice_deliveries``; an invoice delivered to a URL is not sent there again.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Engine

from ratebook.model.ledger import Period
from ratebook.store import audit, invoices
from ratebook.store.entities import get_entity
from ratebook.workflows.issue_invoices import invoice_id_text


@dataclass(slots=True)
class DeliverySummary:
    """Counts of a delivery run: invoices delivered, delivered before, failed after every
    attempt; ``retries``, the attempts after a first that failed; ``last_error``, the last
    failure's status or error."""

    delivered: int = 0
    already: int = 0
    failed: int = 0
    retries: int = 0
    last_error: str | None = None


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``Ratebook-Signature`` header value of a body signed at ``timestamp``."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def deliver_invoices(
    engine: Engine,
    url: str,
    secret: bytes,
    *,
    period: str | None = None,
    attempts: int = 5,
    base_delay: float = 1.0,  # float-ok: seconds
    timeout: float = 10.0,  # float-ok: seconds
    entity_code: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[int, int], None] | None = None,
) -> DeliverySummary:
    """POST every invoice (of ``period``, or all) not yet delivered to ``url``, each attempt
    waiting at most ``timeout`` seconds; ``progress(done, total)`` is told of each invoice.

    One function: each attempt, its log and its audit follow one another per invoice."""
    now = datetime.now(UTC)
    if period is not None:
        Period.parse(period)
    summary = DeliverySummary()
    with engine.connect() as conn:
        entity = get_entity(conn, entity_code)
        rows = invoices.list_invoices(conn, entity.id, period=period)
        done = invoices.delivered_to(conn, entity.id, url)
    with httpx.Client(timeout=timeout) as client:
        for count, row in enumerate(rows):
            if progress is not None:
                progress(count, len(rows))
            if row.id in done:
                summary.already += 1
                continue
            key = invoice_id_text(entity.code, row.number)
            body = row.document.encode()
            ok = False
            for attempt in range(1, attempts + 1):
                stamp = int(time.time())
                status: int | None = None
                error: str | None = None
                try:
                    answer = client.post(
                        url,
                        content=body,
                        headers={
                            "Content-Type": "application/json",
                            "Idempotency-Key": key,
                            "Ratebook-Timestamp": str(stamp),
                            "Ratebook-Signature": signature(secret, stamp, body),
                        },
                    )
                    status = answer.status_code
                    ok = answer.is_success
                    if not ok:
                        error = answer.text[:500]
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"[:500]
                with engine.begin() as conn:
                    invoices.add_delivery(
                        conn,
                        {
                            "entity_id": entity.id,
                            "invoice_id": row.id,
                            "url": url,
                            "idempotency_key": key,
                            "attempt": attempt,
                            "status_code": status,
                            "outcome": "delivered" if ok else "failed",
                            "error": error,
                            "attempted_at": datetime.now(UTC),
                        },
                    )
                    audit.record(
                        conn,
                        entity_id=entity.id,
                        action="invoice.deliver",
                        object_type="invoice",
                        object_id=row.number,
                        after={
                            "url": _without_secrets(url),
                            "attempt": attempt,
                            "status_code": status,
                            "outcome": "delivered" if ok else "failed",
                        },
                        at=now,
                    )
                if ok:
                    break
                summary.last_error = f"HTTP {status}" if status is not None else error
                if attempt < attempts:
                    summary.retries += 1
                    sleep(base_delay * 2 ** (attempt - 1))
            if ok:
                summary.delivered += 1
            else:
                summary.failed += 1
    return summary


def _without_secrets(url: str) -> str:
    """The URL without user info or query (either may hold a token), for the audit log."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
