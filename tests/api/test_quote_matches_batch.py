"""Differential: a quote from ``POST /v1/rate`` and the charge the batch engine books for the
same event, pushed right after, agree on random events — tiers included, since the quote
prices against the cycle usage already stored. A quote stores nothing."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from ratebook.store.tables import exceptions, usage_records
from tests.api.conftest import Api

_ids = itertools.count()

events = st.fixed_dictionaries(
    {
        "account": st.sampled_from(["ACME", "BETA", "NOBODY"]),
        "day": st.integers(min_value=1, max_value=31),
        "hour": st.integers(min_value=0, max_value=23),
        "kind": st.sampled_from(["call", "call", "sms", "elsewhere"]),
        "quantity": st.integers(min_value=0, max_value=1500),
    }
)


def _event(drawn: dict[str, int | str]) -> dict[str, object]:
    kind = drawn["kind"]
    event: dict[str, object] = {
        "start_time": f"2026-10-{drawn['day']:02d}T{drawn['hour']:02d}:00:00+08:00",
        "account": drawn["account"],
    }
    if kind == "sms":
        return {
            **event,
            "service": "sms",
            "unit": "msg",
            "quantity": int(drawn["quantity"]) % 3 + 1,
            "destination": "+60123456789",
        }
    # no rate row for +44: NO_RATE
    destination = "+442071234567" if kind == "elsewhere" else "+60312345678"
    return {**event, "quantity": drawn["quantity"], "destination": destination}


def _stored(api: Api) -> tuple[int, int]:
    with api.store.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(usage_records)).scalar_one(),
            conn.execute(select(func.count()).select_from(exceptions)).scalar_one(),
        )


def test_quotes_agree_with_the_batch_engine(api: Api) -> None:
    with api.client() as client:

        @settings(
            max_examples=40,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )
        @given(drawn=st.lists(events, min_size=1, max_size=3))
        def check(drawn: list[dict[str, int | str]]) -> None:
            # the ids the events will carry: they order events that start at the same instant
            batch = [{**_event(d), "record_id": f"r{next(_ids)}"} for d in drawn]
            before = _stored(api)
            quoted = client.post("/v1/rate", json=batch)
            assert quoted.status_code == 200, quoted.text
            assert _stored(api) == before  # nothing kept
            pushed = client.post("/v1/events", json=batch)
            assert pushed.status_code == 200, pushed.text
            for quote, booked in zip(
                quoted.json()["results"], pushed.json()["results"], strict=True
            ):
                assert (quote["status"], quote["charge"], quote["code"], quote["band"]) == (
                    booked["status"],
                    booked["charge"],
                    booked["code"],
                    booked["band"],
                )
                assert quote["billed_quantity"] == booked["billed_quantity"]
                assert quote["tiers"] == booked["tiers"]

        check()
