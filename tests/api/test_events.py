"""Pushing events: each gets its charge or its exception; repeats answer the original;
Idempotency-Key replays; limits, bad bodies and bad keys get problem JSON.

Hand-worked prices (tests/api/conftest.py TIERED): calls to +60 cost RM0.1000 a minute, in
whole minutes, for the first 10 minutes of the customer's cycle, RM0.0500 after.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select, update

from ratebook.store.tables import entities as entities_table
from ratebook.store.tables import idempotency_keys, usage_records
from ratebook.workflows import review_exceptions
from ratebook.workflows.manage_keys import revoke_key
from tests.api.conftest import Api

CALL = {"start_time": "2026-10-05T10:00:00+08:00", "destination": "+60312345678"}


def _events() -> list[dict[str, object]]:
    return [
        {**CALL, "record_id": "c1", "quantity": 480, "account": "ACME"},
        # 8 minutes already used this cycle: 2 min at 0.10 + 1 min at 0.05
        {
            "record_id": "c2",
            "start_time": "2026-10-20T10:00:00+08:00",
            "quantity": "180",
            "account": "ACME",
            "destination": "+60312345678",
        },
        {**CALL, "record_id": "u1", "quantity": 60, "account": "NOBODY"},
        {**CALL, "record_id": "bad", "quantity": 60, "start_time": "yesterday"},
    ]


def _outcomes(reply: dict[str, object]) -> list[tuple[object, ...]]:
    results = reply["results"]
    assert isinstance(results, list)
    return [(r["record_id"], r["status"], r["duplicate"], r["charge"], r["code"]) for r in results]


def test_each_event_gets_its_charge_or_its_exception(api: Api) -> None:
    with api.client() as client:
        reply = client.post("/v1/events", json=_events())
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert (body["rated"], body["duplicates"], body["exceptions"]) == (2, 0, 2)
        assert _outcomes(body) == [
            ("c1", "rated", False, "0.8000", None),
            ("c2", "rated", False, "0.2500", None),
            ("u1", "exception", False, None, "UNMATCHED_CUSTOMER"),
            ("bad", "exception", False, None, "INVALID_RECORD"),
        ]
        assert body["results"][3]["field"] == "start_time"
        assert body["results"][0]["billed_quantity"] == "480"
        # the parts of a graduated row's record in each tier it spans (tier 0: the row's own
        # price, as `ratebook explain` numbers them)
        c2_tiers = [
            {"tier": 0, "quantity": "120", "price": "0.1000"},
            {"tier": 1, "quantity": "60", "price": "0.0500"},
        ]
        assert body["results"][1]["tiers"] == c2_tiers
        assert body["results"][0]["tiers"] == [{"tier": 0, "quantity": "480", "price": "0.1000"}]
        assert body["results"][2]["tiers"] is None
        assert body["results"][0]["period"] == "2026-10"

        # the same events again: nothing new, each answered with the original outcome
        again = client.post("/v1/events", json={"events": _events()}).json()
        assert (again["rated"], again["duplicates"], again["exceptions"]) == (0, 4, 0)
        assert _outcomes(again) == [
            ("c1", "rated", True, "0.8000", None),
            ("c2", "rated", True, "0.2500", None),
            ("u1", "exception", True, None, "UNMATCHED_CUSTOMER"),
            ("bad", "exception", True, None, "INVALID_RECORD"),
        ]
        assert again["results"][1]["tiers"] == c2_tiers
        assert again["results"][2]["exception_id"] == body["results"][2]["exception_id"]
        assert again["results"][3]["exception_id"] == body["results"][3]["exception_id"]

        balance = client.get("/v1/customers/ACME/balance", params={"period": "2026-10"}).json()
        assert balance["usage"] == "1.0500"
        assert balance["balance"] == "1.0500"
        assert balance["cycle_status"] == "open"

    with api.store.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(usage_records)).scalar_one()
    assert stored == 3  # c1, c2 and the unmatched u1; the invalid row never became a record
    identity = {
        (row["read"], row["rated"], row["duplicates"])
        for row in review_exceptions.row_identity(api.store, entity_code="MY1")
        if row["ok"]
    }
    assert identity == {(4, 2, 0), (4, 0, 4)}


def test_exact_numbers_and_a_single_event(api: Api) -> None:
    with api.client() as client:

        def push(quantity: str, record_id: str) -> dict[str, object]:
            # the number written into the JSON text as it stands, not through a float
            text = json.dumps({**CALL, "record_id": record_id, "account": "ACME", "quantity": 0})
            body = text.replace('"quantity": 0', f'"quantity": {quantity}').encode()
            reply = client.post(
                "/v1/events", content=body, headers={"Content-Type": "application/json"}
            )
            assert reply.status_code == 200, reply.text
            result: dict[str, object] = reply.json()["results"][0]
            return result

        # 61.5 s in whole minutes: 2 min at RM0.10
        half = push("61.5", "n1")
        assert (half["charge"], half["billed_quantity"]) == ("0.2000", "120")
        # a float would read this as 60.0 and bill a minute; read exactly, it has more places
        # than a quantity may have
        fine = push("60.000000000000001", "n2")
        assert (fine["status"], fine["code"], fine["field"]) == (
            "exception",
            "INVALID_RECORD",
            "quantity",
        )

        # a quantity in another unit of the service's measure: 1.5 min is 90 s, billed as
        # 2 whole minutes at RM0.10; an unknown unit is named
        def push_in(unit: str, record_id: str) -> dict[str, object]:
            event = {**CALL, "record_id": record_id, "account": "ACME", "quantity": "1.5"}
            reply = client.post("/v1/events", json={**event, "unit": unit})
            assert reply.status_code == 200, reply.text
            result: dict[str, object] = reply.json()["results"][0]
            return result

        minutes = push_in("min", "u-min")
        assert (minutes["charge"], minutes["billed_quantity"]) == ("0.2000", "120")
        unknown = push_in("fortnight", "u-bad")
        assert (unknown["code"], unknown["field"]) == ("INVALID_RECORD", "unit")
    with api.store.connect() as conn:
        stored = conn.execute(
            select(usage_records.c.quantity, usage_records.c.unit).where(
                usage_records.c.record_id == "u-min"
            )
        ).one()
    assert tuple(stored) == (90_000, "s")  # kept in the base unit, at 3 places


def test_cloudevents_structured_and_batch(api: Api) -> None:
    cloud = {
        "specversion": "1.0",
        "id": "ce-1",
        "source": "kl-switch-1",
        "type": "com.example.call.completed",
        "time": "2026-10-07T09:00:00+08:00",
        "subject": "BETA",
        "data": {"quantity": 60, "destination": "+60312345678"},
    }
    with api.client() as client:
        one = client.post(
            "/v1/events",
            content=json.dumps(cloud).encode(),
            headers={"Content-Type": "application/cloudevents+json"},
        ).json()
        assert _outcomes(one) == [("ce-1", "rated", False, "0.1000", None)]
        assert one["results"][0]["origin"] == "kl-switch-1"
        batch = client.post(
            "/v1/events",
            content=json.dumps([cloud, {**cloud, "id": "ce-2", "data": {"quantity": 30}}]).encode(),
            headers={"Content-Type": "application/cloudevents-batch+json"},
        ).json()
    # ce-1 repeats; ce-2 has no destination: the +60 row cannot price it
    assert [(r["record_id"], r["duplicate"]) for r in batch["results"]] == [
        ("ce-1", True),
        ("ce-2", False),
    ]
    assert batch["results"][1]["status"] == "exception"


def test_a_cloudevent_s_other_data_keys_are_kept_as_attributes(api: Api) -> None:
    """OpenMeter's examples put their dimensions in ``data`` beside the value: they are kept
    with the record, as a stream keeps them, instead of refusing the event."""
    data: dict[str, object] = {
        "quantity": 60,
        "destination": "+60312345678",
        "method": "GET",
        "path": "/hello",
        "attributes": {"tier": "gold"},
    }
    cloud = {
        "specversion": "1.0",
        "id": "ce-om-1",
        "source": "gateway",
        "type": "request",
        "time": "2026-10-07T09:00:00+08:00",
        "subject": "BETA",
        "data": data,
    }
    with api.client() as client:
        reply = client.post(
            "/v1/events",
            content=json.dumps(cloud).encode(),
            headers={"Content-Type": "application/cloudevents+json"},
        )
        assert reply.status_code == 200, reply.text
        assert _outcomes(reply.json()) == [("ce-om-1", "rated", False, "0.1000", None)]
        clash = client.post(
            "/v1/events",
            content=json.dumps(
                {**cloud, "id": "ce-om-2", "data": {**data, "Tier": "silver"}}
            ).encode(),
            headers={"Content-Type": "application/cloudevents+json"},
        )
    assert (clash.status_code, clash.json()["code"]) == (422, "BAD_ATTRIBUTE")
    with api.store.connect() as conn:
        stored = conn.execute(
            select(usage_records.c.attributes).where(usage_records.c.record_id == "ce-om-1")
        ).scalar_one()
    assert json.loads(stored) == {
        "ce_type": "request",
        "method": "GET",
        "path": "/hello",
        "tier": "gold",
    }


def test_an_epoch_start_time_is_read_as_the_instant_it_counts(api: Api) -> None:
    """1790989200 is 2026-10-03 01:00:00 UTC (09:00 in Kuala Lumpur), in seconds or, from
    10^11 on, in milliseconds; a number no date has is the event's exception, not a 500."""
    events = [
        {**CALL, "record_id": "ep-s", "start_time": 1790989200, "quantity": 60, "account": "BETA"},
        {
            **CALL,
            "record_id": "ep-ms",
            "start_time": 1790989200250,
            "quantity": 60,
            "account": "BETA",
        },
        {**CALL, "record_id": "ep-x", "start_time": 10**30, "quantity": 60, "account": "BETA"},
    ]
    with api.client() as client:
        reply = client.post("/v1/events", json=events)
    assert reply.status_code == 200, reply.text
    results = reply.json()["results"]
    assert [(r["status"], r["period"], r["code"]) for r in results] == [
        ("rated", "2026-10", None),
        ("rated", "2026-10", None),
        ("exception", None, "INVALID_RECORD"),
    ]
    with api.store.connect() as conn:
        starts = dict(
            conn.execute(
                select(usage_records.c.record_id, usage_records.c.start_time).where(
                    usage_records.c.record_id.in_(["ep-s", "ep-ms"])
                )
            ).all()
        )
    assert starts["ep-s"] == datetime(2026, 10, 3, 1, tzinfo=UTC)
    assert starts["ep-ms"] == datetime(2026, 10, 3, 1, 0, 0, 250_000, tzinfo=UTC)


def test_idempotency_key_replays_refuses_reuse_and_in_flight(api: Api) -> None:
    event = {**CALL, "record_id": "k1", "quantity": 60, "account": "ACME"}
    with api.client() as client:
        first = client.post("/v1/events", json=[event], headers={"Idempotency-Key": '"abc-1"'})
        assert first.status_code == 200
        assert "Idempotent-Replayed" not in first.headers
        replay = client.post("/v1/events", json=[event], headers={"Idempotency-Key": '"abc-1"'})
        assert replay.status_code == 200
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json() == first.json()  # not a "duplicate" answer: the first one
        assert replay.json()["results"][0]["duplicate"] is False

        other = client.post(
            "/v1/events",
            json=[{**event, "quantity": 61}],
            headers={"Idempotency-Key": '"abc-1"'},
        )
        assert other.status_code == 422
        assert other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"

        # a request with the same key and body, still being processed elsewhere: its claim
        # holds the fingerprint of method, path, query and body digest
        body = json.dumps([{**event, "record_id": "k2"}]).encode()
        digest = hashlib.sha256(body).hexdigest()
        fingerprint = hashlib.sha256(f"POST /v1/events?\n{digest}".encode()).hexdigest()
        with api.store.begin() as conn:
            entity_id = conn.execute(
                select(usage_records.c.entity_id).where(usage_records.c.record_id == "k1")
            ).scalar_one()
            conn.execute(
                insert(idempotency_keys).values(
                    entity_id=entity_id,
                    key="busy",
                    request_sha256=fingerprint,
                    status="in_flight",
                    created_at=datetime.now(UTC),
                )
            )
        busy = client.post(
            "/v1/events",
            content=body,
            headers={"Idempotency-Key": "busy", "Content-Type": "application/json"},
        )
        assert busy.status_code == 409
        assert busy.json()["code"] == "IDEMPOTENCY_IN_FLIGHT"


def test_an_idempotency_key_expires_a_day_after_its_request(api: Api) -> None:
    # RATEBOOK_IDEMPOTENCY_TTL_HOURS is 24 by default: a key claimed 25 hours ago is
    # forgotten (its reuse with another body runs, where a live key gets 422), and the
    # server's purge drops every expired key, of any entity, keeping the live ones
    event = {**CALL, "record_id": "e1", "quantity": 60, "account": "ACME"}
    now = datetime.now(UTC)
    with api.store.begin() as conn:
        entities = dict(conn.execute(select(entities_table.c.code, entities_table.c.id)).all())
        for entity, key, age in (
            ("MY1", "stale-my", timedelta(hours=25)),
            ("SG1", "stale-sg", timedelta(days=3)),
            ("SG1", "live-sg", timedelta(hours=23)),
        ):
            conn.execute(
                insert(idempotency_keys).values(
                    entity_id=entities[entity],
                    key=key,
                    request_sha256="0" * 64,
                    status="done",
                    response_status=200,
                    response_type="application/json",
                    response_body="{}",
                    created_at=now - age,
                    completed_at=now - age,
                )
            )
    with api.client() as client:
        first = client.post("/v1/events", json=[event], headers={"Idempotency-Key": "day"})
        assert first.status_code == 200, first.text
        with api.store.connect() as conn:
            kept = sorted(conn.execute(select(idempotency_keys.c.key)).scalars())
        assert kept == ["day", "live-sg"]

        with api.store.begin() as conn:
            conn.execute(
                update(idempotency_keys)
                .where(idempotency_keys.c.key == "day")
                .values(created_at=now - timedelta(hours=25))
            )
        other = {**event, "record_id": "e2"}
        again = client.post("/v1/events", json=[other], headers={"Idempotency-Key": "day"})
        assert again.status_code == 200, again.text
        assert "Idempotent-Replayed" not in again.headers
        assert again.json()["results"][0]["record_id"] == "e2"
        assert again.json()["rated"] == 1
        # the key now keeps the second request's answer
        replay = client.post("/v1/events", json=[other], headers={"Idempotency-Key": "day"})
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json() == again.json()


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "INVALID_JSON"),
        (b"[" * 40 + b"1" + b"]" * 40, 400, "JSON_TOO_DEEP"),
        (b"[]", 422, "NO_EVENTS"),
        (b'"an event"', 422, "BAD_EVENTS"),
        (b'[{"record_id": "x", "start_time": "2026-10-01", "quantity": NaN}]', 400, "INVALID_JSON"),
        (
            b'[{"record_id": "x", "start_time": "2026-10-01", "quantity": 1, "colour": "red"}]',
            422,
            "VALIDATION_FAILED",
        ),
    ],
)
def test_bad_bodies_get_a_problem(api: Api, body: bytes, status: int, code: str) -> None:
    with api.client() as client:
        reply = client.post(
            "/v1/events", content=body, headers={"Content-Type": "application/json"}
        )
    assert reply.status_code == status
    assert reply.headers["content-type"] == "application/problem+json"
    problem = reply.json()
    assert (problem["status"], problem["code"]) == (status, code)
    assert "Traceback" not in reply.text
    if code == "VALIDATION_FAILED":
        assert problem["errors"][0]["pointer"] == "/0/colour"


def test_limits(api: Api) -> None:
    event = {**CALL, "record_id": "x", "quantity": 1}
    with api.client() as client:
        many = client.post("/v1/events", json=[event] * 10_001)
        assert (many.status_code, many.json()["code"]) == (422, "TOO_MANY_EVENTS")
        huge = client.post(
            "/v1/events",
            content=b"[" + b" " * (17 * 1024 * 1024) + b"]",
            headers={"Content-Type": "application/json"},
        )
        assert (huge.status_code, huge.json()["code"]) == (413, "BODY_TOO_LARGE")


def test_keys_scopes_and_revocation(api: Api) -> None:
    event = [{**CALL, "record_id": "s1", "quantity": 1, "account": "ACME"}]
    with api.client(None) as anonymous:
        reply = anonymous.post("/v1/events", json=event)
        assert (reply.status_code, reply.json()["code"]) == (401, "UNAUTHENTICATED")
        assert reply.headers["WWW-Authenticate"] == "Bearer"
        forged = anonymous.post(
            "/v1/events", json=event, headers={"Authorization": "Bearer rbk_00000000_nope"}
        )
        assert forged.status_code == 401
    with api.client("my_read") as reader:
        reply = reader.post("/v1/events", json=event)
        assert (reply.status_code, reply.json()["code"]) == (403, "FORBIDDEN")
        assert reader.get("/v1/customers").status_code == 200
    revoke_key(api.store, "viewer", entity_code="MY1")
    with api.client("my_read") as reader:
        assert reader.get("/v1/customers").status_code == 401


def _stored(api: Api, record_id: str) -> int:
    with api.store.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(usage_records)
                .where(usage_records.c.record_id == record_id)
            ).scalar_one()
        )


def test_a_key_revoked_while_the_server_keeps_it_stores_nothing(api: Api) -> None:
    """The events route keeps a key it has checked; revoked by another process (the CLI)
    afterwards, its next push is refused in the transaction that would store it."""
    with api.client() as client:
        first = client.post(
            "/v1/events", json=[{**CALL, "record_id": "k1", "account": "ACME", "quantity": 60}]
        )
        assert first.status_code == 200, first.text
        revoke_key(api.store, "switch", entity_code="MY1")
        event = [{**CALL, "record_id": "k2", "account": "ACME", "quantity": 60}]
        kept = client.post("/v1/events", json=event)
        assert (kept.status_code, kept.json()["code"]) == (401, "UNAUTHENTICATED")
        assert kept.headers["WWW-Authenticate"] == "Bearer"
        # dropped from the server's keys: the store refuses it from now on
        again = client.post("/v1/events", json=event, headers={"Idempotency-Key": "k2-retry"})
        assert (again.status_code, again.json()["code"]) == (401, "UNAUTHENTICATED")
    assert (_stored(api, "k1"), _stored(api, "k2")) == (1, 0)


def test_a_kept_key_revoked_since_gets_401_before_any_refusal_of_its_body(api: Api) -> None:
    """A revoked key learns nothing of what it sends: an invalid body, or events the writer
    refuses (a canonical field as an attribute), gets 401, as a valid one does."""
    good = {**CALL, "record_id": "r1", "account": "ACME", "quantity": 60}
    with api.client() as client:
        assert client.post("/v1/events", json=[good]).status_code == 200
        # a live key is told what is wrong
        invalid = client.post("/v1/events", json=[{**good, "record_id": "r2", "quantity": []}])
        assert (invalid.status_code, invalid.json()["code"]) == (422, "VALIDATION_FAILED")
        revoke_key(api.store, "switch", entity_code="MY1")
        for body in (
            [{**good, "record_id": "r3", "quantity": []}],  # the route refuses it
            [],  # NO_EVENTS
            [{**good, "record_id": "r4", "attributes": {"account": "X"}}],  # the writer does
        ):
            reply = client.post("/v1/events", json=body)
            assert (reply.status_code, reply.json()["code"]) == (401, "UNAUTHENTICATED"), body
            assert reply.headers["WWW-Authenticate"] == "Bearer"
    assert _stored(api, "r4") == 0


def test_a_key_revoked_before_its_kept_push_with_an_idempotency_key(api: Api) -> None:
    with api.client() as client:
        assert (
            client.post(
                "/v1/events", json=[{**CALL, "record_id": "i1", "account": "ACME", "quantity": 60}]
            ).status_code
            == 200
        )
        revoke_key(api.store, "switch", entity_code="MY1")
        event = [{**CALL, "record_id": "i2", "account": "ACME", "quantity": 60}]
        reply = client.post("/v1/events", json=event, headers={"Idempotency-Key": "i2"})
        assert (reply.status_code, reply.json()["code"]) == (401, "UNAUTHENTICATED")
    assert _stored(api, "i2") == 0
