"""Usage in: pushed events (canonical JSON or CloudEvents), quotes, and CSV uploads."""

from __future__ import annotations

import asyncio
import functools
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import Engine

from ratebook.api.body import ExactJsonRoute, body_digest, limited_stream
from ratebook.api.coalesce import Busy, EventCoalescer
from ratebook.api.deps import (
    Caller,
    Config,
    EventIngester,
    Ingester,
    QuoteReader,
    References,
    Store,
)
from ratebook.api.idempotency import IdempotencyKey, run_once
from ratebook.api.key_cache import KeyCache
from ratebook.api.problems import Problem
from ratebook.api.quote_lane import QuoteLane
from ratebook.api.schemas import (
    CloudEventData,
    CloudEventEnvelope,
    CloudEventIn,
    EventIn,
    EventOutcome,
    EventsReply,
    ImportReply,
    QuoteIn,
)
from ratebook.errors import AccessError, InputError
from ratebook.model.meters import Meters, metered
from ratebook.model.usage import with_extra_keys
from ratebook.money import AMOUNT_SCALE, format_fixed
from ratebook.store import scratch
from ratebook.workflows.import_feed import import_feed, known_formats
from ratebook.workflows.ingest_events import EventGroup, EventsSummary
from ratebook.workflows.manage_keys import key_is_live
from ratebook.workflows.meters import configured_meters
from ratebook.workflows.quote_in_cycle import quote_if_warm, quote_in_cycle

router = APIRouter(route_class=ExactJsonRoute, tags=["usage"])

_EVENTS = TypeAdapter(list[EventIn])
_CLOUD = TypeAdapter(list[CloudEventEnvelope])
_QUOTES = TypeAdapter(list[QuoteIn])


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _one_or_many(name: str) -> dict[str, Any]:
    return {"oneOf": [_ref(name), {"type": "array", "items": _ref(name)}]}


_EVENTS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        _ref("Event"),
                        {"type": "array", "items": _ref("Event")},
                        {
                            "type": "object",
                            "properties": {"events": {"type": "array", "items": _ref("Event")}},
                            "required": ["events"],
                            "additionalProperties": False,
                        },
                    ]
                }
            },
            "application/cloudevents+json": {"schema": _ref("CloudEvent")},
            "application/cloudevents-batch+json": {
                "schema": {"type": "array", "items": _ref("CloudEvent")}
            },
        },
    }
}
_QUOTE_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": _one_or_many("QuoteEvent")}},
    }
}

#: Schemas the hand-written request bodies above refer to (added to the OpenAPI document).
BODY_MODELS: list[type[BaseModel]] = [EventIn, QuoteIn, CloudEventIn]


def _pointer(prefix: str, location: Sequence[int | str]) -> str:
    return prefix + "".join(f"/{part}" for part in location)


def _invalid(exc: ValidationError, prefix: str) -> Problem:
    return Problem(
        422,
        "VALIDATION_FAILED",
        "an event does not match its schema",
        errors=[
            {
                "pointer": _pointer(prefix, e["loc"]),
                "code": e["type"].upper(),
                "detail": e["msg"],
            }
            for e in exc.errors(include_url=False)[:100]
        ],
    )


def _from_cloud(event: CloudEventEnvelope, index: int, meters: Meters | None) -> dict[str, Any]:
    """A CloudEvent as a canonical event: ``data``'s keys other than the canonical fields
    are attributes, as ``data.attributes`` are, and the event's type is ``ce_type``. Where
    its type has a meter and ``data`` no quantity, the meter reads ``data``. Values are not
    checked here: one of the wrong kind makes the event an exception, as in a file."""
    data = dict(event.data)
    meter = None if meters is None or "quantity" in data else meters.of(event.type)
    if meter is not None:
        data = metered(meter, data)
    for name in ("record_id", "origin"):
        data.pop(name, None)  # the envelope's id and source name the record
    extra = {key: value for key, value in data.items() if key not in _DATA_FIELDS}
    canonical = {key: value for key, value in data.items() if key in _DATA_FIELDS}
    given = canonical.pop("attributes", None)
    attributes, clash = with_extra_keys(given if isinstance(given, dict) else {}, extra)
    if given is not None and not isinstance(given, dict):
        clash = "attributes"
    if clash is not None:
        raise Problem(
            422,
            "BAD_ATTRIBUTE",
            f"{clash!r} is both a key of data and one of its attributes"
            if clash != "attributes"
            else "data.attributes is not an object",
            errors=[{"pointer": f"/{index}/data/{clash}", "code": "BAD_ATTRIBUTE"}],
        )
    attributes["ce_type"] = event.type
    return {
        **canonical,
        "record_id": event.id,
        "origin": event.source,
        "start_time": canonical.get("start_time") or event.time,
        "account": canonical.get("account") or event.subject,
        "attributes": attributes,
    }


#: The keys of a CloudEvent's data read as canonical fields (and its ``attributes``).
_DATA_FIELDS = frozenset(CloudEventData.model_fields)


def _events(payload: Any, max_events: int, meters: Meters | None = None) -> list[dict[str, Any]]:
    """The payload's events as canonical dicts (exact numbers kept), or a 422."""
    prefix = ""
    if isinstance(payload, dict) and "specversion" not in payload and set(payload) == {"events"}:
        payload, prefix = payload["events"], "/events"
    elif isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list):
        raise Problem(422, "BAD_EVENTS", 'send an event, an array of events or {"events": [...]}')
    if not payload:
        raise Problem(422, "NO_EVENTS", "the request holds no event")
    if len(payload) > max_events:
        raise Problem(
            422, "TOO_MANY_EVENTS", f"{len(payload)} events; at most {max_events} per request"
        )
    cloud = [isinstance(e, dict) and "specversion" in e for e in payload]
    try:
        if all(cloud):
            return [
                _from_cloud(e, i, meters) for i, e in enumerate(_CLOUD.validate_python(payload))
            ]
        if any(cloud):
            raise Problem(422, "MIXED_EVENTS", "send CloudEvents or canonical events, not both")
        _EVENTS.validate_python(payload)
    except ValidationError as exc:
        raise _invalid(exc, prefix) from None
    return payload


def _refused(engine: Engine, keys: KeyCache, caller: Caller) -> None:
    """A push was refused: if its key was revoked since the server kept it, the answer is
    401 (``AccessError``), not the refusal, and the key is dropped. The writer checks a kept
    key only in the transaction of a push it stores, so a refused one is checked here."""
    if not key_is_live(engine, caller.key.id):
        keys.drop(caller.key.id)
        raise AccessError("UNAUTHENTICATED", "the API key is unknown or revoked")


def _cloud(payload: Any) -> bool:
    """Whether a payload is CloudEvents (its first event names a ``specversion``)."""
    first = payload[0] if isinstance(payload, list) and payload else payload
    return isinstance(first, dict) and "specversion" in first


def _size(payload: Any) -> int:
    """How many events a payload holds, roughly (before it is validated)."""
    inner = payload.get("events") if isinstance(payload, dict) else payload
    return len(inner) if isinstance(inner, list) else 1


#: A result's fields in the schema's order (``EventResult`` has the same; a test checks).
_OUTCOME_FIELDS = tuple(EventOutcome.model_fields)


def reply_json(summary: EventsSummary) -> dict[str, Any]:
    """``EventsReply``'s JSON for ``summary``, built directly from the workflow's results
    rather than through the model and dumped again, which costs much of a large batch. A
    test holds this to the model's own dump."""
    return {
        "rated": summary.rated,
        "duplicates": summary.duplicates,
        "exceptions": summary.exceptions,
        "batches": list(summary.batch_ids),
        "results": [{name: getattr(r, name) for name in _OUTCOME_FIELDS} for r in summary.results],
    }


def _reply(summary: EventsSummary) -> Response:
    # orjson: a large push's reply is written many times faster than by the standard encoder
    return Response(orjson.dumps(reply_json(summary)), media_type="application/json")


@router.post(
    "/v1/events",
    response_model=EventsReply,
    summary="Push usage events",
    openapi_extra=_EVENTS_BODY,
    responses={422: {"description": "Not events, too many, or not matching the schema"}},
)
async def post_events(
    request: Request,
    caller: EventIngester,
    engine: Store,
    settings: Config,
    payload: Annotated[Any, Body()],
    idempotency_key: IdempotencyKey = None,
    origin: Annotated[
        str | None, Query(max_length=64, description="Origin of events naming none.")
    ] = None,
) -> Response:
    """Rate and store one event or up to ``api_max_events``; each answer carries the rated
    charge or the exception code and reason. A repeated ``(origin, record_id)`` answers
    the original outcome with ``duplicate: true``. Concurrent requests are stored together
    (group commit), each answered with its own events' outcomes.

    One function: reading, checking and queueing one push are one request's steps."""
    keys: KeyCache = request.app.state.keys
    try:
        # a meters file is read (again when it changed) for CloudEvents only
        meters = configured_meters(settings) if _cloud(payload) else None
        if _size(payload) > 100:
            # validating a large batch would hold up the event loop's other requests
            events = await run_in_threadpool(_events, payload, settings.api_max_events, meters)
        else:
            events = _events(payload, settings.api_max_events, meters)
    except Problem:
        await run_in_threadpool(_refused, engine, keys, caller)
        raise
    writer: EventCoalescer = request.app.state.event_writer

    def submit() -> Future[EventsSummary]:
        try:
            return writer.submit(
                EventGroup(
                    events=events,
                    default_origin=origin or "api",
                    body_sha256=body_digest(request),
                ),
                entity=caller.entity,
                source_name=f"api:{caller.key.name}",
                actor=caller.actor,
                key_id=caller.key.id,
            )
        except Busy as busy:
            raise Problem(
                429,
                "BUSY",
                f"{busy.args[0]} events are waiting to be stored; send these again shortly",
                headers={"Retry-After": "1"},
            ) from None

    def reply(summary: EventsSummary) -> Response:
        request.app.state.metrics.counted(
            caller.entity, summary.rated, summary.duplicates, summary.by_code
        )
        return _reply(summary)

    def stored() -> Response:
        try:
            return reply(submit().result())
        except (AccessError, InputError):
            _refused(engine, keys, caller)
            raise

    if idempotency_key is None:
        try:
            return reply(await asyncio.wrap_future(submit()))
        except (AccessError, InputError):
            await run_in_threadpool(_refused, engine, keys, caller)
            raise
    return await run_in_threadpool(
        run_once,
        engine,
        settings,
        caller,
        request,
        idempotency_key,
        body_digest(request),
        stored,
    )


#: What a quote workflow answers (``quote_in_cycle``, or ``quote_if_warm``'s maybe).
_Answer = TypeVar("_Answer", EventsSummary, EventsSummary | None)


@router.post(
    "/v1/rate",
    response_model=EventsReply,
    summary="Quote a price; nothing is stored",
    openapi_extra=_QUOTE_BODY,
)
async def post_rate(
    request: Request,
    caller: QuoteReader,
    engine: Store,
    settings: Config,
    references: References,
    payload: Annotated[Any, Body()],
) -> Response:
    """Price hypothetical events exactly as the batch engine would, against the stored cycle
    usage (tiers) and the rate tables in force; nothing is stored, and the quote waits for
    no writer."""
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise Problem(422, "NO_EVENTS", "the request holds no event")
    if len(items) > settings.api_max_events:
        raise Problem(422, "TOO_MANY_EVENTS", f"at most {settings.api_max_events} per request")
    try:
        _QUOTES.validate_python(items)
    except ValidationError as exc:
        raise _invalid(exc, "") from None

    def asked(quote: Callable[..., _Answer]) -> Callable[[], _Answer]:
        """``quote`` of this request's events, as the caller asks it."""
        return functools.partial(
            quote,
            engine,
            items,
            entity_code=caller.entity,
            settings=settings,
            references=references,
            key_id=caller.key.id,
        )

    lane: QuoteLane = request.app.state.quote_lane
    try:
        summary = await lane.answer(
            len(items), warm=asked(quote_if_warm), anyhow=asked(quote_in_cycle)
        )
    except AccessError:
        request.app.state.keys.drop(caller.key.id)
        raise
    return _reply(summary)


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.post(
    "/v1/imports",
    response_model=ImportReply,
    summary="Upload a usage file (CSV)",
    openapi_extra=_UPLOAD_BODY,
)
async def post_import(
    request: Request,
    caller: Ingester,
    engine: Store,
    settings: Config,
    format: Annotated[str, Query(description="Feed format.")] = "generic",
    origin: Annotated[str | None, Query(max_length=64)] = None,
    tz: Annotated[str | None, Query(max_length=64, description="Zone of naive times.")] = None,
    name: Annotated[
        str, Query(max_length=200, description="File name for lineage.")
    ] = "upload.csv",
) -> Response:
    """Import a CSV file streamed as the body, exactly as ``ratebook ingest`` would; a file
    already imported (same SHA-256) changes nothing and says so."""
    if format not in known_formats():
        raise Problem(
            422,
            "UNKNOWN_FORMAT",
            f"unknown format {format!r} (formats: {', '.join(known_formats())})",
        )
    with tempfile.TemporaryDirectory(prefix="upload-", dir=scratch.folder()) as folder:
        path = Path(folder) / "upload.csv"
        with path.open("wb") as out:
            async for chunk in limited_stream(request, settings.api_max_upload_bytes):
                out.write(chunk)

        def run() -> ImportReply:
            with caller.acting():
                summary = import_feed(
                    engine,
                    path,
                    format_name=format,
                    entity_code=caller.entity,
                    origin=origin,
                    feed_zone=tz,
                    settings=settings,
                    source_name=f"api:{caller.key.name}:{name}",
                    references=request.app.state.references,
                )
            if not summary.already_imported:
                request.app.state.metrics.counted(
                    caller.entity, summary.rated, summary.duplicates, summary.by_code
                )
            return ImportReply(
                batch_id=summary.batch_id,
                already_imported=summary.already_imported,
                rows_read=summary.rows_read,
                rated=summary.rated,
                duplicates=summary.duplicates,
                exceptions=summary.exceptions,
                by_code=dict(summary.by_code),
                charge=format_fixed(summary.charge, AMOUNT_SCALE, summary.charge_places),
                currency=summary.currency,
            )

        reply = await run_in_threadpool(run)
    return JSONResponse(reply.model_dump(mode="json"))
