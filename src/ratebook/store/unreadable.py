"""Stream messages that hold no event (not JSON, not an event's shape), kept as exceptions of
their batch with the message's bytes and offset, so nothing a stream delivers is dropped."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert

from ratebook.model.rejections import Code, SubCode
from ratebook.store.tables import exceptions

#: The most of a message's text an exception keeps.
KEPT_CHARS = 65_536


@dataclass(frozen=True, slots=True)
class UnreadableMessage:
    """One message: where it was (``line`` is its offset), its bytes, and why it holds no
    event."""

    line: int
    value: bytes | None
    reason: str


def add_unreadable(
    conn: Connection,
    *,
    entity_id: int,
    batch_id: int,
    origin: str,
    messages: list[UnreadableMessage],
    now: datetime,
) -> None:
    """Store ``messages`` as open ``INVALID_RECORD/BAD_MESSAGE`` exceptions of the batch."""
    conn.execute(
        insert(exceptions),
        [
            {
                "entity_id": entity_id,
                "batch_id": batch_id,
                "code": Code.INVALID_RECORD.value,
                "sub_code": SubCode.BAD_MESSAGE.value,
                "field": None,
                "reason": m.reason,
                "status": "open",
                "origin": origin,
                "record_id": None,
                "record_pk": None,
                "content_sha256": None,
                "period": None,
                "source_sha256": hashlib.sha256(m.value or b"").hexdigest(),
                "source_line": m.line,
                "raw": None
                if m.value is None
                else m.value.decode("utf-8", "backslashreplace")[:KEPT_CHARS],
                "payload": None,
                "created_at": now,
            }
            for m in messages
        ],
    )
