"""``ratebook serve --workers 2``: two server processes share the port and one store; events
pushed through either are each stored once, and a quote from either sees them all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from ratebook.store.tables import usage_records
from tests.api.conftest import Api
from tests.support.servers import ratebook_serve


@pytest.fixture
def two_workers(api: Api, db_url: str, tmp_path: Path) -> Iterator[str]:
    with ratebook_serve(db_url, tmp_path, "--workers", "2", "--no-feeds") as (url, _):
        yield url


def test_two_workers_store_each_event_once(api: Api, two_workers: str) -> None:
    headers = {"Authorization": f"Bearer {api.keys['my']}"}
    rated = duplicates = 0
    for n in range(40):
        # a new connection each time, so the kernel spreads them over both processes
        with httpx.Client(base_url=two_workers, headers=headers, timeout=30) as client:
            sent = client.post(
                "/v1/events",
                json={
                    "record_id": f"w-{n % 30}",  # the last ten are repeats
                    "account": "ACME",
                    "service": "sms",
                    "start_time": "2026-11-03T10:00:00+08:00",
                    "quantity": 1,
                    "unit": "msg",
                    "destination": "+60123456789",
                },
            )
            assert sent.status_code in (200, 201), sent.text
            duplicates += sent.json()["duplicates"]
            rated += sent.json()["rated"]
    with api.store.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(usage_records)).scalar_one()
    assert (stored, rated, duplicates) == (30, 30, 10)
    with httpx.Client(base_url=two_workers, headers=headers, timeout=30) as client:
        quote = client.post(
            "/v1/rate",
            json={
                "account": "ACME",
                "service": "sms",
                "start_time": "2026-11-04T10:00:00+08:00",
                "quantity": 1,
                "unit": "msg",
                "destination": "+60123456789",
            },
        )
    assert quote.status_code == 200, quote.text
    # SMS: RM0.0500 each for the first 3 of the cycle, RM0.0200 once past 3 (volume tier:
    # the whole cycle's 31 messages at the tier they reach)
    assert quote.json()["results"][0]["charge"] == "0.0200"
