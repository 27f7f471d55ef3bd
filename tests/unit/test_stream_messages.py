"""A stream message read as events: canonical JSON, arrays, CloudEvents in structured and
binary mode, and the reason a message holds none."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ratebook.model.meters import Meters
from ratebook.sources.messages import StreamMessage, Unreadable, decode


def _message(value: bytes | None, **headers: bytes) -> StreamMessage:
    return StreamMessage("cdrs", 2, 41, value, dict(headers))


def _events(value: bytes) -> list[dict[str, Any]]:
    found = decode(_message(value))
    assert not isinstance(found, Unreadable), found
    return found


def test_a_canonical_event_keeps_exact_numbers_and_unknown_keys_as_attributes() -> None:
    [event] = decode(
        _message(b'{"record_id": 7, "quantity": 0.1, "start_time": "t", "cell": "X1"}')
    )  # type: ignore[misc]
    assert event == {
        "record_id": 7,
        "quantity": Decimal("0.1"),  # never the float 0.1000000000000000055...
        "start_time": "t",
        "attributes": {"cell": "X1"},
    }


def test_an_array_holds_several_events() -> None:
    events = _events(b'[{"record_id": "a", "quantity": 1}, {"record_id": "b", "quantity": 2}]')
    assert [e["record_id"] for e in events] == ["a", "b"]


def test_cloudevents_in_both_modes_give_the_same_event() -> None:
    structured = decode(
        _message(
            b'{"specversion": "1.0", "id": "ce-9", "source": "meter-1", "type": "usage",'
            b' "time": "2026-10-01T10:00:00Z", "subject": "ACME",'
            b' "data": {"quantity": 30, "region": "north"}}'
        )
    )
    binary = decode(
        _message(
            b'{"quantity": 30, "region": "north"}',
            ce_specversion=b"1.0",
            ce_id=b"ce-9",
            ce_source=b"meter-1",
            ce_type=b"usage",
            ce_time=b"2026-10-01T10:00:00Z",
            ce_subject=b"ACME",
        )
    )
    expected = {
        "quantity": 30,
        "record_id": "ce-9",
        "origin": "meter-1",
        "start_time": "2026-10-01T10:00:00Z",
        "account": "ACME",
        "attributes": {"region": "north", "ce_type": "usage"},
    }
    assert structured == [expected]
    assert binary == [expected]


def test_a_metered_cloudevent_is_read_through_its_meter_in_both_modes() -> None:
    meters = Meters.model_validate(
        {
            "meters": [
                {
                    "type": "tokens",
                    "value": "$.usage.total",
                    "service": "api",
                    "unit": "req",
                    "dimensions": {"model": "$.model"},
                }
            ]
        }
    )
    data = b'{"usage": {"total": 1250}, "model": "m-large", "user": "u-7"}'
    structured = decode(
        _message(
            b'{"specversion": "1.0", "id": "t-1", "source": "llm", "type": "tokens",'
            b' "time": "2026-10-01T10:00:00Z", "subject": "ACME", "data": ' + data + b"}"
        ),
        meters,
    )
    binary = decode(
        _message(
            data,
            ce_specversion=b"1.0",
            ce_id=b"t-1",
            ce_source=b"llm",
            ce_type=b"tokens",
            ce_time=b"2026-10-01T10:00:00Z",
            ce_subject=b"ACME",
        ),
        meters,
    )
    # the nested value is the quantity; the dimension keeps its name; what no meter names
    # (the usage object the value came from, the user) is kept as it was sent
    expected = {
        "quantity": 1250,
        "service": "api",
        "unit": "req",
        "record_id": "t-1",
        "origin": "llm",
        "start_time": "2026-10-01T10:00:00Z",
        "account": "ACME",
        "attributes": {
            "usage": {"total": 1250},
            "user": "u-7",
            "model": "m-large",
            "ce_type": "tokens",
        },
    }
    assert structured == [expected]
    assert binary == [expected]
    # a type without a meter, and data with its own quantity, are read as before
    plain = decode(
        _message(
            b'{"specversion": "1.0", "id": "t-2", "source": "llm", "type": "tokens",'
            b' "data": {"quantity": 5}}'
        ),
        meters,
    )
    assert not isinstance(plain, Unreadable)
    assert plain[0]["quantity"] == 5
    assert "service" not in plain[0]


def test_what_holds_no_event_says_why() -> None:
    cases = {
        None: "the message has no value (a tombstone)",
        b"\xff\xfe": "the message is not UTF-8 (byte 0)",
        b'{"quantity": 1, "quantity": 2}': "the message is not JSON: key 'quantity' given twice",
        b"[]": "the message is an empty array",
        b"[1]": "event 0 is a JSON number, not an object",
        b'{"quantity": [1]}': "the event: quantity is a JSON array",
        b'{"specversion": "0.3", "id": "x"}': "the event: specversion '0.3' is not 1.0",
    }
    for value, reason in cases.items():
        assert decode(_message(value)) == Unreadable(reason), value
    assert decode(_message(b"{}", ce_specversion=b"1.0")) == Unreadable(
        "the CloudEvent has no ce_id header"
    )
    assert decode(_message(b"nope")).reason.startswith("the message is not JSON")  # type: ignore[union-attr]
