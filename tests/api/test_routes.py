"""The read and review routes as a client uses them: uploads, balances, statements,
invoices, the exception queue, disputes, rate tables, health and metrics; and no key in
clear in the store or the logs."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from ratebook.api import create_app
from ratebook.settings import Settings
from ratebook.store.engine import make_engine
from ratebook.store.tables import api_keys, usage_records
from ratebook.workflows.close_cycle import close_cycle
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.invoices import get_invoice
from tests.api.conftest import Api
from tests.conftest import read_only_url, write
from tests.support.api_server import LiveServer

HEADER = "record_id,start_time,quantity,account,destination\n"
FILE = HEADER + (
    "f1,2026-10-05T10:00:00+08:00,480,ACME,+60312345678\n"  # 8 min at 0.10 = 0.80
    "f2,2026-10-06T10:00:00+08:00,600,ACME,+60312345678\n"  # 2 at 0.10 + 8 at 0.05 = 0.60
    "f3,2026-10-07T10:00:00+08:00,60,NOBODY,+60312345678\n"  # not a customer
)


def test_uploads_keep_the_reference_data_between_files_until_it_changes(
    api: Api, tmp_path: Path, deck_reads: list[int]
) -> None:
    # the server reads the deck once for both uploads, and again only after a customer is
    # added, whose calls the next upload then rates (1 min at 0.10 = 0.1000)
    line = "2026-10-08T10:00:00+08:00,60,{account},+60312345678\n"
    with api.client() as client:
        for name, account in (("u1", "ACME"), ("u2", "BETA")):
            reply = client.post(
                "/v1/imports", content=(HEADER + name + "," + line.format(account=account)).encode()
            )
            assert reply.json()["rated"] == 1, reply.text
        assert len(deck_reads) == 1
        import_customers(
            api.store,
            write(tmp_path / "more.csv", "account,name,rate_table,numbers\nCAROL,Carol,tiered,\n"),
            entity_code="MY1",
        )
        reply = client.post(
            "/v1/imports", content=(HEADER + "u3," + line.format(account="CAROL")).encode()
        )
        assert (reply.json()["rated"], reply.json()["charge"]) == (1, "0.1000"), reply.text
        assert len(deck_reads) == 2


def test_a_store_that_fails_answers_503_with_nothing_kept(api: Api, db_url: str) -> None:
    # the same database opened so that every write fails: the push is refused as a store
    # failure a client may retry, with no internals (no statement, no parameters)
    url = read_only_url(db_url)
    engine = make_engine(url)
    server = LiveServer(create_app(Settings(database_url=url), engine=engine))
    event = {"record_id": "ro1", "start_time": "2026-10-05T10:00:00+08:00", "quantity": 60}
    try:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {api.keys['my']}"}
        ) as client:
            reply = client.post("/v1/events", json={**event, "account": "ACME"})
    finally:
        server.stop()
        engine.dispose()
    assert (reply.status_code, reply.json()["code"]) == (503, "STORE_ERROR"), reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    assert "INSERT" not in reply.text
    with api.store.connect() as conn:
        kept = conn.execute(
            select(func.count())
            .select_from(usage_records)
            .where(usage_records.c.record_id == "ro1")
        ).scalar_one()
    assert kept == 0


def test_upload_statements_invoice_and_health(api: Api) -> None:
    with api.client() as client:
        upload = client.post(
            "/v1/imports", content=FILE.encode(), headers={"Content-Type": "text/csv"}
        )
        assert upload.status_code == 200, upload.text
        summary = upload.json()
        assert (summary["rows_read"], summary["rated"], summary["exceptions"]) == (3, 2, 1)
        assert (summary["charge"], summary["by_code"]) == ("1.4000", {"UNMATCHED_CUSTOMER": 1})
        again = client.post("/v1/imports", content=FILE.encode()).json()
        assert again["already_imported"] is True

        statement = client.get("/v1/statements/ACME/2026-10.csv")
        assert statement.status_code == 200
        assert statement.headers["content-type"].startswith("text/csv")
        assert "1.4000" in statement.text.splitlines()[-1]
        pdf = client.get("/v1/statements/ACME/2026-10.pdf")
        assert pdf.content.startswith(b"%PDF-")

        close_cycle(api.store, "2026-10", entity_code="MY1")
        listed = client.get("/v1/invoices", params={"period": "2026-10"}).json()
        assert [(i["number"], i["account"], i["total"]) for i in listed] == [(1, "ACME", "1.40")]
        document = client.get("/v1/invoices/1")
        assert document.json()["totals"]["total"] == "1.40"
        row, _ = get_invoice(api.store, 1, entity_code="MY1")
        assert document.content == row.document.encode()  # the frozen bytes, as issued
        balance = client.get("/v1/customers/ACME/balance", params={"period": "2026-10"}).json()
        assert balance["cycle_status"] == "closed"

        assert client.get("/v1/customers/ACME").json()["name"] == "Acme Sdn Bhd"
        assert client.get("/readyz").json() == {"status": "ready"}
        assert client.get("/healthz").json() == {"status": "ok"}
        metrics = client.get("/metrics").text
        assert 'ratebook_events_rated_total{entity="MY1"} 2.0' in metrics
        assert 'ratebook_exceptions_total{code="UNMATCHED_CUSTOMER",entity="MY1"} 1.0' in metrics
        assert "ratebook_http_request_duration_seconds_bucket" in metrics


def test_exception_queue_and_disputes(api: Api) -> None:
    with api.client() as client:
        client.post("/v1/imports", content=FILE.encode())
        pending = client.get("/v1/exceptions", params={"status": "pending"}).json()
        assert [(x["code"], x["record_id"]) for x in pending] == [("UNMATCHED_CUSTOMER", "f3")]
        exception_id = pending[0]["id"]
        shown = client.get(f"/v1/exceptions/{exception_id}").json()
        assert (shown["record"]["account"], shown["record"]["quantity"]) == ("NOBODY", "60")
        assert "entity_id" not in shown
        assert "entity_id" not in shown["record"]

        still = client.post(f"/v1/exceptions/{exception_id}/reprocess").json()
        assert (still["selected"], still["resolved"], still["failing"]) == (
            1,
            0,
            {"UNMATCHED_CUSTOMER": 1},
        )
        rejected = client.post(
            f"/v1/exceptions/{exception_id}/reject", json={"reason": "test call"}
        ).json()
        assert rejected["rejected"] == 1
        assert client.get(f"/v1/exceptions/{exception_id}").json()["status"] == "rejected"
        history = client.get(f"/v1/exceptions/{exception_id}").json()["history"]
        assert history[-1]["actor"] == "key:switch"

        opened = client.post(
            "/v1/disputes", json={"record_id": "f2", "origin": "generic", "reason": "too dear"}
        )
        assert opened.status_code == 201, opened.text
        assert (opened.json()["disputed"], opened.json()["account"]) == ("0.60", "ACME")
        number = opened.json()["number"]
        client.post(f"/v1/disputes/{number}/comments", json={"text": "checking the CDR"})
        resolved = client.post(
            f"/v1/disputes/{number}/resolve",
            json={"outcome": "upheld", "credit": "0.60", "note": "tier misapplied"},
        )
        assert resolved.status_code == 200, resolved.text
        assert (resolved.json()["status"], resolved.json()["credit"]) == ("resolved", "0.60")
        too_much = client.post(
            "/v1/disputes", json={"record_id": "f1", "origin": "generic", "reason": "x"}
        ).json()
        over = client.post(
            f"/v1/disputes/{too_much['number']}/resolve",
            json={"outcome": "upheld", "credit": "0.81"},
        )
        assert (over.status_code, over.json()["code"]) == (409, "CREDIT_TOO_LARGE")
        kinds = [e["kind"] for e in client.get(f"/v1/disputes/{number}").json()["history"]]
        assert kinds == ["opened", "comment", "resolved"]
        assert [
            d["number"] for d in client.get("/v1/disputes", params={"status": "open"}).json()
        ] == [too_much["number"]]


def test_a_retried_write_with_an_idempotency_key_acts_once(api: Api) -> None:
    """A dispute opened, commented and resolved, each sent twice with its key as a client
    retries after a lost answer: one dispute, one comment, one resolution, and each retry
    answered as the first was. The same key with another body is refused."""
    with api.client() as client:
        client.post("/v1/imports", content=FILE.encode())
        body = {"record_id": "f2", "origin": "generic", "reason": "too dear"}
        first, again = (
            client.post("/v1/disputes", json=body, headers={"Idempotency-Key": "open-f2"})
            for _ in range(2)
        )
        assert (first.status_code, again.status_code) == (201, 201), first.text
        assert "Idempotent-Replayed" not in first.headers
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()
        number = first.json()["number"]
        assert [d["number"] for d in client.get("/v1/disputes").json()] == [number]

        for _ in range(2):
            said = client.post(
                f"/v1/disputes/{number}/comments",
                json={"text": "checking the CDR"},
                headers={"Idempotency-Key": "comment-1"},
            )
            assert said.status_code == 201, said.text
        other = client.post(
            f"/v1/disputes/{number}/comments",
            json={"text": "something else"},
            headers={"Idempotency-Key": "comment-1"},
        )
        assert (other.status_code, other.json()["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
        resolution = {"outcome": "upheld", "credit": "0.60"}
        for _ in range(2):
            resolved = client.post(
                f"/v1/disputes/{number}/resolve",
                json=resolution,
                headers={"Idempotency-Key": "resolve-1"},
            )
            # without the key, resolving twice is a conflict: the retry replays the first
            assert (resolved.status_code, resolved.json()["status"]) == (200, "resolved")
        kinds = [e["kind"] for e in client.get(f"/v1/disputes/{number}").json()["history"]]
        assert kinds == ["opened", "comment", "resolved"]

        (pending,) = client.get("/v1/exceptions", params={"status": "pending"}).json()
        for _ in range(2):
            rejected = client.post(
                f"/v1/exceptions/{pending['id']}/reject",
                json={"reason": "test call"},
                headers={"Idempotency-Key": "reject-1"},
            )
            assert rejected.json()["rejected"] == 1, rejected.text
        history = client.get(f"/v1/exceptions/{pending['id']}").json()["history"]
        assert [h["action"] for h in history].count("exception.reject") == 1, history


def test_rate_tables(api: Api) -> None:
    yaml_text = (
        "name: sms-only\ncurrency: MYR\ntimezone: Asia/Kuala_Lumpur\n"
        "versions:\n  - effective_from: 2026-11-01\n    rows:\n"
        '      - {service: sms, destination: SMS, price: "0.0700"}\n'
    )
    with api.client() as client:
        refused = client.post("/v1/rate-tables", content=yaml_text.encode())
        assert (refused.status_code, refused.json()["code"]) == (403, "FORBIDDEN")
    with api.client("my_admin") as admin:
        made = admin.post(
            "/v1/rate-tables",
            content=yaml_text.encode(),
            headers={"Content-Type": "application/yaml"},
        )
        assert made.status_code == 200, made.text
        assert made.json()["table"] == "sms-only"
        assert len(made.json()["added"]) == 1
        names = [t["name"] for t in admin.get("/v1/rate-tables").json()]
        assert names == ["sms-only", "tiered"]
        table = admin.get("/v1/rate-tables/sms-only").json()
        rate = table["versions"][0]["rates"][0]
        assert (rate["service"], rate["price"], rate["unit"]) == ("sms", "0.07", "msg")
        tiered = admin.get("/v1/rate-tables/tiered").json()["versions"][0]["rates"]
        ladder = next(r["tiers"] for r in tiered if r["service"] == "voice")
        assert ladder == [{"from": "0", "price": "0.1"}, {"from": "600", "price": "0.05"}]


def test_upload_limit(api: Api) -> None:
    small = Settings(database_url=str(api.store.url), api_max_upload_bytes=2048)
    server = LiveServer(create_app(small, engine=api.store))
    try:
        reply = httpx.post(
            f"{server.url}/v1/imports",
            content=FILE.encode() * 40,
            headers={"Authorization": f"Bearer {api.keys['my']}"},
        )
    finally:
        server.stop()
    assert (reply.status_code, reply.json()["code"]) == (413, "BODY_TOO_LARGE")


def test_no_key_in_clear(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with api.client() as client:
        client.get("/v1/customers")
        client.post("/v1/events", json={"record_id": "z"})  # a 422
    with httpx.Client(base_url=api.url) as anonymous:
        anonymous.get("/v1/customers", headers={"Authorization": "Bearer rbk_deadbeef_guess"})
    with api.store.connect() as conn:
        rows = [tuple(str(v) for v in r) for r in conn.execute(select(api_keys)).all()]
    stored = "\n".join(" ".join(r) for r in rows)
    for secret in api.keys.values():
        assert secret not in stored
        assert secret.split("_", 2)[2] not in stored
        assert hashlib.sha256(secret.encode()).hexdigest() in stored
        assert secret not in caplog.text
