"""An invoice's hand-off document as UBL 2.1 Invoice XML.

Built from the JSON document (``docs/invoice.schema.json``), so the two never disagree: its
lines, net, tax and total are the document's, all in whole minor units, so the payable
amount is the tax-inclusive one (what the net's rounding left is carried to the next
invoice, a line of its own there).
"""

from __future__ import annotations

import calendar
import xml.etree.ElementTree as ET
from typing import Any

from ratebook.model.ledger import Period

NS = {
    "": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}

#: UN/ECE Recommendation 20 unit codes for the record units.
UNIT_CODES = {"s": "SEC", "B": "AD", "kWh": "KWH", "m3": "MTQ"}

#: UNCL 5305 tax category codes.
TAX_CODES = {"standard": "S", "zero": "Z", "exempt": "E", "none": "O"}


def _cbc(parent: ET.Element, name: str, text: str, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{NS['cbc']}}}{name}", attrs)
    element.text = text
    return element


def _cac(parent: ET.Element, name: str) -> ET.Element:
    return ET.SubElement(parent, f"{{{NS['cac']}}}{name}")


def _party(parent: ET.Element, role: str, ident: str, name: str) -> None:
    party = _cac(_cac(parent, role), "Party")
    _cbc(_cac(party, "PartyIdentification"), "ID", ident)
    _cbc(_cac(party, "PartyName"), "Name", name)
    _cbc(_cac(party, "PartyLegalEntity"), "RegistrationName", name)


def _tax_category(parent: ET.Element, name: str, treatment: str, rate: str) -> None:
    category = _cac(parent, name)
    _cbc(category, "ID", TAX_CODES[treatment])
    _cbc(category, "Percent", rate)
    _cbc(_cac(category, "TaxScheme"), "ID", "VAT")


def ubl_invoice(doc: dict[str, Any]) -> bytes:
    """The UBL 2.1 Invoice XML (UTF-8 bytes) of a hand-off document.

    One function: it builds one document, element after element."""
    for prefix, uri in NS.items():
        ET.register_namespace(prefix, uri)
    head = doc["invoice"]
    currency = head["currency"]
    money = {"currencyID": currency}
    root = ET.Element(f"{{{NS['']}}}Invoice")
    _cbc(root, "UBLVersionID", "2.1")
    _cbc(root, "CustomizationID", "urn:ratebook:invoice:1")
    _cbc(root, "ID", head["id"])
    _cbc(root, "IssueDate", head["issued_at"][:10])
    _cbc(root, "InvoiceTypeCode", "380")
    _cbc(root, "Note", f"Billing period {head['period']}")
    _cbc(root, "DocumentCurrencyCode", currency)
    month = Period.of(head["period"])
    period = _cac(root, "InvoicePeriod")
    _cbc(period, "StartDate", f"{head['period']}-01")
    _cbc(
        period, "EndDate", f"{head['period']}-{calendar.monthrange(month.year, month.month)[1]:02d}"
    )
    _cbc(period, "Description", head["period"])
    _party(root, "AccountingSupplierParty", doc["seller"]["entity"], doc["seller"]["name"])
    _party(root, "AccountingCustomerParty", doc["customer"]["account"], doc["customer"]["name"])
    totals = doc["totals"]
    tax_total = _cac(root, "TaxTotal")
    _cbc(tax_total, "TaxAmount", totals["tax"], **money)
    for tax in doc["tax"]:
        sub = _cac(tax_total, "TaxSubtotal")
        _cbc(sub, "TaxableAmount", tax["base"], **money)
        _cbc(sub, "TaxAmount", tax["amount"], **money)
        _tax_category(sub, "TaxCategory", tax["treatment"], tax["rate"])
    legal = _cac(root, "LegalMonetaryTotal")
    _cbc(legal, "LineExtensionAmount", totals["net"], **money)
    _cbc(legal, "TaxExclusiveAmount", totals["net"], **money)
    _cbc(legal, "TaxInclusiveAmount", totals["total"], **money)
    _cbc(legal, "PayableAmount", totals["total"], **money)
    for line in doc["lines"]:
        item_line = _cac(root, "InvoiceLine")
        _cbc(item_line, "ID", str(line["line"]))
        if "quantity" in line:
            _cbc(
                item_line,
                "InvoicedQuantity",
                line["quantity"],
                unitCode=UNIT_CODES.get(line["unit"], "C62"),
            )
        _cbc(item_line, "LineExtensionAmount", line["amount"], **money)
        item = _cac(item_line, "Item")
        _cbc(item, "Description", line["description"])
        _cbc(item, "Name", line["kind"].replace("_", " "))
        _tax_category(item, "ClassifiedTaxCategory", line["tax"]["treatment"], line["tax"]["rate"])
        if "unit_price" in line:
            price = _cac(item_line, "Price")
            _cbc(price, "PriceAmount", line["unit_price"], **money)
            _cbc(price, "BaseQuantity", line["per"], unitCode=UNIT_CODES.get(line["unit"], "C62"))
    ET.indent(root)
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml
