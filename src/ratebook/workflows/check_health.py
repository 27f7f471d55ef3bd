"""Whether the store can serve requests: it answers, and its schema is this Ratebook's."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from ratebook.store.engine import is_current, ping


def store_problem(engine: Engine) -> str | None:
    """None when the store is ready; else ``DB_UNREACHABLE`` or ``SCHEMA_OUTDATED``."""
    try:
        ping(engine)
        current = is_current(engine)
    except SQLAlchemyError:
        return "DB_UNREACHABLE"
    return None if current else "SCHEMA_OUTDATED"
