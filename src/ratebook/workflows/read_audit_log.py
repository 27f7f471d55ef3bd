"""``ratebook audit log``: the audit entries of an entity, oldest first, filtered."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine

from ratebook.errors import InputError
from ratebook.store import audit
from ratebook.store.entities import get_entity


def since_instant(text: str) -> str:
    """``--since`` as the ISO text the log is compared with: a date (``2026-10-01``) or an
    instant (``2026-10-01T08:00:00``), in UTC.

    Raises:
        InputError: ``BAD_DATE`` for anything else (a word such as ``yesterday`` says so,
            instead of matching nothing).
    """
    try:
        if len(text) == 10:
            return date.fromisoformat(text).isoformat()
        return datetime.fromisoformat(text).strftime("%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise InputError(
            "BAD_DATE",
            f"{text!r} is not a date (YYYY-MM-DD) or an instant (YYYY-MM-DDTHH:MM:SS), in UTC",
            path="--since",
        ) from None


def read_audit_log(
    engine: Engine,
    *,
    entity_code: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    actor: str | None = None,
    since: str | None = None,
    limit: int | None = None,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """The entity's entries in order, filtered (``audit.entries`` says how).

    Raises:
        InputError: ``BAD_DATE`` for a ``since`` that is not a date or an instant.
    """
    start = None if since is None else since_instant(since)
    with engine.connect() as conn:
        entity = get_entity(conn, entity_code)
        return audit.entries(
            conn,
            entity_id=entity.id,
            action=action,
            object_type=object_type,
            object_id=object_id,
            actor=actor,
            since=start,
            limit=limit,
            before_id=before_id,
        )
