"""The exception queue and disputes: read scope to look, review scope to act."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from ratebook.api.body import ExactJsonRoute, body_digest
from ratebook.api.deps import Caller, Config, PeriodQuery, Reader, Reviewer, Store
from ratebook.api.idempotency import IdempotencyKey, run_once
from ratebook.api.schemas import (
    ActionReply,
    CommentIn,
    DisputeIn,
    ReasonIn,
    ReprocessIn,
    ResolveIn,
    StatusIn,
)
from ratebook.errors import NotFoundError
from ratebook.model.review import Filter
from ratebook.money import AMOUNT_SCALE, QUANTITY_SCALE, format_fixed
from ratebook.settings import Settings
from ratebook.workflows import disputes, reprocess_exceptions, resolve_dispute, review_exceptions
from ratebook.workflows.review_exceptions import Outcome

router = APIRouter(route_class=ExactJsonRoute, tags=["review"])

ExceptionId = Annotated[int, PathParam(ge=1, le=2**62)]
DisputeNumber = Annotated[int, PathParam(ge=1, le=2**31 - 1)]


#: Store keys that mean nothing to a caller (the entity is the key's; customers go by account).
_INTERNAL = frozenset({"entity_id", "customer_id"})
#: Integer columns at a fixed scale, shown as exact decimal text.
_SCALED = {"disputed": AMOUNT_SCALE, "credit": AMOUNT_SCALE, "quantity": QUANTITY_SCALE}


def _present(value: Any) -> Any:
    """Rows as a caller reads them: internal keys dropped, scaled integers as decimals."""
    if isinstance(value, list):
        return [_present(v) for v in value]
    if isinstance(value, dict):
        shown: dict[str, Any] = {}
        for key, item in value.items():
            if key in _INTERNAL:
                continue
            if key in _SCALED and isinstance(item, int) and not isinstance(item, bool):
                shown[key] = format_fixed(
                    item, _SCALED[key], min_places=2 if _SCALED[key] == AMOUNT_SCALE else 0
                )
            else:
                shown[key] = _present(item)
        return shown
    return value


def _known(engine: Engine, caller: Caller, exception_id: int) -> None:
    """404 unless the exception is the caller's entity's (one indexed read)."""
    found = review_exceptions.list_exceptions(
        engine, Filter(ids=(exception_id,)), entity_code=caller.entity, limit=1
    )
    if not found:
        raise NotFoundError("EXCEPTION_NOT_FOUND", f"no exception {exception_id}")


@dataclass(frozen=True, slots=True)
class ReviewWrite:
    """A review write: its caller (review scope) and store, answered once per
    ``Idempotency-Key`` when one is sent."""

    request: Request
    caller: Caller
    engine: Engine
    settings: Settings
    key: str | None

    def answer(self, produce: Callable[[], Any], *, status: int = 200) -> Response:
        """``produce()``'s result as JSON; a retry with the key gets the first answer again
        instead of acting twice (``api.idempotency``)."""
        return run_once(
            self.engine,
            self.settings,
            self.caller,
            self.request,
            self.key,
            body_digest(self.request),
            lambda: JSONResponse(jsonable_encoder(produce()), status_code=status),
        )


async def _review_write(
    request: Request,
    caller: Reviewer,
    engine: Store,
    settings: Config,
    idempotency_key: IdempotencyKey = None,
) -> ReviewWrite:
    return ReviewWrite(request, caller, engine, settings, idempotency_key)


Write = Annotated[ReviewWrite, Depends(_review_write)]


def _action(outcome: Outcome) -> ActionReply:
    return ActionReply(
        selected=outcome.selected,
        resolved=outcome.resolved,
        rejected=outcome.rejected,
        assigned=outcome.assigned,
        needs_correction=outcome.needs_correction,
        failing=dict(outcome.failing),
        charge=format_fixed(outcome.charge, AMOUNT_SCALE, outcome.charge_places),
        currency=outcome.currency,
    )


@router.get("/v1/exceptions", summary="The exception queue, filtered")
def list_exceptions(
    caller: Reader,
    engine: Store,
    code: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[
        str | None, Query(pattern="^(pending|open|in_review|resolved|rejected)$")
    ] = None,
    period: PeriodQuery = None,
    customer: Annotated[str | None, Query(max_length=64)] = None,
    origin: Annotated[str | None, Query(max_length=64)] = None,
    text: Annotated[str | None, Query(max_length=200)] = None,
    batch: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
) -> list[dict[str, Any]]:
    found = review_exceptions.list_exceptions(
        engine,
        Filter(
            code=code,
            status=status,
            period=period,
            customer=customer,
            origin=origin,
            text=text,
            batch_id=batch,
        ),
        entity_code=caller.entity,
        limit=limit,
    )
    return jsonable_encoder(_present(found))  # type: ignore[no-any-return]


@router.get("/v1/exceptions/{exception_id}", summary="One exception, its record and history")
def show_exception(caller: Reader, engine: Store, exception_id: ExceptionId) -> dict[str, Any]:
    found = review_exceptions.show_exception(engine, exception_id, entity_code=caller.entity)
    return jsonable_encoder(_present(found))  # type: ignore[no-any-return]


@router.post(
    "/v1/exceptions/{exception_id}/reprocess",
    response_model=ActionReply,
    summary="Match and rate the record again",
)
def reprocess(
    write: Write,
    exception_id: ExceptionId,
    body: ReprocessIn | None = None,
) -> Response:
    def produce() -> ActionReply:
        _known(write.engine, write.caller, exception_id)
        with write.caller.acting():
            outcome = reprocess_exceptions.reprocess(
                write.engine,
                Filter(ids=(exception_id,)),
                entity_code=write.caller.entity,
                note=body.note if body else None,
            )
        return _action(outcome)

    return write.answer(produce)


@router.post(
    "/v1/exceptions/{exception_id}/accept",
    response_model=ActionReply,
    summary="Bill an out-of-policy or late record as it is",
)
def accept(
    write: Write,
    exception_id: ExceptionId,
    body: ReasonIn,
) -> Response:
    def produce() -> ActionReply:
        with write.caller.acting():
            outcome = reprocess_exceptions.accept(
                write.engine, exception_id, body.reason, entity_code=write.caller.entity
            )
        return _action(outcome)

    return write.answer(produce)


@router.post(
    "/v1/exceptions/{exception_id}/reject",
    response_model=ActionReply,
    summary="Write the row off, with a reason",
)
def reject(
    write: Write,
    exception_id: ExceptionId,
    body: ReasonIn,
) -> Response:
    def produce() -> ActionReply:
        _known(write.engine, write.caller, exception_id)
        with write.caller.acting():
            outcome = review_exceptions.reject(
                write.engine,
                Filter(ids=(exception_id,)),
                body.reason,
                entity_code=write.caller.entity,
            )
        return _action(outcome)

    return write.answer(produce)


@router.get("/v1/disputes", summary="Disputes, filtered")
def list_disputes(
    caller: Reader,
    engine: Store,
    status: Annotated[str | None, Query(pattern="^(open|investigating|resolved)$")] = None,
    account: Annotated[str | None, Query(max_length=64)] = None,
) -> list[dict[str, Any]]:
    found = disputes.list_disputes(
        engine, status=status, account=account, entity_code=caller.entity
    )
    return jsonable_encoder(_present(found))  # type: ignore[no-any-return]


@router.post(
    "/v1/disputes", status_code=201, response_model=dict[str, Any], summary="Open a dispute"
)
def open_dispute(
    write: Write,
    body: DisputeIn,
) -> Response:
    subject = disputes.Subject(
        record_id=body.record_id,
        origin=body.origin,
        invoice_line=body.invoice_line,
        invoice=body.invoice,
    )

    def produce() -> Any:
        with write.caller.acting():
            found = disputes.open_dispute(
                write.engine, subject, body.reason, entity_code=write.caller.entity
            )
        return _present(found)

    return write.answer(produce, status=201)


@router.get("/v1/disputes/{number}", summary="A dispute and its history")
def show_dispute(caller: Reader, engine: Store, number: DisputeNumber) -> dict[str, Any]:
    return jsonable_encoder(_present(disputes.show(engine, number, entity_code=caller.entity)))  # type: ignore[no-any-return]


@router.post(
    "/v1/disputes/{number}/comments",
    status_code=201,
    response_model=dict[str, Any],
    summary="Comment on a dispute",
)
def comment(
    write: Write,
    number: DisputeNumber,
    body: CommentIn,
) -> Response:
    def produce() -> Any:
        with write.caller.acting():
            found = disputes.comment(
                write.engine, number, body.text, entity_code=write.caller.entity
            )
        return _present(found)

    return write.answer(produce, status=201)


@router.post(
    "/v1/disputes/{number}/status",
    response_model=dict[str, Any],
    summary="Start or pause the investigation",
)
def set_status(
    write: Write,
    number: DisputeNumber,
    body: StatusIn,
) -> Response:
    def produce() -> Any:
        with write.caller.acting():
            found = disputes.set_status(
                write.engine, number, body.status, note=body.note, entity_code=write.caller.entity
            )
        return _present(found)

    return write.answer(produce)


@router.post(
    "/v1/disputes/{number}/resolve",
    response_model=dict[str, Any],
    summary="Resolve: upheld (with a credit) or rejected",
)
def resolve(
    write: Write,
    number: DisputeNumber,
    body: ResolveIn,
) -> Response:
    def produce() -> Any:
        with write.caller.acting():
            found = resolve_dispute.resolve(
                write.engine,
                number,
                outcome=body.outcome,
                note=body.note,
                credit=body.credit,
                entity_code=write.caller.entity,
            )
        return _present(found)

    return write.answer(produce)
