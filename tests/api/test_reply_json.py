"""The events reply is built without the response model, so it is held here to the model: the
same JSON, field for field, for every kind of outcome."""

from __future__ import annotations

from dataclasses import asdict, fields

import orjson

from ratebook.api.routes.events import reply_json
from ratebook.api.schemas import EventOutcome, EventsReply
from ratebook.intake.answers import EventResult, TierPart
from ratebook.workflows.ingest_events import EventsSummary


def test_event_results_and_outcomes_have_the_same_fields_in_order() -> None:
    assert [f.name for f in fields(EventResult)] == list(EventOutcome.model_fields)


def test_the_reply_is_the_models_own_json() -> None:
    results = [
        EventResult(
            index=0,
            record_id="c1",
            origin="api",
            status="rated",
            charge="0.1017",
            currency="MYR",
            billed_quantity="61",
            unit="s",
            unit_price="0.1000",
            band="peak",
            prefix="+603",
            period="2026-10",
        ),
        EventResult(
            index=1,
            record_id=None,
            origin="api",
            status="exception",
            duplicate=True,
            currency="MYR",
            exception_id=42,
            code="INVALID_RECORD",
            reason="record_id is empty",
            field="record_id",
        ),
        EventResult(
            index=2,
            record_id="c3 \u00e9\u6771",
            origin="switch-1",
            status="written_off",
            currency="MYR",
            unit="s",
        ),
        EventResult(
            index=3,
            record_id="c4",
            origin="api",
            status="rated",
            charge="0.0750",
            currency="MYR",
            billed_quantity="90",
            unit="s",
            unit_price="0.1000",
            prefix="60",
            period="2026-10",
            tiers=(TierPart(0, "30", "0.1000"), TierPart(1, "60", "0.0250")),
        ),
    ]
    summary = EventsSummary(batch_ids=[7, 8], results=results, rated=2, duplicates=1, exceptions=1)
    model = EventsReply(
        rated=2,
        duplicates=1,
        exceptions=1,
        batches=[7, 8],
        results=[EventOutcome(**asdict(r)) for r in results],
    ).model_dump(mode="json")
    # as the route writes it
    assert orjson.dumps(reply_json(summary)) == orjson.dumps(model)
    assert model["results"][3]["tiers"] == [
        {"tier": 0, "quantity": "30", "price": "0.1000"},
        {"tier": 1, "quantity": "60", "price": "0.0250"},
    ]
