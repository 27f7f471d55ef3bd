"""Request and response bodies of the API, kept apart: what a caller sends is never the
model of what it gets back. Amounts and quantities travel as exact decimal text."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: A JSON scalar an event field may hold; numbers arrive as int or Decimal, never float.
Scalar = str | int | Decimal | bool | None
Number = str | int | Decimal


class EventIn(BaseModel):
    """One usage event in the canonical shape (the generic CSV format's columns)."""

    model_config = ConfigDict(extra="forbid", title="Event", strict=True)

    record_id: str | int = Field(description="The call-id or event-id; with the origin, unique.")
    start_time: str | int = Field(
        description="ISO 8601 (without an offset, the entity's zone), or epoch seconds (or"
        " milliseconds, from 10^11 on) as a JSON integer."
    )
    quantity: Number = Field(description="In the unit; a JSON number or decimal text.")
    unit: str | None = Field(
        default=None,
        description="s, min, msg, B, kB, MB, GB, kWh, m3, call, req; by default the service's own",
    )
    service: str | None = Field(default=None, description="voice (default), sms, data, ...")
    origin: str | None = Field(default=None, max_length=64, description="The feed (default api).")
    account: str | None = None
    caller: str | None = None
    destination: str | None = None
    disposition: str | None = None
    direction: str | None = None
    attributes: dict[str, Any] | None = Field(
        default=None, description="Free fields, kept with the record."
    )


class QuoteIn(BaseModel):
    """A hypothetical event to price; nothing is stored."""

    model_config = ConfigDict(extra="forbid", title="QuoteEvent", strict=True)

    start_time: str | int
    quantity: Number
    record_id: str | int | None = None
    unit: str | None = None
    service: str | None = None
    origin: str | None = Field(default=None, max_length=64)
    account: str | None = None
    caller: str | None = None
    destination: str | None = None
    disposition: str | None = None
    direction: str | None = None
    attributes: dict[str, Any] | None = None


class CloudEventData(BaseModel):
    """The ``data`` of a usage CloudEvent: the canonical fields but the id and origin. Any
    other key of ``data`` is kept as an attribute of the record, as from a stream. An event
    whose type has a meter (``RATEBOOK_METERS_FILE``) may hold the producer's own properties
    instead: the meter says which holds the quantity. A value of the wrong kind, or a
    missing quantity, makes that event an exception, not the request an error."""

    model_config = ConfigDict(extra="allow", strict=True)

    quantity: Number | None = None
    start_time: str | int | None = None
    unit: str | None = None
    service: str | None = None
    account: str | None = None
    caller: str | None = None
    destination: str | None = None
    disposition: str | None = None
    direction: str | None = None
    attributes: dict[str, Any] | None = None


class CloudEventEnvelope(BaseModel):
    """What a pushed CloudEvent must be for the request to be read: its envelope. Its
    ``data`` is read event by event (``CloudEventIn`` documents it)."""

    model_config = ConfigDict(extra="allow", strict=True)

    specversion: Literal["1.0"]
    id: str = Field(min_length=1)
    source: str = Field(min_length=1, max_length=64)
    type: str = Field(min_length=1)
    time: str | int | None = None
    subject: str | None = None
    datacontenttype: str | None = None
    data: dict[str, Any]


class CloudEventIn(BaseModel):
    """A CloudEvents 1.0 event in structured JSON mode.

    ``id`` is the record id and ``source`` the origin; ``time`` is the start time unless
    ``data.start_time`` gives one; ``subject`` is the account unless ``data.account`` does.
    """

    model_config = ConfigDict(extra="allow", title="CloudEvent", strict=True)

    specversion: Literal["1.0"]
    id: str = Field(min_length=1)
    source: str = Field(min_length=1, max_length=64)
    type: str = Field(min_length=1)
    time: str | None = None
    subject: str | None = None
    datacontenttype: str | None = None
    data: CloudEventData


class TierPart(BaseModel):
    """The part of an event in one tier of a graduated row."""

    tier: int = Field(description="0 for the row's own price, then 1, 2, ... for its steps.")
    quantity: str = Field(description="Exact decimal text, in the event's unit.")
    price: str = Field(description="Exact decimal text, per rate unit.")


class EventOutcome(BaseModel):
    """What became of one event."""

    index: int
    record_id: str | None
    origin: str
    status: Literal["rated", "exception", "written_off"]
    duplicate: bool
    charge: str | None = None
    currency: str
    billed_quantity: str | None = None
    unit: str | None = None
    unit_price: str | None = None
    band: str | None = None
    prefix: str | None = None
    period: str | None = None
    tiers: list[TierPart] | None = Field(
        default=None, description="On a graduated row, the event's part in each tier it spans."
    )
    exception_id: int | None = None
    code: str | None = None
    reason: str | None = None
    field: str | None = None


class EventsReply(BaseModel):
    """A push's (or a quote's) outcome, one result per event in request order."""

    rated: int
    duplicates: int
    exceptions: int
    batches: list[int]
    results: list[EventOutcome]


class ImportReply(BaseModel):
    """A CSV upload's batch summary."""

    batch_id: int
    already_imported: bool
    rows_read: int
    rated: int
    duplicates: int
    exceptions: int
    by_code: dict[str, int]
    charge: str
    currency: str


class CustomerOut(BaseModel):
    account: str
    name: str
    status: str
    invoicing_floor: str | None
    created_at: str
    closed_at: str | None


class IdentifierOut(BaseModel):
    kind: str
    value: str
    valid_from: str | None
    valid_to: str | None


class CustomerDetail(CustomerOut):
    identifiers: list[IdentifierOut]


class BalanceOut(BaseModel):
    account: str
    period: str
    cycle_status: str
    brought_forward: str
    usage: str
    recurring: str
    credits: str
    other: str
    balance: str
    currency: str


class InvoiceOut(BaseModel):
    number: int
    account: str
    customer_name: str
    period: str
    issued_at: str
    currency: str
    net: str
    tax: str
    total: str
    reason: str


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


class ReprocessIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=2000)


class ActionReply(BaseModel):
    """What a review action did."""

    selected: int
    resolved: int
    rejected: int
    assigned: int
    needs_correction: int
    failing: dict[str, int]
    charge: str
    currency: str


class DisputeIn(BaseModel):
    """Open a dispute about one record, invoice line or invoice."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)
    record_id: str | None = Field(default=None, max_length=255)
    origin: str | None = Field(default=None, max_length=64)
    invoice_line: int | None = Field(default=None, ge=1, le=2**62)
    invoice: int | None = Field(default=None, ge=1, le=2**31 - 1)


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=4000)


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["open", "investigating"]
    note: str | None = Field(default=None, max_length=2000)


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["upheld", "rejected"]
    note: str = Field(default="", max_length=2000)
    credit: str | None = Field(
        default=None, max_length=40, description="Decimal text, at most the disputed."
    )
