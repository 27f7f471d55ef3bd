"""One client cannot stall the others: a request is refused before its body is read when it
has no key, declares too large a body or the wrong media type; a key past its rate, a server
at its limit of requests and a body that does not arrive get 429 or 408 problem JSON; the
probes answer meanwhile. And what a push carries is checked strictly: no boolean ids or
quantities, no repeated JSON keys, no month 13, no event from a broken clock."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select

from ratebook.api import app as app_module
from ratebook.api import create_app, gate
from ratebook.model.keys import KeyRow
from ratebook.settings import Settings
from ratebook.store.reference import ReferenceCache
from ratebook.store.tables import exceptions, usage_records
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_rate_table import import_rate_table
from ratebook.workflows.manage_keys import authenticate, create_key
from ratebook.workflows.warm_up import warm_references
from tests.api.conftest import CUSTOMERS, TIERED
from tests.conftest import write
from tests.support.api_server import LiveServer

EVENT = {
    "record_id": "f-1",
    "start_time": "2026-10-15T10:00:00+08:00",
    "quantity": 60,
    "account": "ACME",
    "destination": "+60312345678",
}


@dataclass
class Server:
    url: str
    key: str
    store: Engine

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key or self.key}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def raw(self, head: str, body: bytes = b"", wait: float = 5) -> str:  # float-ok: seconds
        """Send ``head`` (and ``body``) on a socket; the answer's status line and body."""
        host, port = self.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=wait) as sock:
            sock.sendall(head.encode() + b"\r\n" + body)
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        return answer.decode()


def _serve(engine: Engine, tmp_path: Path, **limits: int) -> Iterator[Server]:
    import_rate_table(engine, write(tmp_path / "t.yaml", TIERED), entity_code="MY1")
    import_customers(engine, write(tmp_path / "c.csv", CUSTOMERS), entity_code="MY1")
    made = create_key(engine, name="switch", scopes=["ingest", "read"], entity_code="MY1")
    settings = Settings(database_url="sqlite://", **limits)  # type: ignore[arg-type]
    server = LiveServer(create_app(settings, engine=engine))
    try:
        yield Server(url=server.url, key=made.secret, store=engine)
    finally:
        server.stop()


@pytest.fixture
def served(my_engine: Engine, tmp_path: Path) -> Iterator[Server]:
    yield from _serve(my_engine, tmp_path, api_key_rate=1_000, api_body_seconds=2)


def _stored(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(usage_records)).scalar_one(),
            conn.execute(select(func.count()).select_from(exceptions)).scalar_one(),
        )


def test_a_request_without_a_key_is_refused_before_its_body_arrives(served: Server) -> None:
    # 15 MB declared and none of it sent: the answer comes at once, not after a body
    started = time.monotonic()
    answer = served.raw(
        "POST /v1/events HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        "Content-Length: 15000000\r\n"
    )
    assert answer.startswith("HTTP/1.1 401")
    assert '"code": "UNAUTHENTICATED"' in answer
    assert time.monotonic() - started < 2


def test_a_body_declared_too_large_is_refused_before_it_arrives(served: Server) -> None:
    answer = served.raw(
        f"POST /v1/events HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {served.key}\r\n"
        "Content-Type: application/json\r\nContent-Length: 999999999\r\n"
    )
    assert answer.startswith("HTTP/1.1 413")
    assert '"code": "BODY_TOO_LARGE"' in answer


def test_a_body_of_a_media_type_the_route_does_not_read_is_415(served: Server) -> None:
    with served.client() as client:
        for path, media in (
            ("/v1/events", "text/csv"),
            ("/v1/rate", "application/xml"),
            ("/v1/imports", "application/json"),
        ):
            refused = client.post(path, content=b"{}", headers={"Content-Type": media})
            assert refused.status_code == 415, (path, refused.text)
            assert refused.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert _stored(served.store) == (0, 0)


def test_a_body_that_does_not_arrive_in_time_is_408(served: Server) -> None:
    # 100 bytes declared, 10 sent, then nothing: api_body_seconds is 2
    answer = served.raw(
        f"POST /v1/events HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {served.key}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n",
        body=b'{"record_',
        wait=10,
    )
    assert answer.startswith("HTTP/1.1 408")
    assert '"code":"BODY_TIMEOUT"' in answer.replace(" ", "")


@pytest.mark.parametrize(
    ("change", "pointer"),
    [({"record_id": True}, "/0/record_id"), ({"quantity": True}, "/0/quantity")],
)
def test_booleans_are_not_ids_or_quantities(
    served: Server, change: dict[str, object], pointer: str
) -> None:
    with served.client() as client:
        refused = client.post("/v1/events", json={**EVENT, **change})
    assert refused.status_code == 422
    assert any(e["pointer"].startswith(pointer) for e in refused.json()["errors"])
    assert _stored(served.store) == (0, 0)


def test_a_json_key_given_twice_is_refused(served: Server) -> None:
    body = json.dumps(EVENT)[:-1] + ', "quantity": 7200}'
    with served.client() as client:
        refused = client.post(
            "/v1/events", content=body, headers={"Content-Type": "application/json"}
        )
    assert refused.status_code == 400
    assert refused.json()["code"] == "DUPLICATE_KEY"
    assert "quantity" in refused.json()["detail"]
    assert _stored(served.store) == (0, 0)


def test_month_13_is_bad_period_on_every_route(served: Server) -> None:
    with served.client() as client:
        for path in (
            "/v1/customers/ACME/balance?period=2026-13",
            "/v1/invoices?period=2026-13",
            "/v1/exceptions?period=2026-13",
            "/v1/statements/ACME/2026-13.csv",
            "/v1/statements/ACME/2026-13.pdf",
            "/v1/invoices?period=last-month",
        ):
            refused = client.get(path)
            assert refused.status_code == 422, (path, refused.text)
            assert refused.json()["code"] == "BAD_PERIOD", path


def test_an_event_from_a_broken_clock_is_an_exception_with_its_reason(served: Server) -> None:
    with served.client() as client:
        for n, start in enumerate(("+10000-01-01T00:00:00Z", "2031-01-01T00:00:00Z")):
            pushed = client.post(
                "/v1/events", json={**EVENT, "record_id": f"c{n}", "start_time": start}
            )
            assert pushed.status_code == 200, pushed.text
            (result,) = pushed.json()["results"]
            assert result["status"] == "exception"
            assert result["period"] is None
            assert result["field"] == "start_time"
    assert _stored(served.store) == (0, 2)
    with served.store.connect() as conn:
        codes = conn.execute(select(exceptions.c.sub_code).order_by(exceptions.c.id)).scalars()
        # +10000 is no date and time at all; 2031 is one, years after the push
        assert list(codes) == ["BAD_TIMESTAMP", "OUTSIDE_EVENT_WINDOW"]


def test_a_key_past_its_rate_gets_429_with_retry_after(my_engine: Engine, tmp_path: Path) -> None:
    for server in _serve(my_engine, tmp_path, api_key_rate=1, api_key_burst=3):
        with server.client() as client:
            answers = [client.get("/v1/rate-tables") for _ in range(5)]
            assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
            assert answers[3].json()["code"] == "RATE_LIMITED"
            assert int(answers[3].headers["Retry-After"]) >= 1
            # the probes are never counted or refused
            assert client.get("/healthz").status_code == 200


def test_a_server_at_its_limit_answers_429_and_its_probes_meanwhile(
    my_engine: Engine, tmp_path: Path
) -> None:
    for server in _serve(my_engine, tmp_path, api_max_in_flight=1, api_body_seconds=5):
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as slow:
            # one request in flight, its body still coming
            slow.sendall(
                f"POST /v1/events HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {server.key}\r\n"
                "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{".encode()
            )
            time.sleep(0.5)
            with server.client() as client:
                busy = client.get("/v1/rate-tables")
                assert busy.status_code == 429
                assert busy.json()["code"] == "BUSY"
                assert busy.headers["Retry-After"] == "1"
                assert client.get("/healthz").json() == {"status": "ok"}
                assert client.get("/readyz").json() == {"status": "ready"}


def test_a_burst_of_one_new_key_is_served_by_one_lookup(
    my_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 24 connections present the same key, not looked up yet, at once: they share one store
    # lookup instead of counting as 24 new keys (8 at most are looked up at once: 429 BUSY).
    # The lookup is slowed so that the requests surely arrive while it runs.
    lookups: list[str] = []

    def slow(engine: Engine, token: str) -> KeyRow | None:
        lookups.append(token)
        time.sleep(0.5)
        return authenticate(engine, token)

    monkeypatch.setattr(gate, "authenticate", slow)
    for server in _serve(my_engine, tmp_path, api_key_rate=1_000):

        def ask(_: int, server: Server = server) -> int:
            with server.client() as client:
                return client.get("/v1/rate-tables").status_code

        with ThreadPoolExecutor(max_workers=24) as pool:
            answers = list(pool.map(ask, range(24)))
        assert answers == [200] * 24
        assert lookups == [server.key]


def test_a_server_is_not_ready_until_its_reference_data_is_loaded(
    my_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the warm-up is held until the test lets it go, as a large deck would hold it
    go = threading.Event()

    def held(engine: Engine, references: ReferenceCache) -> list[str]:
        go.wait(timeout=30)
        return warm_references(engine, references)

    monkeypatch.setattr(app_module, "warm_references", held)
    import_rate_table(my_engine, write(tmp_path / "t.yaml", TIERED), entity_code="MY1")
    settings = Settings(database_url="sqlite://")
    server = LiveServer(create_app(settings, engine=my_engine), lifespan=True)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            warming = client.get("/readyz")
            assert warming.status_code == 503
            assert warming.json()["code"] == "WARMING_UP"
            assert client.get("/healthz").json() == {"status": "ok"}  # alive meanwhile
            go.set()
            deadline = time.monotonic() + 20
            while (ready := client.get("/readyz")).status_code != 200:
                assert time.monotonic() < deadline, ready.text
                time.sleep(0.05)
            assert ready.json() == {"status": "ready"}
    finally:
        go.set()
        server.stop()
