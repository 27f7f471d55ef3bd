"""Issuing the invoices of a cycle close: each invoice's document (frozen by its SHA-256),
row and lines, sealed in its audit entry; then the audit entries in issue order, and the links
from the charges and billed intervals to the lines that bill them, sealed in the close's batch.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import polars as pl
from sqlalchemy import Connection

from ratebook.billing.close import CustomerClose, Policy, usage_keys
from ratebook.billing.compose import canonical_json, document
from ratebook.model.parties import Entity
from ratebook.store import audit, billing, invoices
from ratebook.store.seals import Seal


def invoice_id_text(entity_code: str, number: int) -> str:
    """The printed invoice number: entity code and a zero-padded sequence."""
    return f"{entity_code}-{number:06d}"


class Invoicing:
    """The invoices of one close (inside its transaction)."""

    def __init__(
        self, conn: Connection, entity: Entity, period: str, now: datetime, policy: Policy
    ) -> None:
        self.conn, self.entity, self.period, self.now, self.policy = (
            conn,
            entity,
            period,
            now,
            policy,
        )
        self.charge_links: list[dict[str, int]] = []
        self.sub_links: list[dict[str, int]] = []
        self.issued: list[audit.Change] = []  # the audit log's entries, in issue order

    def issue(
        self,
        fact: dict[str, object],
        closed: CustomerClose,
        number: int,
        charges: dict[str, pl.DataFrame | None],
    ) -> int:
        """Write the invoice of a customer's close, and note what it bills; its id.

        Args:
            fact: the customer's account and name.
            closed: its close.
            number: the invoice's number.
            charges: by kind (``usage``, ``late_usage``, ``brought_forward``), the charges
                its lines bill (None where it has none).

        One function: the document, its rows and its links are one invoice's writes."""
        reason = closed.decision.reason or "floor"
        composed = closed.composed
        doc = document(
            number=number,
            display_number=invoice_id_text(self.entity.code, number),
            period=self.period,
            issued_at=self.now,
            reason=reason,
            seller={"entity": self.entity.code, "name": self.entity.name},
            customer={"account": str(fact["account"]), "name": str(fact["name"])},
            currency=self.entity.currency,
            minor_places=self.policy.minor_places,
            composed=composed,
            rates=self.policy.rates,
        )
        text = canonical_json(doc)
        digest = hashlib.sha256(text.encode()).hexdigest()
        totals = composed.totals
        values = {
            "entity_id": self.entity.id,
            "number": number,
            "customer_id": closed.customer_id,
            "period": self.period,
            "issued_at": self.now,
            "currency": self.entity.currency,
            "net": totals.net,
            "tax": totals.tax,
            "total": totals.total,
            "rounding": totals.rounding,
            "reason": reason,
            "document": text,
            "document_sha256": digest,
        }
        sealed = Seal()
        invoice_id, line_ids = invoices.add_invoice(
            self.conn, values, invoices.line_rows(composed.lines, self.policy.rates), seal=sealed
        )
        self.issued.append(
            audit.Change(
                entity_id=self.entity.id,
                action="invoice.issue",
                object_type="invoice",
                object_id=number,
                after={
                    "period": self.period,
                    "customer_id": closed.customer_id,
                    "total": totals.total,
                    "reason": reason,
                    "document_sha256": digest,
                    "sealed": sealed.summary(),
                },
            )
        )
        by_key = {line.key: line_id for line, line_id in zip(composed.lines, line_ids, strict=True)}
        for kind in ("usage", "late_usage"):
            frame = charges[kind]
            if frame is not None:
                for charge_id, *grouped in frame.select("charge_id", *usage_keys(kind)).iter_rows():
                    self._link(charge_id, by_key[(kind, *grouped)])
        carried = charges["brought_forward"]
        if carried is not None:
            for charge_id, service in carried.select("charge_id", "service").iter_rows():
                line_id = by_key.get(("brought_forward", service))
                if line_id is not None:
                    self._link(charge_id, line_id)
        for key, line_id in by_key.items():
            if key and key[0] == "recurring":
                self.sub_links.append({"sc_id": int(key[1]), "line_id": line_id})
        return invoice_id

    def _link(self, charge_id: int, line_id: int) -> None:
        self.charge_links.append({"charge_id": int(charge_id), "line_id": line_id})

    def write_audit(self) -> None:
        """Append every issued invoice's audit entry, in issue order."""
        now = datetime.now(UTC)
        audit.record_all(self.conn, self.issued, at=now)

    def write_links(self, seal: Seal) -> None:
        """Link the billed charges and intervals to their lines (sealed in ``seal``, the
        close's batch, in charge order)."""
        self.charge_links.sort(key=lambda link: link["charge_id"])
        seal.add_rows(
            "links",
            [
                {"charge_id": x["charge_id"], "invoice_line_id": x["line_id"]}
                for x in self.charge_links
            ],
        )
        billing.link_charges(self.conn, self.charge_links)
        billing.link_subscription_charges(self.conn, self.sub_links)
