"""Typed settings, read from ``RATEBOOK_*`` environment variables and overridden by CLI flags."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
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
        meters_file: the meters file (YAML): how CloudEvents of each type become records,
            for pushes and streams (``docs/api.md``); none by default.
        api_max_body_bytes: the largest JSON request body the API reads (413 beyond).
        api_max_upload_bytes: the largest CSV upload to ``POST /v1/imports`` (413 beyond).
        api_max_events: the most events one ``POST /v1/events`` may carry.
        api_max_json_depth: the deepest nesting of arrays and objects a JSON body may have.
        idempotency_lease_seconds: a request left in flight this long (its server died) no
            longer blocks a retry with the same ``Idempotency-Key``.
        metrics_token: when set, ``GET /metrics`` answers only a request carrying it as a
            Bearer token (the metrics name every entity, across tenants); unset, it is open.
        idempotency_ttl_hours: an ``Idempotency-Key`` is kept this long after its request
            arrived; after that its answer is forgotten and the key may be used anew.
        api_key_rate, api_key_burst: requests a second one API key may make of one server
            process, and how many at once after a pause (429 with ``Retry-After`` beyond).
        api_max_in_flight: requests one server process serves at once (429 beyond).
        api_max_queued_events: pushed events waiting for the writer (429 beyond).
        api_writer_process: ``ratebook serve`` stores pushed events in a process of its own
            (``workflows.writer_process``), which holds a second copy of the reference data;
            false stores them in the server's process, in less memory and slower under load.
        api_body_seconds: the longest a request body may take to arrive (408 beyond).
        event_days_back, event_days_ahead: a pushed event starting more than this many days
            before, or after, the moment it is received is an ``INVALID_RECORD``
            (``OUTSIDE_EVENT_WINDOW``); files keep the whole billed time window.
        console_session_hours: a console session ends this long after signing in.
        console_login_attempts: sign-in attempts a minute one client address, or one user
            name, may make of one server process (refused beyond, until the minute passes).
        console_max_form_bytes: the largest console form body (an upload has
            ``api_max_upload_bytes``).
    """

    model_config = SettingsConfigDict(env_prefix="RATEBOOK_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    chunk_rows: int = Field(default=100_000, ge=1)
    max_field_chars: int = Field(default=4096, ge=16)
    feeds_file: Path = Path("feeds.yaml")
    meters_file: Path | None = None
    api_max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    api_max_upload_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    api_max_events: int = Field(default=10_000, ge=1)
    api_max_json_depth: int = Field(default=32, ge=4)
    idempotency_lease_seconds: int = Field(default=300, ge=1)
    idempotency_ttl_hours: int = Field(default=24, ge=1)
    metrics_token: SecretStr | None = None
    api_key_rate: int = Field(default=2_000, ge=1)
    api_key_burst: int = Field(default=4_000, ge=1)
    api_max_in_flight: int = Field(default=128, ge=1)
    api_max_queued_events: int = Field(default=200_000, ge=1)
    api_writer_process: bool = True
    api_body_seconds: int = Field(default=30, ge=1)
    event_days_back: int = Field(default=400, ge=1)
    event_days_ahead: int = Field(default=1, ge=0)
    console_session_hours: int = Field(default=12, ge=1)
    console_login_attempts: int = Field(default=5, ge=1)
    console_max_form_bytes: int = Field(default=1024 * 1024, ge=1024)
