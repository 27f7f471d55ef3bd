"""CloudEvents as OpenMeter's producers send them: the producer's own properties in
``data``, read through a meter per event type; one bad event in a batch is that event's
exception, not the request's error.

Prices (tests/api/conftest.py TIERED): calls to +60 at RM0.1000 a minute in whole minutes;
SMS at RM0.0500 each (the first three of a cycle)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from ratebook.errors import InputError
from ratebook.sources.meters import load_meters
from ratebook.store.tables import usage_records
from tests.api.conftest import running_api

METERS = """
meters:
  - type: call.completed
    value: $.billsec
    service: voice
    unit: s
    account: $.customer
    dimensions: {trunk: $.gw}
  - type: sms.sent
    value: count
    service: sms
"""


def _cloud(event_id: str, kind: str, data: dict[str, object], **extra: object) -> dict[str, object]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "pbx",
        "type": kind,
        "time": "2026-10-07T09:00:00+08:00",
        **extra,
        "data": data,
    }


def test_meters_read_producers_events_and_a_bad_one_fails_alone(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    meters = tmp_path / "meters.yaml"
    meters.write_text(METERS)
    call = {"billsec": 90, "customer": "BETA", "destination": "+60312345678", "gw": "gw-1"}
    batch = [
        _cloud("m-1", "call.completed", {**call, "codec": "PCMA"}),
        _cloud("m-2", "sms.sent", {"to": "+60123456789"}, subject="ACME"),
        _cloud("m-3", "call.completed", {**call, "billsec": True}),
        _cloud("m-4", "call.completed", {k: v for k, v in call.items() if k != "billsec"}),
        _cloud("m-5", "call.completed", {**call, "start_time": 1791338460000}),
    ]
    with running_api(engine, db_url, tmp_path, meters_file=meters) as api, api.client() as client:
        reply = client.post(
            "/v1/events",
            content=json.dumps(batch).encode(),
            headers={"Content-Type": "application/cloudevents-batch+json"},
        )
    assert reply.status_code == 200, reply.text
    results = {
        r["record_id"]: (r["status"], r["charge"], r["code"], r["field"])
        for r in reply.json()["results"]
    }
    # 90 s as 2 minutes at RM0.1000; one SMS at RM0.0500; billsec true is not a number and
    # a call without billsec has no quantity: each is its own exception; m-5 starts at
    # 1791338460 s (2026-10-07 02:01 UTC), a minute after m-1, and is billed alike
    assert results == {
        "m-1": ("rated", "0.2000", None, None),
        "m-2": ("rated", "0.0500", None, None),
        "m-3": ("exception", None, "INVALID_RECORD", "quantity"),
        "m-4": ("exception", None, "INVALID_RECORD", "quantity"),
        "m-5": ("rated", "0.2000", None, None),
    }
    with engine.connect() as conn:
        stored = {
            record_id: (service, json.loads(attributes), start)
            for record_id, service, attributes, start in conn.execute(
                select(
                    usage_records.c.record_id,
                    usage_records.c.service,
                    usage_records.c.attributes,
                    usage_records.c.start_time,
                )
            )
        }
    # the dimension under its name; a property no meter names kept as it was sent
    assert stored["m-1"][:2] == (
        "voice",
        {"ce_type": "call.completed", "trunk": "gw-1", "codec": "PCMA"},
    )
    assert stored["m-2"][:2] == ("sms", {"ce_type": "sms.sent", "to": "+60123456789"})
    assert stored["m-5"][2].isoformat() == "2026-10-07T02:01:00+00:00"


def test_without_a_meter_an_event_with_no_quantity_is_its_own_exception(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    """OpenMeter's sample request event, with no meter for its type: kept as an exception
    (its properties as attributes) for review, not a 422 for the request."""
    sample = _cloud(
        "00001",
        "request",
        {"method": "GET", "route": "/hello", "duration_ms": 40},
        subject="BETA",
    )
    with running_api(engine, db_url, tmp_path) as api, api.client() as client:
        reply = client.post(
            "/v1/events",
            content=json.dumps([sample]).encode(),
            headers={"Content-Type": "application/cloudevents-batch+json"},
        )
    assert reply.status_code == 200, reply.text
    (result,) = reply.json()["results"]
    assert (result["status"], result["code"], result["field"]) == (
        "exception",
        "INVALID_RECORD",
        "quantity",
    )


def test_a_bad_meters_file_names_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "meters.yaml"
    bad.write_text("meters:\n  - {type: x, value: duration_ms, service: api}\n")
    with pytest.raises(InputError) as raised:
        load_meters(bad)
    assert (raised.value.code, raised.value.field) == ("BAD_METER", "meters[0].value")
