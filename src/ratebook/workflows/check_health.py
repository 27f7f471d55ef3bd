"""Whether the store can serve requests: it answers, and its schema is this Ratebook's."""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from ratebook.store.engine import is_current, reading


def store_problem(engine: Engine) -> str | None:
    """None when the store is ready; else ``DB_UNREACHABLE`` or ``SCHEMA_OUTDATED``."""
    try:
        with reading(engine).connect() as conn:
            conn.execute(text("SELECT 1"))
        current = is_current(engine)
    except SQLAlchemyError:
        return "DB_UNREACHABLE"
    return None if current else "SCHEMA_OUTDATED"
