"""The end of an intake batch, the same for a file, a group of pushed events or a stream's
poll: post the batch's usage (refusing a ledger that would not balance), check that every row
read is accounted for, record the batch's counts and write its sealed audit entry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from ratebook.intake.book import Ledger
from ratebook.intake.tally import Tally
from ratebook.store import audit, usage


def finish_batch(
    conn: Connection,
    *,
    entity_id: int,
    batch_id: int,
    ledger: Ledger,
    tally: Tally,
    source: str,
    now: datetime,
    audited: dict[str, Any] | None,
) -> None:
    """End batch ``batch_id``: its postings, its counts and its audit entry (``audited``:
    what the entry says besides the counts and the seal; None writes no entry, for a batch
    that is rolled back, such as a quote's).

    Raises:
        ConflictError: ``LEDGER_UNBALANCED``.
        RuntimeError: rows read that are not accounted for (a fault of Ratebook).
    """
    ledger.post(conn, entity_id=entity_id, batch_id=batch_id, source=source, now=now)
    if not tally.balanced:
        raise RuntimeError(
            f"row identity broken for batch {batch_id} ({source}): read {tally.read},"
            f" accounted {tally.rated + tally.duplicates + tally.exceptions}"
        )
    usage.finish_batch(
        conn,
        batch_id,
        rows_read=tally.read,
        rated=tally.rated,
        duplicates=tally.duplicates,
        exceptions_count=tally.exceptions,
        now=now,
    )
    if audited is None:
        return
    audit.record(
        conn,
        entity_id=entity_id,
        action="import",
        object_type="batch",
        object_id=batch_id,
        after={
            **audited,
            "read": tally.read,
            "rated": tally.rated,
            "duplicates": tally.duplicates,
            "exceptions": tally.exceptions,
            "charge": tally.charge,
            "rerated": tally.rerated,
            "batch": batch_id,
            "sealed": ledger.seal.summary(),
        },
        at=now,
    )
