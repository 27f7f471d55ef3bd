"""Concurrent pushes are stored together (group commit) and each request still gets its own
outcomes; a request that cannot be stored fails alone.

Hand-worked prices (tests/api/conftest.py TIERED): calls to +60 cost RM0.1000 a minute for
the first 10 minutes of the customer's cycle, RM0.0500 a minute after.
"""

from __future__ import annotations

import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from ratebook.api.coalesce import EventCoalescer
from ratebook.api.metrics import Metrics
from ratebook.errors import InputError
from ratebook.settings import Settings
from ratebook.store.tables import usage_records
from ratebook.workflows.ingest_events import EventGroup
from tests.api.conftest import Api

BIG = 3000  # one-minute calls of BETA in one request
SMALL = 40  # one-minute calls of ACME, one request each


def _call(record_id: str, account: str, start: datetime) -> dict[str, Any]:
    return {
        "record_id": record_id,
        "start_time": start.isoformat(),
        "quantity": 60,
        "account": account,
        "destination": "+60312345678",
    }


def _metric(text: str, name: str) -> float:  # float-ok: Prometheus sample, not money
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found, name
    return float(found.group(1))  # float-ok: Prometheus sample, not money


def test_concurrent_requests_are_stored_together_each_with_its_own_outcomes(api: Api) -> None:
    october = datetime.fromisoformat("2026-10-01T00:00:00+08:00")
    big = [_call(f"b{i}", "BETA", october + timedelta(minutes=i)) for i in range(BIG)]
    small = [
        _call(f"a{i}", "ACME", october + timedelta(days=9, minutes=7 * i)) for i in range(SMALL)
    ]
    # an attribute named like a canonical field cannot be stored: that request fails alone
    bad = {**_call("x1", "ACME", october), "attributes": {"account": "OTHER"}}
    replies: dict[str, httpx.Response] = {}
    lock = threading.Lock()

    def push(name: str, body: object) -> None:
        with api.client() as client:
            reply = client.post("/v1/events", json=body)
        with lock:
            replies[name] = reply

    with ThreadPoolExecutor(max_workers=8) as pool:
        pool.submit(push, "big", big)
        for i, event in enumerate(small):
            pool.submit(push, f"a{i}", event)
            if i == SMALL // 2:
                pool.submit(push, "bad", bad)

    assert replies["bad"].status_code == 422, replies["bad"].text
    assert replies["bad"].json()["code"] == "BAD_ATTRIBUTE"
    assert replies["big"].status_code == 200, replies["big"].text
    body = replies["big"].json()
    assert (body["rated"], body["duplicates"], body["exceptions"]) == (BIG, 0, 0)
    assert [r["record_id"] for r in body["results"]] == [f"b{i}" for i in range(BIG)]
    for i in range(SMALL):
        reply = replies[f"a{i}"]
        assert reply.status_code == 200, reply.text
        (result,) = reply.json()["results"]
        # each request answers its own event, at its place 0 in that request
        assert (result["index"], result["record_id"], result["status"]) == (0, f"a{i}", "rated")
        assert result["duplicate"] is False
        # provisional: the tier reached depends on which calls of the cycle were in first
        assert result["charge"] in {"0.1000", "0.0500"}

    with api.client() as client:
        # the cycle re-rated to its order by start time: 10 minutes at 0.10, the rest at 0.05
        acme = client.get("/v1/customers/ACME/balance", params={"period": "2026-10"}).json()
        assert acme["usage"] == "2.5000"  # 10 x 0.10 + 30 x 0.05
        beta = client.get("/v1/customers/BETA/balance", params={"period": "2026-10"}).json()
        assert beta["usage"] == "150.5000"  # 10 x 0.10 + 2990 x 0.05
        metrics = client.get("/metrics").text
    stored_requests = _metric(metrics, "ratebook_event_group_requests_sum")
    commits = _metric(metrics, "ratebook_event_group_requests_count")
    assert stored_requests == 1 + SMALL
    assert commits < stored_requests  # some requests shared a transaction

    with api.store.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(usage_records)).scalar_one()
        bad_stored = conn.execute(
            select(func.count()).select_from(usage_records).where(usage_records.c.record_id == "x1")
        ).scalar_one()
    assert (stored, bad_stored) == (BIG + SMALL, 0)


def test_a_group_that_fails_is_stored_request_by_request(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    october = datetime.fromisoformat("2026-10-01T00:00:00+08:00")
    writer = EventCoalescer(api.store, Settings(), Metrics())
    submit = partial(writer.submit, entity="MY1", source_name="api:test", actor="key:test")
    caplog.set_level(logging.INFO, logger="ratebook.api.coalesce")
    try:
        # the writer is busy with this one while the next three queue up behind it
        busy = submit(
            EventGroup(
                events=[_call(f"b{i}", "BETA", october + timedelta(minutes=i)) for i in range(BIG)]
            )
        )
        first = submit(EventGroup(events=[_call("a1", "ACME", october)]))
        bad = submit(
            EventGroup(
                events=[{**_call("x1", "ACME", october), "attributes": {"caller": "+60123"}}]
            )
        )
        last = submit(EventGroup(events=[_call("a2", "ACME", october + timedelta(minutes=1))]))
        assert busy.result(timeout=60).rated == BIG
        assert [r.charge for r in first.result(timeout=60).results] == ["0.1000"]
        with pytest.raises(InputError) as error:
            bad.result(timeout=60)
        assert error.value.code == "BAD_ATTRIBUTE"
        assert [r.charge for r in last.result(timeout=60).results] == ["0.1000"]
    finally:
        writer.close()
    # the three (or all four, if the writer started after they were queued) shared a group
    assert any(
        re.fullmatch(r"a group of [34] requests failed; storing them one by one", m)
        for m in caplog.messages
    )
