"""PostgreSQL: a pooled connection the server closed while it idled (a restart, an idle
timeout, a proxy) is replaced before anyone uses it; one handed straight back out is not
tested first, and if the server closed it meanwhile, the one statement that meets it fails
and the pool's other connections are retired with it."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from ratebook.store import engine as engine_module
from tests.conftest import _postgres_base


def _pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _kill(pid: int) -> None:
    with psycopg.connect(_postgres_base(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


@pytest.fixture
def postgres(engine: Engine) -> Engine:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite opens a file: there is no server to close a connection")
    return engine


def test_a_connection_closed_while_idle_is_replaced(
    postgres: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "_UNTESTED_IDLE_SECONDS", 0.0)
    first = _pid(postgres)
    _kill(first)
    with postgres.connect() as conn:
        assert conn.execute(text("SELECT 41 + 1")).scalar_one() == 42
    assert _pid(postgres) != first


def test_a_connection_closed_under_a_busy_pool_fails_one_statement(
    postgres: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "_UNTESTED_IDLE_SECONDS", 3600.0)
    first = _pid(postgres)
    _kill(first)
    with pytest.raises(OperationalError), postgres.connect() as conn:
        conn.execute(text("SELECT 1"))
    with postgres.connect() as conn:
        assert conn.execute(text("SELECT 41 + 1")).scalar_one() == 42
    assert _pid(postgres) != first
