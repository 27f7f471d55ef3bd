"""One event read without frames (``pipeline.event_record``) against the generic format's
shaping, ``normalise`` and ``validate``: where the fast path takes an event, both give the same
canonical record, digest and period included; what it declines, the frames read."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from ratebook.model.usage import EVENT_FIELDS as FIELDS
from ratebook.model.usage import RECORD_COLUMNS
from ratebook.pipeline.event_record import canonical
from ratebook.pipeline.normalise import normalise
from ratebook.pipeline.numbers import number_plan
from ratebook.pipeline.validate import validate
from ratebook.sources.csvread import RawChunk
from ratebook.sources.events import event_rows
from ratebook.sources.formats import get_format

ZONES = ("Asia/Kuala_Lumpur", "Europe/London", "America/New_York")

times = st.sampled_from(
    [
        "2026-10-15T10:00:00+08:00",
        "2026-10-15 10:00:00",
        "2026-10-15T10:00:00Z",
        "2026-10-15T10:00:00.5-04:30",
        "2026-10-15T10:00:00.123456+00:00",
        "2026-03-29T01:30:00",  # in London's gap
        "2026-10-25T01:30:00",  # twice in London
        "2026-03-08T02:30:00",  # in New York's gap
        "2026-11-01T01:15:00",  # twice in New York
        "2026-02-30T10:00:00",
        "2026-10-15T10:00:00+24:00",
        "1969-12-31T23:59:59Z",
        "2026-10-15",
        " 2026-10-15T10:00:00+08:00 ",
        "",
    ]
) | st.builds(
    "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}{}".format,
    st.integers(1968, 2201),
    st.integers(1, 12),
    st.integers(1, 28),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
    st.sampled_from(["", "Z", "+08:00", "-05:00", "+05:45", ".25"]),
)
quantities = (
    st.sampled_from(
        ["125", "0", "1.5", "2.", ".5", "1.2345", "-3", "abc", "", " 42 ", "1.500", "9" * 16]
    )
    | st.integers(0, 10**9)
    | st.decimals(0, 10**6, places=3).map(Decimal)
)
numbers = st.sampled_from(
    [
        None,
        "+60312345678",
        "0312345678",
        "0060312345678",
        "60312345678",
        "03-1234 5678",
        "(03) 1234-5678",
        "1001",
        "anonymous",
        "+44 20 7123 4567",
        "12025550123",
        "",
        "  +6591234567 ",
    ]
)
words = st.sampled_from([None, "", "ACME", " BETA ", "x" * 70])


#: Values the fast path takes, drawn half of the time so that it is tried often.
usual_times = st.builds(
    "2026-{:02d}-{:02d}{}{:02d}:{:02d}:{:02d}{}".format,
    st.integers(1, 12),
    st.integers(1, 28),
    st.sampled_from(["T", " "]),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
    st.sampled_from(["", "", "Z", "+08:00", "-05:00", ".5+01:00"]),
)
usual_numbers = st.sampled_from(["+60312345678", "0312345678", "60312345678", "1001", None])


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        return {
            "record_id": f"r{draw(st.integers(0, 99))}",
            "start_time": draw(usual_times),
            "quantity": draw(st.integers(0, 10**6) | st.sampled_from(["1.5", "60", "0.001"])),
            "unit": draw(st.sampled_from([None, "s", "msg", "B"])),
            "service": draw(st.sampled_from([None, "voice", "SMS"])),
            "account": draw(st.sampled_from([None, "ACME"])),
            "caller": draw(usual_numbers),
            "destination": draw(usual_numbers),
            "disposition": draw(st.sampled_from([None, "ANSWERED"])),
            "attributes": draw(
                st.dictionaries(st.sampled_from(["region", "plan"]), st.sampled_from(["n", ""]))
            ),
        }
    event: dict[str, Any] = {
        "record_id": draw(st.sampled_from([None, "", "r1", " r2 ", "x" * 300])),
        "start_time": draw(times),
        "quantity": draw(quantities),
        "unit": draw(st.sampled_from([None, "", "s", "msg", "B", "kWh", "min"])),
        "service": draw(st.sampled_from([None, "", "voice", "SMS", "Data"])),
        "account": draw(words),
        "caller": draw(numbers),
        "destination": draw(numbers),
        "disposition": draw(st.sampled_from([None, "ANSWERED", "NO ANSWER"])),
        "direction": draw(st.sampled_from([None, "outbound"])),
    }
    if draw(st.booleans()):
        event["attributes"] = draw(
            st.dictionaries(
                st.sampled_from(["region", "plan", "note"]),
                st.sampled_from(["", "north", 'say "hi"', "a\\b", "caf\u00e9", 7]),
                max_size=2,
            )
        )
    return event


def _frames(event: dict[str, Any], zone: str) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    (row,) = event_rows([event], "api", "", 0)
    columns = list(FIELDS) + sorted(set(row.fields) - set(FIELDS))
    chunk = RawChunk.from_rows(
        [1],
        [[row.fields.get(c, "") for c in columns]],
        width=len(columns),
        utf8_checked=row.utf8_ok,
    )
    raw, shape_rejects = get_format("generic").to_frame(chunk, columns, 4096)
    normal = normalise(raw, time_layout="iso8601", feed_zone=zone, plan=number_plan("MY"))
    records, invalid = validate(normal, entity_zone=zone)
    return records, pl.concat([shape_rejects, invalid]), columns


@pytest.mark.slow
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=events(), zone=st.sampled_from(ZONES))
def test_an_event_read_alone_is_the_record_the_frames_read(
    event: dict[str, Any], zone: str
) -> None:
    records, rejected, columns = _frames(event, zone)
    (row,) = event_rows([event], "api", "", 0)
    fast = canonical(
        row.fields,
        columns,
        row_idx=0,
        line=1,
        feed_zone=zone,
        entity_zone=zone,
        plan=number_plan("MY"),
        max_field_chars=4096,
    )
    if fast is None:
        return  # read by the frames alone
    assert rejected.is_empty(), f"the frames refuse what the fast path took: {rejected.rows()}"
    assert_frame_equal(pl.DataFrame([fast], schema=RECORD_COLUMNS), records)


def test_the_fast_path_takes_the_usual_event() -> None:
    usual = {
        "record_id": "c-1",
        "start_time": "2026-10-15T10:00:00+08:00",
        "quantity": 125,
        "account": "ACME",
        "destination": "0312345678",
        "attributes": {"region": "north"},
    }
    (row,) = event_rows([usual], "api", "", 0)
    fast = canonical(
        row.fields,
        [*FIELDS, "region"],
        row_idx=0,
        line=1,
        feed_zone="Asia/Kuala_Lumpur",
        entity_zone="Asia/Kuala_Lumpur",
        plan=number_plan("MY"),
        max_field_chars=4096,
    )
    assert fast is not None
    # 10:00 in Kuala Lumpur is 02:00 UTC; 125 s at QUANTITY_SCALE 3; the national number
    # gets Malaysia's country code
    assert fast["start_time"].isoformat() == "2026-10-15T02:00:00+00:00"
    assert (fast["quantity"], fast["destination"], fast["period"]) == (
        125_000,
        "+60312345678",
        "2026-10",
    )
    assert fast["attributes"] == '{"region":"north"}'


def test_quantities_in_other_units_are_restated_exactly_in_the_base_unit() -> None:
    def read(quantity: str, unit: str, service: str) -> tuple[object, ...]:
        event = {
            "record_id": "u",
            "start_time": "2026-10-15T10:00:00+08:00",
            "quantity": quantity,
            "unit": unit,
            "service": service,
            "account": "ACME",
        }
        records, rejected, _ = _frames(event, "Asia/Kuala_Lumpur")
        if records.is_empty():
            return tuple(rejected.select("sub_code", "reason").row(0))
        return tuple(records.select("quantity", "unit").row(0))

    # by hand, at 3 places of the base unit: 2.5 MB = 2,500,000 B; 1 GiB = 1,073,741,824 B
    assert read("2.5", "MB", "data") == (2_500_000_000, "B")
    assert read("1", "GiB", "data") == (1_073_741_824_000, "B")
    assert read("1.5", "min", "voice") == (90_000, "s")
    assert read("750", "Wh", "kwh") == (750, "kWh")  # 0.750 kWh
    assert read("1250", "L", "water") == (1_250, "m3")
    # 0.5 Wh is 0.0005 kWh: finer than a record holds, refused rather than rounded
    assert read("0.5", "Wh", "kwh") == (
        "TOO_PRECISE",
        "quantity '0.5 Wh' has more than 3 decimal places of its base unit",
    )
    # nearly a trillion GB: past the range a record holds
    assert read("9" * 12, "GB", "data")[0] == "TOO_LARGE"
