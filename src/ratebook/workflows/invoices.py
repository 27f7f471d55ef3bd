"""Reading issued invoices and exporting their hand-off documents (JSON or UBL 2.1)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from ratebook.errors import InputError, NotFoundError
from ratebook.model.ledger import Period
from ratebook.model.parties import Entity
from ratebook.render.invoice_ubl import ubl_invoice
from ratebook.store import invoices
from ratebook.store.entities import get_entity
from ratebook.store.invoices import InvoiceRow

FORMATS = ("json", "ubl")


@dataclass(frozen=True, slots=True, kw_only=True)
class Exported:
    """One written hand-off file."""

    number: int
    path: Path


def list_invoices(
    engine: Engine,
    *,
    period: str | None = None,
    account: str | None = None,
    entity_code: str | None = None,
) -> tuple[Entity, list[InvoiceRow]]:
    """The entity and its issued invoices, by number."""
    if period is not None:
        Period.parse(period)
    with engine.connect() as conn:
        entity = get_entity(conn, entity_code)
        return entity, invoices.list_invoices(conn, entity.id, period=period, account=account)


def get_invoice(
    engine: Engine, number: int, *, entity_code: str | None = None
) -> tuple[InvoiceRow, dict[str, Any]]:
    """An invoice and its hand-off document.

    Raises:
        NotFoundError: ``INVOICE_NOT_FOUND``.
    """
    with engine.connect() as conn:
        found = _invoice(conn, number, entity_code)
    return found, json.loads(found.document)


def _invoice(conn: Connection, number: int, entity_code: str | None) -> InvoiceRow:
    """The entity's invoice ``number``, or ``INVOICE_NOT_FOUND``."""
    entity = get_entity(conn, entity_code)
    found = invoices.get_invoice(conn, entity.id, number)
    if found is None:
        raise NotFoundError("INVOICE_NOT_FOUND", f"no invoice {number} in entity {entity.code}")
    return found


def export_invoices(
    engine: Engine,
    out_dir: Path,
    *,
    fmt: str = "json",
    period: str | None = None,
    number: int | None = None,
    entity_code: str | None = None,
) -> list[Exported]:
    """Write each invoice's document to ``out_dir`` as ``<id>.json`` or ``<id>.xml``.

    The JSON file is the document frozen at issue, byte for byte; the UBL file is built from
    it, so both say the same.
    """
    if fmt not in FORMATS:
        raise InputError("UNKNOWN_FORMAT", f"{fmt!r} is not json or ubl", path="--format")
    _, rows = list_invoices(engine, period=period, entity_code=entity_code)
    if number is not None:
        rows = [r for r in rows if r.number == number]
        if not rows:
            raise NotFoundError("INVOICE_NOT_FOUND", f"no invoice {number}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for row in rows:
        doc = json.loads(row.document)
        name = doc["invoice"]["id"]
        if fmt == "json":
            path = out_dir / f"{name}.json"
            path.write_text(row.document, encoding="utf-8")
        else:
            path = out_dir / f"{name}.xml"
            path.write_bytes(ubl_invoice(doc))
        written.append(Exported(number=row.number, path=path))
    return written


@dataclass(frozen=True, slots=True, kw_only=True)
class InvoiceDetail:
    """An invoice as the console shows it.

    Attributes:
        row: the invoice.
        document: its hand-off document, as issued.
        line_ids: the store key of each line, by line number, to ask lineage by.
        deliveries: its delivery log, oldest first.
    """

    row: InvoiceRow
    document: dict[str, Any]
    line_ids: dict[int, int]
    deliveries: list[dict[str, Any]]


def invoice_detail(engine: Engine, number: int, *, entity_code: str | None = None) -> InvoiceDetail:
    """An invoice with its document, its lines' keys and its deliveries.

    Raises:
        NotFoundError: ``INVOICE_NOT_FOUND``.
    """
    with engine.connect() as conn:
        found = _invoice(conn, number, entity_code)
        return InvoiceDetail(
            row=found,
            document=json.loads(found.document),
            line_ids=invoices.line_ids(conn, found.id),
            deliveries=invoices.deliveries(conn, found.id),
        )


def invoice_ubl(engine: Engine, number: int, *, entity_code: str | None = None) -> bytes:
    """The invoice as UBL 2.1 XML, built from its document as issued.

    Raises:
        NotFoundError: ``INVOICE_NOT_FOUND``.
    """
    _, doc = get_invoice(engine, number, entity_code=entity_code)
    return ubl_invoice(doc)
