"""Typed settings, read from ``RATEBOOK_*`` environment variables and overridden by CLI flags."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///ratebook.db"


class Settings(BaseSettings):
    """Deployment settings.

    Attributes:
        database_url: SQLAlchemy URL; ``sqlite:///ratebook.db`` (in the working directory) by
            default, ``postgresql+psycopg://...`` or ``postgresql://...`` for PostgreSQL.
        chunk_rows: rows per chunk when streaming a feed file; bounds the import's memory.
        max_field_chars: a field longer than this is an ``INVALID_RECORD`` (``FIELD_TOO_LONG``).
        feeds_file: the feeds file (YAML) read by ``pull``, ``feeds`` and ``serve``.
    """

    model_config = SettingsConfigDict(env_prefix="RATEBOOK_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    chunk_rows: int = Field(default=100_000, ge=1)
    max_field_chars: int = Field(default=4096, ge=16)
    feeds_file: Path = Path("feeds.yaml")
