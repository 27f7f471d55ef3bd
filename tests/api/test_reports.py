"""The regulatory report over HTTP: the same figures as the CLI's, its CSV, the filings and
their verification, and problems for what cannot be answered."""

from __future__ import annotations

import csv
import io

from ratebook.workflows.file_report import file_report
from tests.api.conftest import Api

# two calls to Malaysian numbers, of 3 minutes and 11 minutes, at RM0.1000 a minute for the
# first 10 minutes of the cycle and RM0.0500 after: 0.3000, then 7 minutes at 0.1000 and 4 at
# 0.0500 = 0.9000; 1.2000 in all
EVENTS = [
    {
        "record_id": "a1",
        "start_time": "2026-10-05T10:00:00+08:00",
        "quantity": 180,
        "account": "ACME",
        "destination": "+60323856789",
    },
    {
        "record_id": "a2",
        "start_time": "2026-10-06T10:00:00+08:00",
        "quantity": 660,
        "account": "ACME",
        "destination": "+60123456789",
    },
]


def test_the_report_and_its_filings(api: Api) -> None:
    with api.client() as client:
        assert client.post("/v1/events", json={"events": EVENTS}).status_code == 200
        report = client.get("/v1/reports/regulatory/2026-10")
        assert report.status_code == 200, report.text
        body = report.json()
        lines = [r for r in body["rows"] if r["section"] == "line"]
        assert [(r["category"], r["records"], r["gross"]) for r in lines] == [
            ("domestic_fixed", "1", "0.30"),
            ("domestic_mobile", "1", "0.90"),
        ]
        assert body["reconciliation"]["ledger_open"] == "1.20"
        assert body["reconciliation"]["reconciled"] is True
        as_csv = client.get("/v1/reports/regulatory/2026-10", params={"format": "csv"})
        assert as_csv.headers["content-type"].startswith("text/csv")
        assert as_csv.headers["x-inputs-sha256"] == body["inputs_sha256"]
        rows = list(csv.DictReader(io.StringIO(as_csv.text)))
        assert rows == body["rows"]
        assert client.get("/v1/reports/filings").json() == []

    filed = file_report(api.store, period="2026-10", entity_code="MY1")
    with api.client("my_read") as client:
        filings = client.get("/v1/reports/filings").json()
        assert [(f["report"], f["revision"], f["csv_sha256"]) for f in filings] == [
            (filed.filing.id, 0, filed.filing.csv_sha256)
        ]
        verified = client.get(f"/v1/reports/filings/{filed.filing.id}/verification").json()
        assert (verified["matches"], verified["problems"]) == (True, [])
    # another entity's key sees neither the filing nor the figures
    with api.client("sg") as client:
        assert client.get("/v1/reports/filings").json() == []
        missing = client.get(f"/v1/reports/filings/{filed.filing.id}/verification")
        assert (missing.status_code, missing.json()["code"]) == (404, "UNKNOWN_REPORT")


def test_what_cannot_be_answered_is_a_problem(api: Api) -> None:
    with api.client() as client:
        for params, code in (
            ({"profile": "../../etc/passwd.yaml"}, "UNKNOWN_PROFILE"),
            ({"profile": "nope"}, "UNKNOWN_PROFILE"),
            ({"basis": "sometimes"}, "VALIDATION_FAILED"),
        ):
            reply = client.get("/v1/reports/regulatory/2026-10", params=params)
            assert (reply.status_code, reply.json()["code"]) == (422, code), reply.text
            assert reply.headers["content-type"] == "application/problem+json"
        bad = client.get("/v1/reports/regulatory/2026-13")
        assert (bad.status_code, bad.json()["code"]) == (422, "BAD_PERIOD")
    with api.client(None) as anonymous:
        assert anonymous.get("/v1/reports/filings").status_code == 401
