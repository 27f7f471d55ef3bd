"""What a caller sends is all the API reads: an uploaded rate table names only the decks sent
with it, never a file of the server's; unreadable uploads are refused with a problem that
names what was sent, and leave nothing stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from ratebook.store.tables import exceptions, rate_tables, usage_records
from tests.api.conftest import Api

DECKED = """name: decked
currency: MYR
versions:
  - effective_from: 2026-11-01
    deck: {deck}
"""
DECK = "prefix,destination,rate\n6012,Malaysia mobile,0.1500\n603,Kuala Lumpur,0.0800\n"


def _decked(api: Api) -> int:
    """How many tables named ``decked`` are stored."""
    with api.store.connect() as conn:
        found = select(func.count()).where(rate_tables.c.name == "decked")
        return int(conn.execute(found).scalar_one())


def _stored(api: Api) -> tuple[int, int]:
    with api.store.connect() as conn:
        return (
            int(conn.execute(select(func.count()).select_from(usage_records)).scalar_one()),
            int(conn.execute(select(func.count()).select_from(exceptions)).scalar_one()),
        )


@pytest.mark.parametrize("exists", [True, False])
def test_a_yaml_upload_opens_no_server_file(api: Api, tmp_path: Path, exists: bool) -> None:
    # a deck beside nothing the caller sent: whether or not it exists on the server, the
    # answer is the same, and nothing of the server's path or file comes back
    deck = tmp_path / "prices.csv"
    if exists:
        deck.write_text(DECK)
    with api.client("my_admin") as admin:
        reply = admin.post(
            "/v1/rate-tables",
            content=DECKED.format(deck=deck).encode(),
            headers={"Content-Type": "application/yaml"},
        )
    assert reply.status_code == 422, reply.text
    problem = reply.json()
    assert problem["code"] == "DECK_NOT_UPLOADED"
    assert problem["errors"][0]["source"] == "table"
    assert problem["errors"][0]["field"] == "versions[0].deck"
    assert "ratebook-rates-" not in reply.text
    assert _decked(api) == 0


def test_a_multipart_upload_carries_its_decks(api: Api) -> None:
    with api.client("my_admin") as admin:
        reply = admin.post(
            "/v1/rate-tables",
            files={
                "table": ("rates.yaml", DECKED.format(deck="mobile.csv").encode()),
                "mobile": ("mobile.csv", DECK.encode()),
            },
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["table"] == "decked"
        rates = admin.get("/v1/rate-tables/decked").json()["versions"][0]["rates"]
    assert sorted((r["prefix"], r["price"]) for r in rates) == [("6012", "0.15"), ("603", "0.08")]


def test_a_deck_the_upload_lacks_is_named(api: Api) -> None:
    with api.client("my_admin") as admin:
        reply = admin.post(
            "/v1/rate-tables",
            files={
                "table": ("rates.yaml", DECKED.format(deck="mobile.csv").encode()),
                "other": ("other.csv", DECK.encode()),
            },
        )
    assert reply.status_code == 422, reply.text
    assert reply.json()["code"] == "DECK_NOT_UPLOADED"
    assert "mobile.csv" in reply.json()["detail"]
    assert _decked(api) == 0


def test_a_bad_deck_row_names_the_deck_and_line(api: Api) -> None:
    with api.client("my_admin") as admin:
        reply = admin.post(
            "/v1/rate-tables",
            files={
                "table": ("rates.yaml", DECKED.format(deck="mobile.csv").encode()),
                "mobile": ("mobile.csv", (DECK + "6019,Mobile,\x00\n").encode()),
            },
        )
    assert reply.status_code == 422, reply.text
    error = reply.json()["errors"][0]
    assert (error["source"], error["line"]) == ("mobile.csv", 4)
    assert "/tmp" not in reply.text
    assert _decked(api) == 0


def test_a_multipart_upload_without_the_table_is_400(api: Api) -> None:
    with api.client("my_admin") as admin:
        reply = admin.post("/v1/rate-tables", files={"mobile": ("mobile.csv", DECK.encode())})
    assert (reply.status_code, reply.json()["code"]) == (400, "BAD_UPLOAD")


def test_yaml_that_is_not_utf8_is_refused(api: Api) -> None:
    text = "name: caf\xe9\ncurrency: MYR\nversions: []\n".encode("latin-1")
    with api.client("my_admin") as admin:
        reply = admin.post(
            "/v1/rate-tables", content=text, headers={"Content-Type": "application/yaml"}
        )
    assert reply.status_code == 422, reply.text
    assert reply.json()["code"] == "NOT_UTF8"
    assert "/tmp" not in reply.text


def test_a_nul_byte_in_a_csv_upload_is_an_exception_of_its_row(api: Api) -> None:
    # no store keeps NUL as text (PostgreSQL refuses it): the row is an exception of its
    # own, its raw text shown with U+FFFD, and the rest of the file is rated
    before = _stored(api)
    body = (
        "record_id,account,service,start_time,quantity,destination\n"
        "n-1,ACME,voice,2026-11-03T10:00:00+08:00,60,60312345678\n"
        "n-2,ACME,voice,2026-11-03T10:05:00+08:00,6\x000,60312345678\n"
    )
    with api.client() as client:
        reply = client.post(
            "/v1/imports?format=generic",
            content=body.encode(),
            headers={"Content-Type": "text/csv"},
        )
        assert reply.status_code == 200, reply.text
        assert (reply.json()["rated"], reply.json()["exceptions"]) == (1, 1)
        queue = client.get("/v1/exceptions").json()
    assert _stored(api) == (before[0] + 1, before[1] + 1)
    held = [e for e in queue if e["source_line"] == 3]
    assert [(e["sub_code"], e["field"]) for e in held] == [("INVALID_UTF8", "quantity")]
    assert "6\ufffd0" in held[0]["raw"]


def test_a_lone_surrogate_in_json_is_400(api: Api) -> None:
    body = (
        b'{"record_id": "s-\\ud800", "account": "ACME", "service": "sms",'
        b' "start_time": "2026-11-03T10:00:00+08:00", "quantity": 1}'
    )
    with api.client() as client:
        reply = client.post(
            "/v1/events", content=body, headers={"Content-Type": "application/json"}
        )
    assert (reply.status_code, reply.json()["code"]) == (400, "INVALID_JSON")
