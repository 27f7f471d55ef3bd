"""Shared fixtures: a migrated store on SQLite and on PostgreSQL, and file helpers."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import polars as pl
import psycopg
import pytest
from hypothesis import settings
from sqlalchemy import Connection, Engine

from ratebook.store import tariffs
from ratebook.store.engine import open_store
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_rates import import_rates
from ratebook.workflows.init_entity import init_entity

# a property's examples take as long as the machine lets them (the suite runs in parallel,
# beside servers it starts): no example fails for its time
settings.register_profile("ratebook", deadline=None)
settings.load_profile("ratebook")

POSTGRES_ENV = "RATEBOOK_TEST_POSTGRES_URL"

# The suite's events are dated in 2026, and must stay pushable on whatever day it runs: the
# window of times a pushed event may start in reaches back a century here (the CLI commands
# the tests start inherit it). The tests of the window itself set their own.
os.environ["RATEBOOK_EVENT_DAYS_BACK"] = "36500"


def _postgres_base() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set: the PostgreSQL half of this test is skipped")
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        pytest.fail(f"{POSTGRES_ENV} is set but PostgreSQL is unreachable: {exc}")
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL for an empty database, on each backend in turn."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ratebook.db'}"
        return
    base = _postgres_base()
    schema = f"rb_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    joiner = "&" if "?" in base else "?"
    try:
        yield f"{base}{joiner}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite store its migrations made, once per test process: a test's own store
    is a copy of it (a file copy takes a millisecond, the migrations a tenth of a second)."""
    path = tmp_path_factory.mktemp("template") / "ratebook.db"
    open_store(f"sqlite:///{path}").dispose()
    return path


@pytest.fixture
def engine(db_url: str, sqlite_template: Path) -> Iterator[Engine]:
    """A migrated, empty store."""
    if db_url.startswith("sqlite:///"):
        shutil.copyfile(sqlite_template, db_url.removeprefix("sqlite:///"))
    store = open_store(db_url)
    yield store
    store.dispose()


@pytest.fixture
def my_engine(engine: Engine) -> Engine:
    """A store with one entity: MYR, Asia/Kuala_Lumpur, region MY, 4 charge places."""
    init_entity(
        engine,
        code="MY1",
        name="Test Telco Sdn Bhd",
        currency="MYR",
        timezone="Asia/Kuala_Lumpur",
        region="MY",
        floor="1.00",
    )
    return engine


@pytest.fixture
def deck_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The entity ids the rate rows are read from the store for, one per read, from now on
    (every load of reference data reads them)."""
    reads: list[int] = []
    real = tariffs.load_rows

    def counted(conn: Connection, entity_id: int) -> pl.DataFrame:
        reads.append(entity_id)
        return real(conn, entity_id)

    monkeypatch.setattr(tariffs, "load_rows", counted)
    return reads


def one_customer(engine: Engine, tmp_path: Path) -> None:
    """Give the store's entity a rate table ``standard`` (calls to Malaysia, +60, at
    RM0.0300 a minute from 2026) and one customer ``A`` on it, known by account only."""
    import_rates(
        engine,
        write(tmp_path / "deck.csv", "prefix,destination,rate\n60,Malaysia,0.0300\n"),
        name="standard",
        effective_from="2026-01-01",
    )
    import_customers(
        engine, write(tmp_path / "c.csv", "account,name,rate_table,numbers\nA,A,standard,\n")
    )


def two_entities(engine: Engine) -> None:
    """MY1 (MYR, Kuala Lumpur) and SG1 (SGD, Singapore), two tenants of one store, each with
    an invoicing floor of 1.00."""
    for code, name, currency, zone, region in (
        ("MY1", "Test Telco Sdn Bhd", "MYR", "Asia/Kuala_Lumpur", "MY"),
        ("SG1", "Other Telco Pte Ltd", "SGD", "Asia/Singapore", "SG"),
    ):
        init_entity(
            engine,
            code=code,
            name=name,
            currency=currency,
            timezone=zone,
            region=region,
            floor="1.00",
        )


def read_only_url(url: str) -> str:
    """``url`` (of ``db_url``) opened so that every write fails: SQLite's ``mode=ro``, or
    PostgreSQL's read-only transactions."""
    if url.startswith("sqlite:///"):
        return f"sqlite:///file:{url.removeprefix('sqlite:///')}?mode=ro&uri=true"
    return url + quote(" -cdefault_transaction_read_only=on")


def write(path: Path, text: str | bytes) -> Path:
    """Write a test file (text as UTF-8, exactly as given) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        path.write_bytes(text.encode("utf-8"))
    else:
        path.write_bytes(text)
    return path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first: the workers then share them out at the start and end together,
    rather than one taking up a long test just as the other runs out of work."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
