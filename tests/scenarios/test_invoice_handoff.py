"""Story: the August invoices go to the invoice generator: as files (JSON checked against the
published schema, UBL 2.1 XML checked for its required structure) and by a signed webhook to
a receiver that fails twice before it answers."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from sqlalchemy import Engine

from ratebook.billing.recurring import Billing, Interval
from ratebook.billing.tax import Treatment
from ratebook.store import invoices as invoice_store
from ratebook.store.entities import get_entity
from ratebook.workflows.billing_setup import set_tax
from ratebook.workflows.close_cycle import close_cycle
from ratebook.workflows.deliver_invoices import deliver_invoices
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rate_table import import_rate_table
from ratebook.workflows.invoices import export_invoices, list_invoices
from ratebook.workflows.manage_subscriptions import SubscriptionSpec, add_subscription
from tests.conftest import write

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "invoice.schema.json").read_text())

TABLE = """
name: flat
currency: MYR
timezone: Asia/Kuala_Lumpur
rounding: {places: 4, mode: half-up}
versions:
  - effective_from: 2026-01-01
    rows:
      - {prefix: "60", destination: Malaysia, price: "0.1000", increment: 1s/1s}
      - {prefix: "65", destination: Singapore, price: "0.2500", increment: 6s/6s}
      - {service: sms, destination: SMS, price: "0.0500"}
"""
HEADER = "record_id,start_time,quantity,account,destination,service,unit\n"
CALLS = HEADER + (
    "a1,2026-07-03T10:00:00+08:00,7407,ACME,+60312345678,voice,s\n"
    "a2,2026-07-04T10:00:00+08:00,95,ACME,+6561234567,voice,s\n"
    "a3,2026-07-04T11:00:00+08:00,1,ACME,+60123456789,sms,msg\n"
    "b1,2026-07-05T10:00:00+08:00,30,BETA,+60312345678,voice,s\n"
    "g1,2026-07-05T10:00:00+08:00,6000,GAMMA,+60312345678,voice,s\n"
    "g2,2026-08-05T10:00:00+08:00,60,GAMMA,+60312345678,voice,s\n"
)


@pytest.fixture
def billed(my_engine: Engine, tmp_path: Path) -> Engine:
    """July and August closed: ACME (tax, a plan), BETA carried then invoiced, GAMMA."""
    import_rate_table(my_engine, write(tmp_path / "flat.yaml", TABLE))
    customers = "".join(f"{a},{a.title()} Sdn Bhd,flat,\n" for a in ("ACME", "BETA", "GAMMA"))
    import_customers(
        my_engine, write(tmp_path / "c.csv", "account,name,rate_table,numbers\n" + customers)
    )
    set_tax(my_engine, "*", rate="8", treatment=Treatment.STANDARD, label="SST")
    set_tax(my_engine, "sms", rate=None, treatment=Treatment.EXEMPT, label="SST")
    spec = SubscriptionSpec(
        reference="P-1",
        account="BETA",
        plan="Hosted PBX",
        fee=20_000_000,
        interval=Interval.MONTHLY,
        billing=Billing.ARREARS,
        starts_on=date(2026, 8, 10),
        ends_on=None,
    )
    add_subscription(my_engine, spec)
    import_feed(my_engine, write(tmp_path / "calls.csv", CALLS), format_name="generic")
    close_cycle(my_engine, "2026-07")
    close_cycle(my_engine, "2026-08")
    return my_engine


def test_every_json_export_validates_and_is_the_issued_document(
    billed: Engine, tmp_path: Path
) -> None:
    written = export_invoices(billed, tmp_path / "out", fmt="json")
    _, issued = list_invoices(billed)
    # July: ACME and GAMMA (10.00); BETA's 0.05 is carried. August: BETA (0.05 brought
    # forward + 20.00 x 22/31 days); GAMMA's 0.10 + tax is under the floor and carried.
    assert len(written) == len(issued) == 3
    validator = jsonschema.Draft202012Validator(
        SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    for item, row in zip(written, issued, strict=True):
        text = item.path.read_text(encoding="utf-8")
        assert text == row.document
        validator.validate(json.loads(text))
    beta = json.loads(issued[2].document)
    # 20.00 x 22 / 31 = 14.19354.. -> 14.1935 (4 places, half-up); 0.05 carried from July;
    # net 14.2435 -> 14.24, billed as 14.19 and 0.05 (0.0035 carried)
    assert beta["totals"]["net"] == "14.24"
    assert beta["totals"]["rounding_carried"] == "0.0035"
    assert [(x["kind"], x["amount"]) for x in beta["lines"]] == [
        ("recurring", "14.19"),
        ("brought_forward", "0.05"),
    ]
    again = export_invoices(billed, tmp_path / "again", fmt="json")
    assert [p.path.read_bytes() for p in again] == [p.path.read_bytes() for p in written]


def test_the_schema_refuses_a_broken_document(billed: Engine, tmp_path: Path) -> None:
    written = export_invoices(billed, tmp_path / "out", fmt="json", number=1)
    doc = json.loads(written[0].path.read_text())
    doc["totals"]["total"] = 12.5  # a float where an exact decimal string belongs
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, SCHEMA)


NS = {
    "inv": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}


def _text(root: ET.Element, path: str) -> str:
    found = root.find(path, NS)
    assert found is not None, path
    return found.text or ""


def test_ubl_has_the_mandatory_structure_and_adds_up(billed: Engine, tmp_path: Path) -> None:
    written = export_invoices(billed, tmp_path / "ubl", fmt="ubl", number=1)
    root = ET.parse(written[0].path).getroot()
    assert root.tag == f"{{{NS['inv']}}}Invoice"
    # UBL 2.1 order of the header elements this document uses
    header = [child.tag.split("}")[1] for child in root]
    expected_order = [
        "UBLVersionID",
        "CustomizationID",
        "ID",
        "IssueDate",
        "InvoiceTypeCode",
        "Note",
        "DocumentCurrencyCode",
        "InvoicePeriod",
        "AccountingSupplierParty",
        "AccountingCustomerParty",
        "TaxTotal",
        "LegalMonetaryTotal",
    ]
    assert header[: len(expected_order)] == expected_order
    assert set(header[len(expected_order) :]) == {"InvoiceLine"}
    assert _text(root, "cbc:UBLVersionID") == "2.1"
    assert _text(root, "cbc:ID") == "MY1-000001"
    assert _text(root, "cbc:DocumentCurrencyCode") == "MYR"
    assert _text(root, "cac:InvoicePeriod/cbc:EndDate") == "2026-07-31"
    supplier = "cac:AccountingSupplierParty/cac:Party/cac:PartyLegalEntity/cbc:RegistrationName"
    assert _text(root, supplier) == "Test Telco Sdn Bhd"
    customer = "cac:AccountingCustomerParty/cac:Party/cac:PartyIdentification/cbc:ID"
    assert _text(root, customer) == "ACME"
    lines = root.findall("cac:InvoiceLine", NS)
    line_sum = sum(Decimal(_text(line, "cbc:LineExtensionAmount")) for line in lines)
    legal = "cac:LegalMonetaryTotal/cbc:"
    assert line_sum == Decimal(_text(root, legal + "LineExtensionAmount"))
    # ACME July: 7407 s to +60 = 12.345; 95 s to +65 in 6 s steps = 96 s at 0.25/min = 0.40;
    # 1 SMS 0.05 (exempt). Net 12.795 -> 12.80 (half-up): the lines taken down to the sen
    # (12.34, 0.40, 0.05) and the missing sen to the +60 line, which lost 0.005: 12.35.
    # SST 8% on 12.75 = 1.02. Payable 12.80 + 1.02 = 13.82; the -0.005 is carried
    assert sorted(Decimal(_text(line, "cbc:LineExtensionAmount")) for line in lines) == [
        Decimal("0.05"),
        Decimal("0.40"),
        Decimal("12.35"),
    ]
    assert line_sum == Decimal("12.80")
    assert _text(root, "cac:TaxTotal/cbc:TaxAmount") == "1.02"
    assert _text(root, legal + "TaxInclusiveAmount") == "13.82"
    assert root.find("cac:LegalMonetaryTotal/cbc:PayableRoundingAmount", NS) is None
    assert _text(root, legal + "PayableAmount") == "13.82"
    for line in lines:
        amount = line.find("cbc:LineExtensionAmount", NS)
        assert amount is not None
        assert amount.get("currencyID") == "MYR"
        assert line.find("cac:Item/cbc:Name", NS) is not None
        assert line.find("cac:Item/cac:ClassifiedTaxCategory/cbc:ID", NS) is not None
    codes = [_text(x, "cac:Item/cac:ClassifiedTaxCategory/cbc:ID") for x in lines]
    assert sorted(codes) == ["E", "S", "S"]


class _Receiver:
    """An invoice generator's webhook on loopback: checks each signature, answers 500 to the
    first ``fail`` requests (after reading them, as a crashing receiver might), then 200;
    keeps one invoice per idempotency key."""

    def __init__(self, secret: bytes, fail: int) -> None:
        self.secret = secret
        self.fail = fail
        self.requests: list[dict[str, Any]] = []
        self.kept: dict[str, bytes] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stamp = self.headers["Ratebook-Timestamp"]
                expected = hmac.new(
                    receiver.secret, f"{stamp}.".encode() + body, hashlib.sha256
                ).hexdigest()
                signed = hmac.compare_digest(self.headers["Ratebook-Signature"], f"v1={expected}")
                fresh = abs(time.time() - int(stamp)) < 300
                key = self.headers["Idempotency-Key"]
                receiver.requests.append({"key": key, "signed": signed})
                if not (signed and fresh):
                    self.send_response(401)
                elif len(receiver.requests) <= receiver.fail:
                    self.send_response(500)
                else:
                    receiver.kept.setdefault(key, body)
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/invoices"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    hook = _Receiver(b"s3cret", fail=2)
    hook.thread.start()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


def test_the_webhook_is_signed_retried_and_received_once(
    billed: Engine, receiver: _Receiver
) -> None:
    delays: list[float] = []
    told: list[tuple[int, int]] = []
    result = deliver_invoices(
        billed,
        receiver.url,
        b"s3cret",
        base_delay=0.05,
        sleep=delays.append,
        progress=lambda done, total: told.append((done, total)),
    )
    assert (result.delivered, result.failed, result.already) == (3, 0, 0)
    assert delays == [0.05, 0.1]  # two 500s on the first invoice, doubling back-off
    assert (result.retries, result.last_error) == (2, "HTTP 500")
    assert told == [(0, 3), (1, 3), (2, 3)]
    assert all(r["signed"] for r in receiver.requests)
    _, issued = list_invoices(billed)
    assert sorted(receiver.kept) == sorted(f"MY1-{i.number:06d}" for i in issued)
    assert {receiver.kept[f"MY1-{i.number:06d}"].decode() for i in issued} == {
        i.document for i in issued
    }
    first_key = receiver.requests[0]["key"]
    assert [r["key"] for r in receiver.requests[:3]] == [first_key] * 3
    with billed.connect() as conn:
        entity = get_entity(conn, None)
        log = invoice_store.deliveries(conn, issued[0].id)
    assert entity.code == "MY1"
    assert [(d["attempt"], d["status_code"], d["outcome"]) for d in log] == [
        (1, 500, "failed"),
        (2, 500, "failed"),
        (3, 200, "delivered"),
    ]
    # a second run sends nothing: every invoice is delivered to this URL already
    again = deliver_invoices(billed, receiver.url, b"s3cret", sleep=delays.append)
    assert (again.delivered, again.already) == (0, 3)
    assert len(receiver.requests) == 5


def test_a_wrong_secret_fails_after_its_attempts(billed: Engine, receiver: _Receiver) -> None:
    result = deliver_invoices(
        billed, receiver.url, b"wrong", period="2026-08", attempts=2, sleep=lambda _: None
    )
    assert (result.delivered, result.failed) == (0, 1)
    assert len(receiver.requests) == 2
    assert receiver.kept == {}


def test_an_unreachable_url_fails_each_attempt_within_its_timeout(billed: Engine) -> None:
    # a port nothing listens on: each attempt fails at once, and the run says why
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = deliver_invoices(
        billed,
        f"http://127.0.0.1:{port}/hook",
        b"s3cret",
        period="2026-08",
        attempts=3,
        timeout=1.0,
        sleep=lambda _: None,
    )
    assert (result.delivered, result.failed, result.retries) == (0, 1, 2)
    assert result.last_error is not None
    assert result.last_error.startswith("ConnectError")
