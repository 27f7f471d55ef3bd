"""An API over a real socket, on SQLite and on PostgreSQL; on PostgreSQL the app connects
as a role without superuser rights, so nothing depends on them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from sqlalchemy import Engine

from ratebook.api import create_app
from ratebook.settings import Settings
from ratebook.store.engine import make_engine
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_rate_table import import_rate_table
from ratebook.workflows.manage_keys import create_key
from tests.conftest import two_entities, write
from tests.support.api_server import LiveServer

#: Calls to +60: RM0.1000 a minute (whole minutes) for the first 10 minutes of the customer's
#: cycle, RM0.0500 after; SMS RM0.0500 each, RM0.0200 each once past 3.
TIERED = """
name: tiered
currency: MYR
timezone: Asia/Kuala_Lumpur
rounding: {places: 4, mode: half-up}
versions:
  - effective_from: 2026-10-01
    rows:
      - prefix: "60"
        destination: Malaysia
        price: "0.1000"
        tiers: {kind: graduated, steps: [{after: 10min, price: "0.0500"}]}
      - {service: sms, destination: SMS, price: "0.0500", tiers: "volume 3msg=0.0200"}
"""
CUSTOMERS = "account,name,rate_table,numbers\nACME,Acme Sdn Bhd,tiered,\nBETA,Beta Bhd,tiered,\n"
OTHER_CUSTOMERS = "account,name,rate_table,numbers\nZED,Zed Pte Ltd,tiered,\n"


@dataclass
class Api:
    """A running API with keys for two entities: MY1 (with data) and SG1 (another tenant).

    Attributes:
        url: base URL.
        store: the owner's engine (for checks the API does not offer).
        keys: full keys by name: ``my`` (ingest, read, review), ``my_admin``, ``my_read``
            (read only), ``sg`` (every scope of SG1).
    """

    url: str
    store: Engine
    keys: dict[str, str]

    def client(self, key: str | None = "my") -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[key]}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def _app_role_url(db_url: str) -> tuple[str, str]:
    """A login role with only data rights on the test schema, and the URL to connect as it."""
    role = f"rb_app_{uuid.uuid4().hex[:10]}"
    schema = db_url.split("search_path%3D", 1)[1].split("&", 1)[0]
    admin = db_url.split("?", 1)[0]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
        conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        conn.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}"
        )
        conn.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}")
    parts = urlsplit(db_url)
    netloc = parts.netloc.split("@", 1)[-1]
    return role, urlunsplit(parts._replace(netloc=f"{role}@{netloc}"))


def _drop_role(db_url: str, role: str) -> None:
    admin = db_url.split("?", 1)[0]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP OWNED BY {role}")
        conn.execute(f"DROP ROLE {role}")


@pytest.fixture
def api(engine: Engine, db_url: str, tmp_path: Path) -> Iterator[Api]:
    with running_api(engine, db_url, tmp_path) as running:
        yield running


@contextmanager
def running_api(engine: Engine, db_url: str, tmp_path: Path, **settings: Any) -> Iterator[Api]:
    """The API of ``Api`` over the test's store, with these settings besides the store's."""
    two_entities(engine)
    import_rate_table(engine, write(tmp_path / "tiered.yaml", TIERED), entity_code="MY1")
    import_customers(engine, write(tmp_path / "c.csv", CUSTOMERS), entity_code="MY1")
    import_rate_table(
        engine,
        write(
            tmp_path / "sg.yaml", TIERED.replace("MYR", "SGD").replace("Kuala_Lumpur", "Singapore")
        ),
        entity_code="SG1",
    )
    import_customers(engine, write(tmp_path / "z.csv", OTHER_CUSTOMERS), entity_code="SG1")
    keys = {
        "my": create_key(
            engine, name="switch", scopes=["ingest", "read", "review"], entity_code="MY1"
        ),
        "my_admin": create_key(engine, name="ops", scopes=["admin"], entity_code="MY1"),
        "my_read": create_key(engine, name="viewer", scopes=["read"], entity_code="MY1"),
        "sg": create_key(engine, name="sg-ops", scopes=["admin"], entity_code="SG1"),
    }
    role = None
    app_url = db_url
    if engine.dialect.name == "postgresql":
        role, app_url = _app_role_url(db_url)
    app_engine = make_engine(app_url)
    server = LiveServer(create_app(Settings(database_url=app_url, **settings), engine=app_engine))
    try:
        yield Api(url=server.url, store=engine, keys={k: v.secret for k, v in keys.items()})
    finally:
        server.stop()
        app_engine.dispose()
        if role is not None:
            _drop_role(db_url, role)
