"""Every route, called with another entity's key and this entity's ids, answers 404 (or an
empty list of its own) and leaks nothing. On PostgreSQL the app runs as a plain role."""

from __future__ import annotations

from typing import Any

import httpx

from ratebook.workflows.close_cycle import close_cycle
from ratebook.workflows.file_report import file_report
from tests.api.conftest import Api

CALL = {"destination": "+60312345678", "account": "ACME"}


def _my_data(api: Api) -> dict[str, Any]:
    """MY1's objects: two calls (8 min at RM0.10 = 0.80; then 2 min at 0.10 + 8 at 0.05 =
    0.60; 1.40 is over the floor, so October is invoiced), an exception, a dispute, and an
    issued invoice."""
    with api.client() as client:
        pushed = client.post(
            "/v1/events",
            json=[
                {
                    **CALL,
                    "record_id": "c1",
                    "start_time": "2026-10-05T10:00:00+08:00",
                    "quantity": 480,
                },
                {
                    **CALL,
                    "record_id": "c2",
                    "start_time": "2026-10-06T10:00:00+08:00",
                    "quantity": 600,
                },
                {
                    **CALL,
                    "record_id": "u1",
                    "start_time": "2026-10-06T10:00:00+08:00",
                    "quantity": 60,
                    "account": "NOBODY",
                },
            ],
        ).json()
        assert [r["charge"] for r in pushed["results"]] == ["0.8000", "0.6000", None]
        exception_id = pushed["results"][2]["exception_id"]
    close_cycle(api.store, "2026-10", entity_code="MY1")
    with api.client() as client:
        invoices = client.get("/v1/invoices").json()
        assert [(i["number"], i["account"], i["net"]) for i in invoices] == [(1, "ACME", "1.40")]
        dispute = client.post(
            "/v1/disputes", json={"record_id": "c2", "origin": "api", "reason": "never called"}
        )
        assert dispute.status_code == 201, dispute.text
    return {"exception": exception_id, "dispute": dispute.json()["number"], "invoice": 1}


def test_another_entitys_key_sees_nothing(api: Api) -> None:
    ids = _my_data(api)
    x, d, n = ids["exception"], ids["dispute"], ids["invoice"]
    r = file_report(api.store, period="2026-10", entity_code="MY1").filing.id
    reason = {"reason": "looking"}
    not_found: list[tuple[str, str, str, Any]] = [
        ("GET", "/v1/customers/{account}", "/v1/customers/ACME", None),
        ("GET", "/v1/customers/{account}/balance", "/v1/customers/ACME/balance", None),
        ("GET", "/v1/invoices/{number}", f"/v1/invoices/{n}", None),
        ("GET", "/v1/statements/{account}/{period}.csv", "/v1/statements/ACME/2026-10.csv", None),
        ("GET", "/v1/statements/{account}/{period}.pdf", "/v1/statements/ACME/2026-10.pdf", None),
        ("GET", "/v1/exceptions/{exception_id}", f"/v1/exceptions/{x}", None),
        ("POST", "/v1/exceptions/{exception_id}/reprocess", f"/v1/exceptions/{x}/reprocess", {}),
        ("POST", "/v1/exceptions/{exception_id}/accept", f"/v1/exceptions/{x}/accept", reason),
        ("POST", "/v1/exceptions/{exception_id}/reject", f"/v1/exceptions/{x}/reject", reason),
        ("GET", "/v1/disputes/{number}", f"/v1/disputes/{d}", None),
        (
            "GET",
            "/v1/reports/filings/{report}/verification",
            f"/v1/reports/filings/{r}/verification",
            None,
        ),
        ("POST", "/v1/disputes", "/v1/disputes", {"record_id": "c1", "origin": "api", **reason}),
        ("POST", "/v1/disputes/{number}/comments", f"/v1/disputes/{d}/comments", {"text": "hi"}),
        (
            "POST",
            "/v1/disputes/{number}/status",
            f"/v1/disputes/{d}/status",
            {"status": "investigating"},
        ),
        (
            "POST",
            "/v1/disputes/{number}/resolve",
            f"/v1/disputes/{d}/resolve",
            {"outcome": "rejected"},
        ),
    ]
    own_lists = [
        ("GET", "/v1/customers", "/v1/customers"),
        ("GET", "/v1/invoices", "/v1/invoices"),
        ("GET", "/v1/exceptions", "/v1/exceptions"),
        ("GET", "/v1/disputes", "/v1/disputes"),
        ("GET", "/v1/rate-tables", "/v1/rate-tables"),
        ("GET", "/v1/rate-tables/{name}", "/v1/rate-tables/tiered"),
        ("GET", "/v1/reports/regulatory/{period}", "/v1/reports/regulatory/2026-10"),
        ("GET", "/v1/reports/filings", "/v1/reports/filings"),
    ]
    tried: set[tuple[str, str]] = set()
    with api.client("sg") as other:
        for method, template, path, body in not_found:
            reply = other.request(method, path, json=body)
            assert reply.status_code == 404, (method, path, reply.text)
            assert reply.headers["content-type"] == "application/problem+json"
            _no_leak(reply, echoed="ACME")
            tried.add((method, template))
        for method, template, path in own_lists:
            reply = other.get(path)
            assert reply.status_code == 200, (path, reply.text)
            _no_leak(reply)
            assert "MYR" not in reply.text  # SG1 bills in SGD
            tried.add((method, template))
        assert [c["account"] for c in other.get("/v1/customers").json()] == ["ZED"]

        # writes land in the caller's own entity: MY1's c1 is new to SG1, not a duplicate
        pushed = other.post(
            "/v1/events",
            json=[
                {
                    **CALL,
                    "record_id": "c1",
                    "start_time": "2026-10-05T10:00:00+08:00",
                    "quantity": 60,
                    "account": "ZED",
                }
            ],
        ).json()
        assert pushed["results"][0]["duplicate"] is False
        assert pushed["results"][0]["currency"] == "SGD"
        tried.add(("POST", "/v1/events"))
        quote = other.post(
            "/v1/rate",
            json={
                "start_time": "2026-10-05T10:00:00+08:00",
                "quantity": 60,
                "account": "ACME",
                "destination": "+60312345678",
            },
        ).json()
        assert quote["results"][0]["code"] == "UNMATCHED_CUSTOMER"  # ACME is not SG1's
        tried.add(("POST", "/v1/rate"))
        upload = other.post(
            "/v1/imports",
            content=b"record_id,start_time,quantity,account,destination\nc2,2026-10-06T10:00:00+08:00,60,ZED,+60312345678\n",
            headers={"Content-Type": "text/csv"},
        ).json()
        assert (upload["rated"], upload["duplicates"], upload["currency"]) == (1, 0, "SGD")
        tried.add(("POST", "/v1/imports"))
        tried.add(("POST", "/v1/rate-tables"))  # imports into the caller's entity (test_routes)

    with api.client() as mine:
        # MY1 still sees exactly its own
        assert mine.get(f"/v1/disputes/{d}").json()["status"] == "open"
        assert mine.get(f"/v1/exceptions/{x}").json()["status"] == "open"
        paths = httpx.get(f"{api.url}/openapi.json").json()["paths"]
    public = {"/healthz", "/readyz", "/metrics"}
    routes = {(m.upper(), p) for p, ops in paths.items() if p not in public for m in ops}
    assert routes == tried, "a route is missing from the isolation test"


def _no_leak(reply: httpx.Response, echoed: str = "") -> None:
    """Nothing of MY1's in the answer but what the caller sent (a 404 may name the id)."""
    for secret in ("ACME", "Acme", "NOBODY", "never called", "MY1", "0.8000", "0.6000"):
        if secret != echoed:
            assert secret not in reply.text, (reply.request.url, reply.text)
