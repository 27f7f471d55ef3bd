"""Lineage: from an invoice line back to the raw rows it came from, or from a record forward
to the invoice lines that billed it.

The chain is invoice line -> rated records (every rating, superseded ones too) -> rate table,
version and row -> import batch -> source file SHA-256 and line -> the raw row (and, for a
row a clerk corrected, the original and the correction).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine

from ratebook.errors import InputError, NotFoundError
from ratebook.model.tariffs import prefix_text, version_label
from ratebook.money import AMOUNT_SCALE, PRICE_SCALE, QUANTITY_SCALE, format_fixed
from ratebook.store import lineage as store
from ratebook.store.entities import get_entity


def lineage(
    engine: Engine,
    *,
    invoice_line: int | None = None,
    record_id: str | None = None,
    origin: str | None = None,
    entity_code: str | None = None,
) -> dict[str, Any]:
    """The chain for an invoice line or a record: ``{"invoice_line": ..., "records": [...]}``.

    Raises:
        InputError: neither or both of ``invoice_line`` and ``record_id``.
        NotFoundError: ``INVOICE_LINE_NOT_FOUND`` / ``RECORD_NOT_FOUND``.
    """
    if (invoice_line is None) == (record_id is None):
        raise InputError("ONE_SUBJECT", "give --invoice-line or --record", path="--record")
    with engine.connect() as conn:
        entity = get_entity(conn, entity_code)
        line = None
        fees: list[dict[str, Any]] = []
        if invoice_line is not None:
            line = store.invoice_line(conn, entity.id, invoice_line)
            if line is None:
                raise NotFoundError("INVOICE_LINE_NOT_FOUND", f"no invoice line {invoice_line}")
            pks = store.records_of_line(conn, invoice_line)
            fees = store.fees_of_line(conn, invoice_line)
        else:
            assert record_id is not None
            pks = store.records_by_id(conn, entity.id, record_id, origin)
            if not pks:
                raise NotFoundError("RECORD_NOT_FOUND", f"no record {record_id!r}")
        return {
            "currency": entity.currency,
            "timezone": entity.timezone,
            "invoice_line": line,
            "fees": fees,
            "records": [_record_chain(conn, pk) for pk in pks],
        }


def _record_chain(conn: Connection, record_pk: int) -> dict[str, Any]:
    return {
        **store.record(conn, record_pk),
        "charges": store.charges(conn, record_pk),
        "exception": store.exception_of(conn, record_pk),
        "corrections": store.corrections_of(conn, record_pk),
    }


def lineage_text(chain: dict[str, Any], *, currency: str, zone: str) -> list[str]:
    """The chain as indented lines for a terminal, its instants in ``zone`` (the entity's).

    One function: it prints one chain top to bottom."""
    out: list[str] = []
    line = chain["invoice_line"]
    if line is not None:
        out.append(
            f"invoice {line['invoice_number']} ({line['invoice_period']}) line {line['line_no']}:"
            f" {line['description']}, {_money(line['amount'])} {currency} [{line['kind']}]"
        )
        for fee in chain["fees"]:
            out.append(
                f"  recurring fee {fee['plan']} {fee['service_from']}..{fee['service_to']}:"
                f" {_money(fee['amount'])}"
            )
        if not chain["records"] and not chain["fees"]:
            out.append(f"  no rated records: a {line['kind']} line comes from the ledger")
    indent = "  " if line is not None else ""
    for record in chain["records"]:
        out.append(
            f"{indent}record {record['record_id']} (origin {record['origin']}),"
            f" {record['service']} {format_fixed(record['quantity'], QUANTITY_SCALE)}"
            f" {record['unit']} at {_local(record['start_time'], zone)},"
            f" status {record['status']}"
        )
        for charge in record["charges"]:
            state = (
                f"superseded by charge {charge['superseded_by']}"
                if charge["superseded_by"]
                else "current"
            )
            billed = (
                f", billed on invoice {charge['invoice_number']} line {charge['line_no']}"
                if charge["invoice_number"] is not None
                else ", not invoiced yet"
            )
            out.append(
                f"{indent}  charge {charge['id']} ({state}): {_money(charge['charge'])}"
                f" {currency} for {charge['period']}{billed}"
            )
            if charge["rate_table"] is not None:
                out.append(
                    f"{indent}    rate table {charge['rate_table']}, version from"
                    f" {version_label(charge['effective_from'], charge['version_timezone'])}"
                    f" revision {charge['revision']},"
                    f" row prefix {prefix_text(charge['prefix'])} ({charge['destination_name']})"
                    f" band {charge['band']}"
                    + (f" tier {charge['tier']}" if charge["tier"] is not None else "")
                    + f", {format_fixed(charge['unit_price'], PRICE_SCALE)} per"
                    f" {format_fixed(charge['rate_unit'], QUANTITY_SCALE)} {record['unit']},"
                    f" rounded {charge['rounding_mode']} to {charge['rounding_places']} places"
                )
            else:
                out.append(f"{indent}    no rate row (not charged)")
        out.append(
            f"{indent}  import batch {record['batch_id']} ({record['source_kind']},"
            f" {record['format']}) {record['source_name']}"
            f" at {_local(record['imported_at'], zone)}"
        )
        out.append(
            f"{indent}  source sha256 {record['source_sha256']}"
            f" {'offset' if record['source_kind'] == 'kafka' else 'line'} {record['source_line']}"
        )
        out.append(f"{indent}  raw: {record['raw'] if record['raw'] is not None else '(not kept)'}")
        exception = record["exception"]
        if exception is not None:
            out.append(
                f"{indent}  was exception {exception['id']} {exception['code']},"
                f" {exception['status']} ({exception['resolution'] or '-'})"
                + (f": {exception['note']}" if exception["note"] else "")
            )
            if record["corrections"]:
                out.append(f"{indent}  original raw: {exception['raw']}")
        for fix in record["corrections"]:
            out.append(
                f"{indent}  corrected by {fix['author']} at {_local(fix['created_at'], zone)}:"
                f" {fix['changes']} ({fix['reason']})"
            )
    return out


def _local(instant: datetime, zone: str) -> str:
    """An instant as the entity's clocks show it, with their offset (``+08``)."""
    return f"{instant.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M:%S %Z}"


def _money(value: int) -> str:
    """An amount as money is written: at least two places, every place it has."""
    return format_fixed(value, AMOUNT_SCALE, None, min_places=2)
